"""The recognizer stage on real speech (rendered by the shared offline voices) with the real model."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from audio_fixtures import FALLBACK, AudioRow, dev_audio, word_errors  # noqa: F401 (fixture)
from conftest import REPO, require
from voiceskill.pcm import CHUNK_BYTES, RATE_HZ
from voiceskill.errors import ModelError
from voiceskill.recognizer import UNK, SpeechModel, Transcript, VoskRecognizer, grammar_words, read_lexicon, recognize_pcm
from voiceskill.settings import RecognizerConfig, RouterConfig
from voiceskill.wavio import read_wav

ARTICLE = REPO / "voiceskill" / "data" / "glute-cramps.txt"
QUESTION_WORDS = ("what why how when which who can could should would do does did is are am i my me "
                  "you your it a an the of to in on for about with tell see need much many each day "
                  "linked give during under start slow look like avoid problems reduced get have").split()
OFF_TOPIC_WORDS = {"capital", "france", "turn", "lights", "fast", "run", "mile"}


def model_dir() -> Path:
    from voiceskill.models import resolve_model_dir

    try:
        return resolve_model_dir()
    except ModelError as exc:
        require(False, f"the Vosk model ({exc})")
        raise


@pytest.fixture(scope="module")
def speech_model() -> SpeechModel:
    with SpeechModel(model_dir()) as model:
        yield model


@pytest.fixture(scope="module")
def vocabulary() -> set[str]:
    """A stand-in for router.vocabulary(): the article's words plus common question words."""
    return set(re.findall(r"[a-z0-9']+", ARTICLE.read_text().lower())) | set(QUESTION_WORDS)


def clean_rows(rows: list[AudioRow], voices: int = 1) -> list[AudioRow]:
    """Clean renderings, the first ``voices`` voices of each question."""
    out, seen = [], {}
    for row in rows:
        if row.snr == "clean" and seen.get(row.question, 0) < voices:
            seen[row.question] = seen.get(row.question, 0) + 1
            out.append(row)
    return out


def spoken(rows: list[AudioRow], question: str) -> AudioRow:
    """The first clean rendering of ``question``."""
    return next(r for r in rows if r.snr == "clean" and r.question == question)


WATER = "how much water should i drink each day"
WARMUP = "should i warm up before my workout"


def wer(rec: VoskRecognizer, rows: list[AudioRow]) -> tuple[float, list[tuple[str, str]]]:
    errors = total = 0
    pairs = []
    for row in rows:
        heard = recognize_pcm(rec, read_wav(row.path))
        e, n = word_errors(row.question, heard.text)
        errors, total = errors + e, total + n
        pairs.append((row.question, heard.text))
    return errors / total, pairs


# -- pure parts ------------------------------------------------------------------------------


def test_grammar_words_spells_numbers_keeps_phrases_and_drops_unknown_words() -> None:
    lexicon = frozenset({"how", "much", "water", "sixty", "four", "ounces", "don't", "cramp"})
    got = grammar_words(["Water", "64", "ounces!", "zzqxv", "don't", "How much WATER", "x-ray", UNK], lexicon)
    assert got == ["how much water", "don't", "four", "how", "much", "ounces", "sixty", "water", UNK]


def test_grammar_words_without_lexicon_checks_spelling_only() -> None:
    assert grammar_words(["glutes,", "3", "b12", "café"]) == ["b", "caf", "glutes", "three", "twelve", UNK]


def test_transcript_confidences_align_with_words() -> None:
    from voiceskill.recognizer import Word

    t = Transcript("a [unk] b", (Word("a", 0.9, 0.0, 0.2), Word(UNK, 0.4, 0.2, 0.5), Word("b", 1.0, 0.5, 0.7)), True)
    assert t.confidences == (0.9, 0.4, 1.0)
    assert len(t.confidences) == len(t.text.split())


# -- the model -------------------------------------------------------------------------------


def test_lexicon_is_read_from_the_graph(speech_model: SpeechModel) -> None:
    lexicon = speech_model.lexicon()
    assert len(lexicon) > 50_000
    assert {"cramp", "glutes", "magnesium", "water", "sixty"} <= lexicon
    assert "<eps>" not in lexicon and "!SIL" not in lexicon
    assert read_lexicon(Path("/nonexistent")) == frozenset()


def test_missing_model_dir_is_one_line_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as err:
        SpeechModel(tmp_path / "no-model")
    assert "\n" not in str(err.value) and "voiceskill model" in str(err.value)


def _copy_with_truncated_mdl(src: Path, dst: Path, keep_bytes: int) -> Path:
    dst.mkdir()
    for part in src.iterdir():
        if part.name != "am":
            (dst / part.name).symlink_to(part)
    (dst / "am").mkdir()
    with (src / "am" / "final.mdl").open("rb") as f:
        (dst / "am" / "final.mdl").write_bytes(f.read(keep_bytes))
    return dst


@pytest.mark.parametrize("keep_bytes", [50_000, 8_000_000], ids=["tiny", "half"])
def test_truncated_acoustic_model_is_one_line_model_error(tmp_path: Path, keep_bytes: int) -> None:
    broken = _copy_with_truncated_mdl(model_dir(), tmp_path / "broken", keep_bytes)
    with pytest.raises(ModelError) as err:
        SpeechModel(broken)
    message = str(err.value)
    assert "\n" not in message and "voiceskill model" in message and str(broken) in message


def test_grammar_mode_needs_a_vocabulary(speech_model: SpeechModel) -> None:
    with pytest.raises(ValueError):
        speech_model.recognizer(RecognizerConfig(grammar=True), None)


# -- real speech -----------------------------------------------------------------------------


def test_open_vocabulary_transcribes_clean_speech(speech_model: SpeechModel, dev_audio: list[AudioRow]) -> None:
    rows = clean_rows(dev_audio)
    with speech_model.recognizer(RecognizerConfig(grammar=False)) as rec:
        rate, pairs = wer(rec, rows)
    assert rate < 0.35, pairs  # measured about 0.22 over the dev questions
    assert any("france" in heard for _, heard in pairs)  # open vocabulary hears off-topic words


def test_grammar_mode_transcribes_on_topic_speech_within_the_grammar(
        speech_model: SpeechModel, dev_audio: list[AudioRow], vocabulary: set[str]) -> None:
    rows = [r for r in clean_rows(dev_audio) if r.topic != FALLBACK]
    with speech_model.recognizer(RecognizerConfig(), vocabulary) as rec:
        grammar = set(rec.grammar or ())
        rate, pairs = wer(rec, rows)
    assert rate < 0.4, pairs
    heard_words = {w for _, heard in pairs for w in heard.split()}
    assert heard_words <= grammar


def test_the_grammar_has_contractions_whole(speech_model: SpeechModel) -> None:
    """Without "doesn't" in the grammar, "so it doesn't cramp" can only be heard "so it does cramp"."""
    from voiceskill.app import question_vocabulary
    from voiceskill.router import Router

    router = Router.load(config=RouterConfig(semantic=False))
    with speech_model.recognizer(RecognizerConfig(), question_vocabulary(RecognizerConfig(), router)) as rec:
        grammar = set(rec.grammar or ())
    assert {"doesn't", "don't", "can't", "won't", "isn't", "i'm"} <= grammar


def test_grammar_mode_maps_off_topic_speech_to_unk(
        speech_model: SpeechModel, dev_audio: list[AudioRow], vocabulary: set[str]) -> None:
    rows = [r for r in dev_audio if r.topic == FALLBACK and r.snr == "clean"]
    assert rows
    with speech_model.recognizer(RecognizerConfig(), vocabulary) as rec:
        heard = [recognize_pcm(rec, read_wav(r.path)) for r in rows]
    for row, t in zip(rows, heard):
        assert not set(t.text.split()) & OFF_TOPIC_WORDS, (row.question, t.text)
    assert sum(UNK in t.text.split() for t in heard) >= len(rows) * 2 // 3, [t.text for t in heard]


def test_streaming_gives_partials_and_a_final_at_the_pause(
        speech_model: SpeechModel, dev_audio: list[AudioRow]) -> None:
    first, second = spoken(dev_audio, WATER), spoken(dev_audio, WARMUP)
    pause = b"\0\0" * int(RATE_HZ * 1.5)
    pcm = read_wav(first.path) + pause + read_wav(second.path)
    partials, finals = [], []
    with speech_model.recognizer(RecognizerConfig(grammar=False)) as rec:
        for i in range(0, len(pcm), CHUNK_BYTES):
            final = rec.accept(pcm[i:i + CHUNK_BYTES])
            if final is not None:
                finals.append(final)
            elif rec.partial() and not finals:
                partials.append(rec.partial())
        last = rec.finish()
    assert partials, "no partial result while the first question was spoken"
    assert len(finals) >= 1 and finals[0].final and "water" in finals[0].text
    assert any(p.split()[:2] == finals[0].text.split()[:2] for p in partials)
    assert "warm" in last.text and "water" not in last.text


def test_finish_flushes_and_reset_drops(speech_model: SpeechModel, dev_audio: list[AudioRow]) -> None:
    row = spoken(dev_audio, WATER)
    pcm = read_wav(row.path)
    cut = len(pcm) * 2 // 3 // 2 * 2
    with speech_model.recognizer(RecognizerConfig(grammar=False)) as rec:
        for i in range(0, cut, CHUNK_BYTES):
            assert rec.accept(pcm[i:min(i + CHUNK_BYTES, cut)]) is None
        flushed = rec.finish()
        assert flushed.final and "much" in flushed.text.split()
        assert rec.finish().text == ""
        assert len(flushed.confidences) == len(flushed.text.split())
        assert all(0.0 <= c <= 1.0 for c in flushed.confidences)
        assert all(a.end_s <= b.start_s + 1e-6 for a, b in zip(flushed.words, flushed.words[1:]))
        for i in range(0, cut, CHUNK_BYTES):
            rec.accept(pcm[i:min(i + CHUNK_BYTES, cut)])
        rec.reset()
        assert rec.finish().text == ""


def test_alternatives_are_reported(speech_model: SpeechModel, dev_audio: list[AudioRow]) -> None:
    row = spoken(dev_audio, WATER)
    with speech_model.recognizer(RecognizerConfig(grammar=False, max_alternatives=3)) as rec:
        heard = recognize_pcm(rec, read_wav(row.path))
    assert 1 <= len(heard.alternatives) <= 3 and "water" in heard.text


def test_a_session_keeps_the_speaker_and_still_hears_every_word(speech_model: SpeechModel,
                                                               dev_audio: list[AudioRow]) -> None:
    """finish(keep_speaker=True) ends a question with Result() after some silence instead of
    FinalResult(), so Vosk keeps its speaker adaptation; the question's last words must still come
    out, nothing may leak into the next question, and forget_speaker() starts afresh."""
    from voiceskill.grammar import grammar_vocabulary
    from voiceskill.router import Router

    water, warmup = read_wav(spoken(dev_audio, WATER).path), read_wav(spoken(dev_audio, WARMUP).path)
    with speech_model.recognizer(RecognizerConfig(), grammar_vocabulary(Router.load())) as rec:
        ref = recognize_pcm(rec, water).text.split()
        for pcm, keep in ((water, True), (warmup, True), (water, True), (water, False)):
            rec.reset()
            heard = recognize_pcm(rec, pcm, keep_speaker=keep).text.split()
            assert ("water" in heard) == (pcm is water) and ("warm" in heard) == (pcm is warmup), heard
            if pcm is water:
                assert heard[-2:] == ref[-2:], (heard, ref)  # the last words were decoded
        rec.forget_speaker()
        rec.reset()
        assert "warm up" in recognize_pcm(rec, warmup, keep_speaker=True).text


def test_a_long_session_starts_fresh_after_its_audio_limit(speech_model: SpeechModel,
                                                           dev_audio: list[AudioRow]) -> None:
    """A session keeps every feature frame it adapted on (Vosk drops them after 10 minutes), so
    after session_max_audio_s of audio the next question starts fresh (soak figures: README)."""
    from voiceskill.grammar import grammar_vocabulary
    from voiceskill.router import Router

    water = read_wav(spoken(dev_audio, WATER).path)
    config = RecognizerConfig(session_max_audio_s=len(water) / 2 / RATE_HZ * 1.5)
    with speech_model.recognizer(config, grammar_vocabulary(Router.load())) as rec:
        kept = []
        for _ in range(3):
            rec.reset()
            assert "water" in recognize_pcm(rec, water, keep_speaker=True).text
            kept.append(rec._carried_bytes)
        # the first question is kept; the second reaches the limit, so it ends fresh; and again
        assert kept[0] > 0 and kept[1] == 0 and kept[2] > 0
