"""Real spoken test questions, rendered once with the shared offline voices and cached.

:func:`render_questions` runs ``shared/eval/render_audio.py`` on a questions TSV into a cache
directory outside the repo (``${XDG_CACHE_HOME:-~/.cache}/voiceskill/test-audio/<hash>``), keyed by
the script, the TSV, the voices and the SNRs, so a second run reuses the files. render_audio.py
gives question *i* the voice ``voices[i % len(voices)]``; to hear every question in several voices
it is run once per rotation of the voice list (rotation *r* gives question *i* the voice
``voices[(i + r) % len(voices)]``).

Pytest fixtures for other test files: ``dev_audio`` (the dev questions, 3 voices each, clean and at
10 and 5 dB) and ``topics`` (topic -> answer regex). Import them into a test module with
``from audio_fixtures import dev_audio, topics``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import SHARED, require
from evalsets import FALLBACK, answer_ok, load_topics  # noqa: F401 (re-exported for tests and benchmarks)

EVAL = SHARED / "eval"
RENDER = EVAL / "render_audio.py"
QUESTIONS = EVAL / "questions.tsv"
TOPICS = EVAL / "topics.tsv"
ALL_VOICES = ("espeak-us", "espeak-us-f", "espeak-gb-m", "flite-slt", "flite-awb", "flite-rms",
              "flite-kal", "festival-slt", "festival-kal")


@dataclass(frozen=True)
class AudioRow:
    """One rendered file: ``snr`` is "clean" or the SNR in dB as rendered ("10", "5", ...)."""

    path: Path
    topic: str
    question: str
    voice: str
    snr: str


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voiceskill" / "test-audio"


def tools_missing() -> list[str]:
    """The rendering tools this machine lacks (render_audio.py needs sox and at least espeak-ng)."""
    return [t for t in ("sox", "espeak-ng", "flite", "text2wave") if shutil.which(t) is None]


def _render_one(questions: Path, outdir: Path, voices: Sequence[str], snrs: Sequence[str],
                noise: str = "gym") -> None:
    cmd = [sys.executable, str(RENDER), str(questions), str(outdir), "--snr", ",".join(snrs),
           "--voices", ",".join(voices), "--noise", noise]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"render_audio.py failed: {done.stderr.strip()[-500:]}")


def _read_index(outdir: Path) -> list[AudioRow]:
    rows = []
    for line in (outdir / "index.tsv").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, topic, question, voice, snr = line.split("\t")
        rows.append(AudioRow(outdir / name, topic, question, voice, snr))
    return rows


def render_questions(questions: Path = QUESTIONS, *, voices: Sequence[str] = ALL_VOICES,
                     rotations: int = 1, snrs: Sequence[str] = ("10", "5"),
                     noise: str = "gym") -> list[AudioRow]:
    """Render ``questions`` ``rotations`` times (each question in that many voices), clean plus
    each SNR in ``noise`` ("gym": chatter, beat and pink noise; "music": a gym's music and floor,
    no talk); cached. Returns the index rows of all renderings."""
    key = hashlib.sha256()
    # the key of gym renderings is what it was before the noise choice existed (caches stay valid)
    for part in (RENDER.read_bytes(), questions.read_bytes(), ",".join(voices).encode(),
                 ",".join(snrs).encode(), str(rotations).encode(), *([noise.encode()] if noise != "gym" else [])):
        key.update(part)
        key.update(b"\0")
    target = cache_root() / key.hexdigest()[:16]
    if not (target / "done").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".render-", dir=target.parent))
        try:
            for r in range(rotations):
                # rotate the voice list so question i gets voices[(i + r) % n]
                rotated = list(voices[r % len(voices):]) + list(voices[:r % len(voices)])
                _render_one(questions, tmp / f"rot{r}", rotated, snrs, noise)
            (tmp / "done").write_text("ok\n")
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    rows: list[AudioRow] = []
    for r in range(rotations):
        rows.extend(_read_index(target / f"rot{r}"))
    return rows


@pytest.fixture(scope="session")
def dev_audio() -> list[AudioRow]:
    """The dev questions, each in 3 voices, clean and at 10 and 5 dB SNR."""
    require(QUESTIONS.exists(), f"the shared eval set at {EVAL}")
    missing = tools_missing()
    require(not missing, f"{', '.join(missing)} (apt-get install sox espeak-ng flite festival "
                         "festvox-kallpc16k festvox-us-slt-hts)")
    return render_questions(rotations=3, snrs=("10", "5"))


@pytest.fixture(scope="session")
def topics() -> dict[str, re.Pattern[str] | None]:
    require(TOPICS.exists(), f"the shared eval topics at {TOPICS}")
    return load_topics()


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edit distance, reference length): sum both over a set for its word error rate."""
    ref, hyp = reference.split(), hypothesis.split()
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        diag, row[0] = row[0], i
        for j in range(1, len(hyp) + 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (ref[i - 1] != hyp[j - 1]))
    return row[len(hyp)], len(ref)
