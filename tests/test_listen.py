"""``voiceskill listen`` and ``voiceskill transcribe`` end to end: real rendered speech, the real
model and router, run as the user runs them (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voiceskill.grammar import grammar_vocabulary
from voiceskill.router import Router

from audio_fixtures import AudioRow, answer_ok, dev_audio, render_questions, tools_missing, topics  # noqa: F401
from conftest import REPO, require
from voiceskill.errors import ModelError

LISTEN_KEYS = {"input", "transcript", "intent", "answer", "confidence", "caught", "pass", "timings_ms"}


def voiceskill(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voiceskill", "-q", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def have_model() -> None:
    from voiceskill.models import resolve_model_dir

    try:
        resolve_model_dir()
    except ModelError as exc:
        require(False, f"the Vosk model ({exc})")


def json_lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def dev_replies(have_model: None, dev_audio: list[AudioRow]) -> list[tuple[AudioRow, dict[str, object]]]:
    """Every rendered dev question through one `voiceskill listen --json` batch."""
    done = voiceskill("listen", "--json", *(str(r.path) for r in dev_audio))
    assert done.returncode == 0, done.stderr
    replies = json_lines(done.stdout)
    assert [r["input"] for r in replies] == [str(r.path) for r in dev_audio]
    return list(zip(dev_audio, replies))


def share_right(pairs: list[tuple[AudioRow, dict[str, object]]], snr: str, topics: dict) -> tuple[float, list]:
    rows = [(row, rep) for row, rep in pairs if row.snr == snr]
    wrong = [(row.topic, rep["transcript"], rep["intent"]) for row, rep in rows
             if not answer_ok(row.topic, rep["intent"], str(rep["answer"]), topics)]
    return 1 - len(wrong) / len(rows), wrong


def test_listen_json_lines_have_the_documented_fields(dev_replies: list) -> None:
    for _, reply in dev_replies:
        assert set(reply) == LISTEN_KEYS
        assert set(reply["timings_ms"]) == {"read", "recognize", "route"}
        assert isinstance(reply["answer"], str)  # empty when the router hears "stop"
        assert reply["intent"] is None or isinstance(reply["intent"], str)
        assert 0.0 <= float(reply["confidence"]) <= 1.0
        assert reply["pass"] in ("plain", "denoised", "strong", "webrtc")
        assert isinstance(reply["caught"], bool)
        if not reply["caught"]:
            assert reply["intent"] is None and reply["answer"] == "Sorry, I didn't catch that."


def test_listen_answers_clean_questions(dev_replies: list, topics: dict) -> None:
    share, wrong = share_right(dev_replies, "clean", topics)
    assert share >= 0.9, wrong  # 9 voices: 98.1 % (benchmarks/recognizer_bench.py; target 97 %)


def test_listen_answers_most_questions_at_10_db(dev_replies: list, topics: dict) -> None:
    share, wrong = share_right(dev_replies, "10", topics)
    # independent files (no session): 57 of 81 (70.4 %) with [decision] split_min_confidence = 0.65,
    # 61 of 81 without that bar (benchmarks/recognizer_bench.py --sessions off for the full figures)
    assert share >= 0.62, wrong


def test_listening_in_several_passes_beats_one_plain_pass_in_noise(dev_replies: list, topics: dict) -> None:
    """The same noisy files with `--passes plain`: the default passes must do better, a wrong
    answer counting as two misses (a pass that alone decides answers whatever it heard)."""
    noisy = [(row, rep) for row, rep in dev_replies if row.snr in ("10", "5")]
    done = voiceskill("listen", "--json", "--passes", "plain", *(str(row.path) for row, _ in noisy))
    assert done.returncode == 0, done.stderr
    plain = json_lines(done.stdout)
    assert {p["pass"] for p in plain} == {"plain"}
    def tally(replies: list[dict[str, object]]) -> tuple[int, int]:
        """(right, wrong): wrong = an answer on another topic (or to an off-topic question)."""
        right = wrong = 0
        for (row, _), rep in zip(noisy, replies):
            ok = answer_ok(row.topic, rep["intent"], str(rep["answer"]), topics)
            right += ok
            wrong += not ok and rep["intent"] is not None
        return right, wrong

    multi, single = tally([rep for _, rep in noisy]), tally(plain)
    # a wrong answer counts as two misses: 89 right / 3 wrong against 85 / 3 on 162 files (files mode)
    assert multi[0] >= single[0] and multi[0] - 2 * multi[1] > single[0] - 2 * single[1], (multi, single)


def test_listen_batch_goes_on_past_bad_files(have_model: None, dev_audio: list[AudioRow],
                                             topics: dict, tmp_path: Path) -> None:
    good = [r for r in dev_audio if r.snr == "clean" and r.question in (
        "how much water should i drink each day", "can low magnesium give me cramps")][:2]
    junk = tmp_path / "notes.wav"
    junk.write_text("this is not audio\n")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.wav"
    files = [good[0].path, junk, empty, missing, good[1].path]
    done = voiceskill("listen", "--json", *map(str, files))
    assert done.returncode != 0
    lines = json_lines(done.stdout)
    assert [line["input"] for line in lines] == [str(f) for f in files]
    for line, row in ((lines[0], good[0]), (lines[4], good[1])):
        assert answer_ok(row.topic, line["intent"], str(line["answer"]), topics), line
    errors = [line for line in lines[1:4]]
    assert all(set(e) == {"input", "error"} for e in errors)
    stderr = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(stderr) == 3 and all(line.startswith("voiceskill: error: ") for line in stderr)
    for f, line in zip((junk, empty, missing), stderr):
        assert str(f) in line


def test_listen_plain_output_is_readable(have_model: None, dev_audio: list[AudioRow]) -> None:
    row = next(r for r in dev_audio if r.snr == "clean" and r.question == "how much water should i drink each day")
    done = voiceskill("listen", str(row.path))
    assert done.returncode == 0, done.stderr
    assert "water" in done.stdout and "64" in done.stdout and not done.stdout.lstrip().startswith("{")


def test_listen_without_a_model_names_the_fix(tmp_path: Path, dev_audio: list[AudioRow]) -> None:
    done = voiceskill("listen", "--model", str(tmp_path / "nowhere"), str(dev_audio[0].path))
    assert done.returncode != 0 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "voiceskill model" in lines[0]


def test_transcribe_json_gives_words_with_times_and_confidences(have_model: None,
                                                                dev_audio: list[AudioRow]) -> None:
    rows = [r for r in dev_audio if r.snr == "clean" and r.question == "what is the capital of france"][:1]
    done = voiceskill("transcribe", "--json", str(rows[0].path))
    assert done.returncode == 0, done.stderr
    (line,) = json_lines(done.stdout)
    assert set(line) == {"input", "transcript", "words"}
    assert line["transcript"] == " ".join(w["word"] for w in line["words"])
    assert "france" in line["transcript"]  # open vocabulary by default
    for w in line["words"]:
        assert set(w) == {"word", "conf", "start", "end"} and 0 <= w["conf"] <= 1 and w["start"] <= w["end"]
    grammar = voiceskill("transcribe", "--json", "--grammar", str(rows[0].path))
    assert grammar.returncode == 0, grammar.stderr
    (heard,) = json_lines(grammar.stdout)
    allowed = {w for entry in grammar_vocabulary(Router.load()) for w in entry.split()} | {"[unk]"}
    assert heard["transcript"] and set(heard["transcript"].split()) <= allowed
    # off-topic words land on everyday words, not on article words
    assert "capital" in heard["transcript"] or "france" in heard["transcript"]



def test_listen_session_is_one_conversation(have_model: None, topics: dict) -> None:
    """`--session`: the files are one person's questions in order, so "tell me more" goes on with
    the topic of the file before and "say that again" repeats it; without it every file stands alone."""
    require(not tools_missing(), "the rendering tools (sox, espeak-ng, flite, festival)")
    rows = [r for r in render_questions(REPO / "tests" / "data" / "session.tsv", voices=("espeak-us",), snrs=())
            if r.snr == "clean"]
    files = [str(r.path) for r in rows]
    done = voiceskill("listen", "--session", "--json", *files)
    assert done.returncode == 0, done.stderr
    first, more, again = json_lines(done.stdout)
    assert first["intent"] == "causes" and answer_ok("causes", first["intent"], first["answer"], topics), first
    assert more["intent"] == "more" and more["answer"] and more["answer"] != first["answer"], more
    assert again["intent"] == "repeat" and again["answer"] == more["answer"], again
    alone = json_lines(voiceskill("listen", "--json", *files).stdout)
    assert alone[1]["intent"] == "more" and alone[1]["answer"].startswith("Ask me a question first")
