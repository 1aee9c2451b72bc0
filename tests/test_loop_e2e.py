"""The whole product end to end on real audio devices: `voiceskill run` as a user starts it,
PulseAudio null sinks as microphone and speaker, a rendered spoken question played into the
microphone, the spoken answer captured from the speaker and recognized back with Vosk."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audio_fixtures import render_questions
from conftest import REPO, require
from evalsets import topics
from pulse import pulse_null_sinks
from voiceskill.models import resolve_model_dir
from voiceskill.recognizer import SpeechModel
from voiceskill.settings import RecognizerConfig
from voiceskill.errors import ModelError


def _model_dir() -> Path:
    try:
        return resolve_model_dir()
    except ModelError:
        require(False, "the Vosk model (scripts/fetch-model.sh)")
        raise


def _recognize(model_dir: Path, pcm: bytes) -> str:
    with SpeechModel(model_dir) as model, model.recognizer(RecognizerConfig(grammar=False)) as rec:
        parts = []
        for i in range(0, len(pcm), 8000):
            final = rec.accept(pcm[i:i + 8000])
            if final is not None:
                parts.append(final.text)
        parts.append(rec.finish().text)
    return " ".join(p for p in parts if p)


def _wait_for(stream_path: Path, pattern: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if re.search(pattern, stream_path.read_text(errors="replace")):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("trigger,question,topic,heard", [
    ("terminal", "how much water should I drink each day", "water", r"sixty|ounces|water"),
    ("terminal", "why do my glutes keep cramping", "causes", r"training|blood|nerve|cramps? can"),
    ("wake", "hey coach, how much water should I drink each day", "water", r"sixty|ounces|water"),
])
def test_spoken_question_is_answered_aloud(tmp_path: Path, trigger: str, question: str, topic: str,
                                           heard: str) -> None:
    model_dir = _model_dir()
    require(subprocess.run(["which", "espeak-ng"], capture_output=True).returncode == 0, "espeak-ng")
    tsv = tmp_path / "question.tsv"
    tsv.write_text(f"{topic}\t{question}\n")
    wav = render_questions(tsv, voices=["espeak-us"], snrs=())[0]
    with pulse_null_sinks() as pa:
        master, slave = pty.openpty()
        log = tmp_path / "stderr.txt"
        env = {**os.environ, **pa.env, "VOICESKILL_MODEL": str(model_dir)}
        config = tmp_path / "config.toml"
        config.write_text("# empty: defaults only, whatever the user's own config says\n")
        with pa.start_recording() as recording, open(log, "w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "voiceskill", "run", "--config", str(config), "--trigger", trigger,
                 "--max-turns", "1",
                 "--input-device", pa.device, "--output-device", pa.device],
                stdin=slave, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO, env=env)
            os.close(slave)
            try:
                assert _wait_for(log, r"ready in \d+ ms", 60), log.read_text()
                if trigger == "terminal":
                    os.write(master, b"\n")                    # tap Enter: start listening
                    time.sleep(0.4)                            # the start earcon
                else:
                    time.sleep(1.0)                            # the wake spotter hears the room first
                pa.play_into_mic(wav.path)                     # the question, then silence ends it
                assert proc.wait(timeout=60) == 0, log.read_text()
            finally:
                if proc.poll() is None:
                    proc.kill()
                os.close(master)
            time.sleep(0.3)
            captured = recording.stop()
    text = log.read_text()
    assert re.search(rf"turn trigger=\S+ transcript=.* intent={topic}\b", text), text
    spoken = _recognize(model_dir, captured)
    assert re.search(heard, spoken), (spoken, text)
    assert re.search(topics()[topic], spoken.replace("sixty four", "64")), spoken
