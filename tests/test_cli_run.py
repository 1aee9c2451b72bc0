"""`voiceskill run` refuses bad set-ups with one line that names the fix (never a traceback)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import REPO, require
from voiceskill.errors import ModelError
from voiceskill.models import resolve_model_dir


def run(*args: str, env: dict[str, str] | None = None, wrapper: tuple[str, ...] = (),
        config_text: str = "") -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text(config_text)
        os.chmod(tmp, 0o755)
        os.chmod(config, 0o644)
        return subprocess.run([*wrapper, sys.executable, "-m", "voiceskill", "run", "--config", str(config),
                               *args], capture_output=True, text=True, cwd=REPO, timeout=120,
                              stdin=subprocess.DEVNULL, env={**os.environ, "HOME": tmp, **(env or {})})


def one_line_error(out: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("voiceskill: error:")]
    assert len(errors) == 1, out.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def model_env() -> dict[str, str]:
    try:
        return {"VOICESKILL_MODEL": str(resolve_model_dir())}
    except ModelError:
        require(False, "the Vosk model (scripts/fetch-model.sh)")
        raise


def test_bad_config_names_key_and_line() -> None:
    out = run(config_text="[speaker]\nrate_wpm = 170\nvolume = 'loud'\n")
    one_line_error(out, "line 3", "volume")


def test_unknown_config_key_names_line() -> None:
    out = run(config_text="[trigger]\nkind = \"terminal\"\n\n[recognizer]\nbeem = 3\n")
    one_line_error(out, "line 5", "beem")


def test_missing_model_says_how_to_get_one(tmp_path: Path) -> None:
    out = run(env={"VOICESKILL_MODEL": str(tmp_path / "no-model-here")})
    one_line_error(out, "voiceskill model")


def test_truncated_model_names_the_file_and_fix(tmp_path: Path) -> None:
    source = Path(model_env()["VOICESKILL_MODEL"])
    broken = tmp_path / "model"
    for f in source.rglob("*"):
        if f.is_file():
            target = broken / f.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = f.read_bytes()
            target.write_bytes(data[: len(data) // 3] if f.name == "final.mdl" else data)
    out = run(env={"VOICESKILL_MODEL": str(broken)})
    line = one_line_error(out, "voiceskill model")
    # with an install manifest the size check names the file; without one, loading fails
    assert "final.mdl" in line or "corrupt" in line, line


def test_missing_input_device_names_devices_command() -> None:
    out = run("--input-device", "no-such-microphone-xyz", env=model_env())
    one_line_error(out, "no-such-microphone-xyz", "voiceskill devices")


def test_missing_output_device_names_devices_command() -> None:
    out = run("--output-device", "no-such-speaker-xyz", env=model_env())
    one_line_error(out, "no-such-speaker-xyz", "voiceskill devices")


def test_unreadable_push_to_talk_device_names_input_group(tmp_path: Path) -> None:
    device = tmp_path / "event7"
    device.write_bytes(b"")
    device.chmod(0o000)                            # like /dev/input/eventN for a user not in 'input'
    # root reads anything: drop the capabilities that let it, so the open really fails
    wrapper = ("setpriv", "--bounding-set=-dac_override,-dac_read_search") if os.geteuid() == 0 else ()
    require(not wrapper or shutil.which("setpriv"), "setpriv (util-linux)")
    out = run("--trigger", "evdev", env={**model_env(), "VOICESKILL_TRIGGER_EVDEV_DEVICE": str(device)},
              wrapper=wrapper)
    one_line_error(out, str(device), "input")
