"""Issue 10 rows 4, 13, 14, 16, 20 through the real CLI: every place `voiceskill run` writes is
checked at start-up with one line, files are replaced whole or not at all, and a signal during
start-up stops it cleanly without leaving temporaries."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, require
from test_cli_run import model_env, one_line_error

ROOT = os.geteuid() == 0
# root writes anywhere: drop the capabilities that let it, so a read-only folder really is one
NO_OVERRIDE = ("setpriv", "--bounding-set=-dac_override,-dac_read_search") if ROOT else ()


def voiceskill(*args: str, tmp_path: Path, env: dict[str, str] | None = None, wrapper: tuple[str, ...] = (),
               timeout: float = 120, preexec: object = None, isolate: bool = True
               ) -> subprocess.CompletedProcess[str]:
    """``python -m voiceskill ARGS``; ``isolate``: a HOME and cache of its own (without it the
    user's PulseAudio and speech cache are used)."""
    require(not wrapper or shutil.which(wrapper[0]), "setpriv (util-linux)")
    config = tmp_path / "config.toml"
    if not config.exists():
        config.write_text("# defaults only\n")
    base = dict(os.environ)
    if isolate:
        base.update({"HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
                     "XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    return subprocess.run([*wrapper, sys.executable, "-m", "voiceskill", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout, stdin=subprocess.DEVNULL, env={**base, **(env or {})},
                          preexec_fn=preexec)  # type: ignore[arg-type]


def read_only_dir(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    folder.chmod(0o555)
    return folder


# --- row 4: the record dir ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["file", "read_only"])
def test_unwritable_record_dir_is_refused_at_start_up(tmp_path: Path, kind: str) -> None:
    if kind == "file":
        target = tmp_path / "rec.txt"
        target.write_text("not a folder")
    else:
        target = read_only_dir(tmp_path, "rec")
    started = time.monotonic()
    out = voiceskill("run", "--config", str(tmp_path / "config.toml"), "--record-dir", str(target),
                     "--speak-to", str(tmp_path / "x.wav"), tmp_path=tmp_path, wrapper=NO_OVERRIDE,
                     env={"VOICESKILL_MODEL": str(tmp_path / "no-model")})  # checked before the model
    line = one_line_error(out, "record dir", str(target))
    assert ("not a folder" in line) if kind == "file" else ("not writable" in line)
    assert "ready" not in out.stderr and time.monotonic() - started < 30


# --- row 20: the speech cache ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["file", "read_only"])
def test_unwritable_cache_dir_is_refused_at_start_up(tmp_path: Path, kind: str) -> None:
    if kind == "file":
        cache = tmp_path / "cache.txt"
        cache.write_text("not a folder")
    else:
        cache = read_only_dir(tmp_path, "cache-ro")
    started = time.monotonic()
    out = voiceskill("run", "--config", str(tmp_path / "config.toml"), "--speak-to", str(tmp_path / "x.wav"),
                     tmp_path=tmp_path, wrapper=NO_OVERRIDE,
                     env={**model_env(), "VOICESKILL_SPEAKER_CACHE_DIR": str(cache)})
    line = one_line_error(out, "speech cache", str(cache), "speaker.cache_dir")
    assert "synthesis" not in line and "eSpeak" not in line  # before: "speech synthesis hung" after 22 s
    assert time.monotonic() - started < 15


# --- row 14: --speak-to ---------------------------------------------------------------------------

def test_speak_to_never_overwrites_a_file_that_is_not_a_wav(tmp_path: Path) -> None:
    victim = tmp_path / "v.txt"
    victim.write_text("data\n")
    out = voiceskill("run", "--config", str(tmp_path / "config.toml"), "--speak-to", str(victim),
                     tmp_path=tmp_path, env=model_env())
    one_line_error(out, str(victim), "not a WAV", "--speak-to")
    assert victim.read_text() == "data\n"
    out = voiceskill("run", "--config", str(tmp_path / "config.toml"), "--speak-to", str(tmp_path),
                     tmp_path=tmp_path, env=model_env())
    one_line_error(out, "folder", "--speak-to")


def test_nothing_said_leaves_the_speak_to_file_untouched(tmp_path: Path) -> None:
    from pulse import pulse_null_sinks

    with pulse_null_sinks() as pa:
        for name, before in [("new.wav", None), ("old.wav", b"RIFF\x24\0\0\0WAVEold answers")]:
            target = tmp_path / name
            if before is not None:
                target.write_bytes(before)
            # stdin at end of file: the terminal trigger ends the run before any question
            out = voiceskill("run", "--config", str(tmp_path / "config.toml"), "--speak-to", str(target),
                             "--input-device", pa.device, "--no-earcons", tmp_path=tmp_path,
                             env={**model_env(), **pa.env}, isolate=False)
            assert out.returncode == 0 and "ready in" in out.stderr, out.stderr
            if before is None:
                assert not target.exists(), out.stderr  # before the fix: a 44-byte header was written
            else:
                assert target.read_bytes() == before, out.stderr
            assert [p.name for p in tmp_path.glob(f".{name}*")] == []


# --- row 13: config init on a full disk -----------------------------------------------------------

def _disk_full_after(limit: int) -> object:
    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limit_file_size


def test_config_init_force_on_a_full_disk_keeps_the_old_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    settings = '[speaker]\nrate_wpm = 150\n[trigger]\nkind = "evdev"\n'
    config.write_text(settings)
    out = voiceskill("config", "init", "--path", str(config), "--force", tmp_path=tmp_path,
                     preexec=_disk_full_after(1000))  # the template is several KB
    one_line_error(out, str(config))
    assert config.read_text() == settings  # before the fix: a cut-off template that parses as defaults
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]
    out = voiceskill("config", "init", "--path", str(config), "--force", tmp_path=tmp_path)
    assert out.returncode == 0 and "[speaker]" in config.read_text() and "rate_wpm = 150" not in config.read_text()


# --- row 16: a signal during start-up -------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_start_up_exits_cleanly_without_temporaries(tmp_path: Path, sig: signal.Signals) -> None:
    from pulse import pulse_null_sinks

    require(shutil.which("espeak-ng"), "espeak-ng")
    cache = tmp_path / "tts"
    cache.mkdir()
    dead = cache / f".{'ab' * 32}.{2 ** 22 + 7}.tmp.wav"  # left by a run killed with SIGKILL
    dead.write_bytes(b"RIFF")
    with pulse_null_sinks() as pa:
        err_path = tmp_path / "stderr.txt"
        with open(err_path, "w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "voiceskill", "run", "--config", str(tmp_path / "config.toml"),
                 "--speak-to", str(tmp_path / "out.wav"), "--input-device", pa.device],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO,
                env={**os.environ, **model_env(), **pa.env, "VOICESKILL_SPEAKER_CACHE_DIR": str(cache)})
        (tmp_path / "config.toml").write_text("# defaults only\n")
        try:
            deadline = time.monotonic() + 90
            # an answer is being synthesized (an empty cache: start-up renders every answer)
            while not list(cache.glob(f".*.{proc.pid}.tmp.wav")):
                assert proc.poll() is None and time.monotonic() < deadline, err_path.read_text()
                time.sleep(0.01)
            assert not dead.exists()  # the dead run's temporary went at start-up
            proc.send_signal(sig)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = err_path.read_text()
    assert code == 0, text  # before the fix: 143 (SIGTERM's default action), and a temporary left
    assert "Traceback" not in text and "stopped during start-up" in text
    time.sleep(0.5)  # a worker that outlived its parent would still be writing now
    assert list(cache.glob(".*tmp*")) == [], text
    assert not (tmp_path / "out.wav").exists()


# --- row 12: a microphone that cannot open -------------------------------------------------------

def test_press_without_a_microphone_gets_feedback_and_a_turn(tmp_path: Path) -> None:
    import pty
    import wave

    config = tmp_path / "config.toml"
    config.write_text("[loop]\nmax_question_ms = 2000\n")
    out_wav = tmp_path / "x.wav"
    err_path = tmp_path / "stderr.txt"
    master, slave = pty.openpty()
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "voiceskill", "run", "--config", str(config), "--speak-to", str(out_wav),
             "--max-turns", "1"], stdin=slave, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO,
            env={**os.environ, **model_env(), "PULSE_SERVER": "unix:/nonexistent"})
    os.close(slave)
    try:
        deadline = time.monotonic() + 90
        while "ready in" not in err_path.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, err_path.read_text()
            time.sleep(0.05)
        assert "microphone is not available yet" in err_path.read_text()  # said at start-up
        pressed = time.monotonic()
        os.write(master, b"\n")
        while "while the microphone is not available" not in err_path.read_text():
            assert time.monotonic() - pressed < 5, err_path.read_text()  # before: nothing for 20 s+
            time.sleep(0.02)
        assert proc.wait(timeout=30) == 0, err_path.read_text()  # the press got its turn
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = err_path.read_text()
    assert "Traceback" not in text and "turn trigger=terminal" in text, text
    with wave.open(str(out_wav)) as w:  # the low "error" tone, then "Sorry, I didn't catch that."
        assert w.getnframes() / w.getframerate() > 0.5


def test_a_press_while_the_microphone_reopens_is_kept() -> None:
    """The loop's side of row 12 (fakes): a press while the microphone is away gets the error
    tone, and the question is heard once the microphone is back, not lost."""
    from fakes import FakeEndpointer, FakeRecognizer, FakeSpeaker, FlakySource, ScriptedTrigger
    from voiceskill.dialog import Dialog
    from voiceskill.orchestrator import Orchestrator
    from voiceskill.settings import LoopConfig
    from voiceskill.router import Router

    source = FlakySource(200, down_reads=8)
    speaker = FakeSpeaker(source)
    turns: list[object] = []
    orch = Orchestrator(source=source, trigger=ScriptedTrigger(source, {3: "press", 30: "release"}),
                        recognizer=FakeRecognizer("why do my glutes keep cramping"),
                        endpointer=FakeEndpointer(), dialog=Dialog(Router.load()), speaker=speaker,
                        config=LoopConfig(earcons=True), on_turn=turns.append)
    orch.run(max_turns=1)
    assert speaker.earcons[0] == "error"
    assert len(turns) == 1 and turns[0].intent == "causes"  # type: ignore[attr-defined]
