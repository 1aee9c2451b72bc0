"""Hearing a question in several passes (voiceskill.passes): every pass gets every chunk through
its own front end, the decision step (voiceskill.decide) answers from the transcript the router is
surest of, and the live loop answers from that one. The real denoisers and recognizer on real noisy speech are measured in
tests/test_listen.py and benchmarks/recognizer_bench.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fakes import (FakeEndpointer, FakeSpeaker, MarkingDenoiser, RecordingRecognizer, ScriptedSource,
                   ScriptedTrigger)
from voiceskill.config import load_config
from voiceskill.denoise import front_end
from voiceskill.settings import PRESETS, check_passes
from voiceskill.dialog import Dialog
from voiceskill.errors import ConfigError
from voiceskill.orchestrator import Orchestrator
from voiceskill.settings import LoopConfig
from voiceskill.decide import decide, decide_file
from voiceskill.settings import DecisionConfig
from voiceskill.passes import Heard, MultiPassRecognizer, hear_file
from voiceskill.recognizer import Transcript, Word
from voiceskill.settings import RecognizerConfig
from voiceskill.router import Router

ROUTER = Router.load()
RULES = DecisionConfig(learned=False)
"""The decision's rules alone (the learned model on top of them: tests/test_decide.py)."""


def transcript(text: str, conf: float = 1.0) -> Transcript:
    return Transcript(text, tuple(Word(w, conf, 0.0, 0.0) for w in text.split()), True)


def router_confidence(t: Transcript) -> float:
    return ROUTER.route(t.text, t.confidences).confidence


def test_every_pass_gets_every_chunk_through_its_own_front_end() -> None:
    plain, soft, hard = RecordingRecognizer(), RecordingRecognizer(), RecordingRecognizer()
    multi = MultiPassRecognizer([("plain", None, plain), ("a", MarkingDenoiser(0x0F), soft),
                                 ("b", MarkingDenoiser(0xF0), hard)])
    chunks = [bytes([1, 2, 3, 4]), bytes([5, 6])]
    for c in chunks:
        multi.accept(c)
    assert plain.fed == chunks
    assert soft.fed == [bytes(b ^ 0x0F for b in c) for c in chunks]
    assert hard.fed == [bytes(b ^ 0xF0 for b in c) for c in chunks]
    assert multi.names == ("plain", "a", "b")


def test_hear_flushes_each_denoiser_delay_and_gives_each_pass_whole_question() -> None:
    plain = RecordingRecognizer("why do my glutes cramp", final_every=2)
    delayed = RecordingRecognizer("how much water")
    den = MarkingDenoiser(0x00, latency_samples=3)
    multi = MultiPassRecognizer([("plain", None, plain), ("d", den, delayed)])
    for _ in range(4):
        assert (multi.accept(b"\x01\x00" * 4) is not None) == (len(plain.fed) % 2 == 0)
    heard = multi.hear()
    assert [h.name for h in heard] == ["plain", "d"]
    # the first pass's two finals ("seg") and its last words, joined
    assert heard[0].transcript.text == "seg seg why do my glutes cramp"
    assert heard[1].transcript.text == "how much water"
    fed = b"".join(delayed.fed)
    assert len(fed) == 4 * 8 + 6 and fed.endswith(b"\x01\x00" * 4)  # the delay was flushed out


def test_reset_starts_a_new_question_in_every_pass() -> None:
    a, b = RecordingRecognizer("one", final_every=1), RecordingRecognizer("two")
    multi = MultiPassRecognizer([("plain", None, a), ("x", None, b)])
    multi.accept(b"\x00\x00")
    multi.reset()
    assert a.resets == b.resets == 1
    assert [h.transcript.text for h in multi.hear()] == ["one", "two"]  # the old final is gone


def test_finish_is_the_first_pass_last_segment() -> None:
    multi = MultiPassRecognizer([("plain", None, RecordingRecognizer("first")),
                                 ("x", None, RecordingRecognizer("second"))])
    assert multi.finish().text == "first"


def test_learn_noise_reaches_every_denoiser() -> None:
    d1, d2 = MarkingDenoiser(1), MarkingDenoiser(2)
    multi = MultiPassRecognizer([("plain", None, RecordingRecognizer()), ("a", d1, RecordingRecognizer()),
                                 ("b", d2, RecordingRecognizer())])
    multi.learn_noise(b"\x05\x00")
    assert d1.learned == d2.learned == [b"\x05\x00"]


def test_the_decision_answers_from_the_hypothesis_the_router_is_surest_of() -> None:
    heard = [Heard("plain", transcript("my glute the")),
             Heard("denoised", transcript("how much water should i drink")),
             Heard("strong", transcript("how much water", conf=0.8))]
    d = decide(heard, ROUTER)
    assert d.caught and d.heard is not None and d.heard.name == "denoised" and d.reply.intent == "water"
    # ties go to the first pass; a pass that heard nothing never wins
    same = [Heard("plain", transcript("how much water should i drink")),
            Heard("strong", transcript("how much water should i drink"))]
    assert decide(same, ROUTER).heard.name == "plain"
    nothing = decide([Heard("plain", transcript("")), Heard("x", transcript("[unk]"))], ROUTER)
    assert not nothing.caught and nothing.reply is None
    assert not decide([], ROUTER).caught


def test_pass_names_are_checked() -> None:
    check_passes(("plain", "denoised", "strong", "webrtc"))
    for bad in ((), ("plain", "plain"), ("loud",)):
        with pytest.raises(ValueError):
            RecognizerConfig(passes=bad)
    assert front_end("plain", 16000) is None
    assert front_end("strong", 16000).config == PRESETS["strong"]


def test_a_bad_pass_in_the_config_file_is_one_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "voiceskill.toml"
    f.write_text('[recognizer]\npasses = ["plain", "noisy"]\n')
    with pytest.raises(ConfigError) as err:
        load_config(f, {}, {})
    assert "unknown pass 'noisy'" in str(err.value) and "\n" not in str(err.value)
    f.write_text('[recognizer]\npasses = ["plain"]\n')
    assert load_config(f, {}, {})[0].recognizer.passes == ("plain",)


def test_the_live_loop_answers_from_the_pass_the_router_is_surest_of() -> None:
    source = ScriptedSource(200)
    speaker = FakeSpeaker(source, speak_reads=5)
    turns = []
    plain, strong = RecordingRecognizer("how much water do i need", conf=0.6), RecordingRecognizer("how much water should i drink")
    den = MarkingDenoiser(0x11)
    multi = MultiPassRecognizer([("plain", None, plain), ("strong", den, strong)])
    orch = Orchestrator(source=source, trigger=ScriptedTrigger(source, {3: "press", 20: "release"}),
                        recognizer=multi, endpointer=FakeEndpointer(), dialog=Dialog(ROUTER),
                        speaker=speaker, config=LoopConfig(earcons=False), on_turn=turns.append)
    orch.run(max_turns=1)
    assert turns[0].intent == "water" and "64 ounces" in speaker.said[0]
    assert turns[0].transcript == "how much water should i drink"
    assert den.learned  # idle audio before the press sharpened the denoiser
    assert len(strong.fed) >= 15  # every question chunk went through the strong pass too


def test_a_file_stops_at_the_passes_that_settle_the_answer() -> None:
    """Independent files: passes stop once two of them chose the same topic surely (decide.settled);
    a file of a session goes through every pass."""
    pcm = b"\x01\x00" * 1600
    water = "how much water should i drink"
    clear = [("plain", RecordingRecognizer(water)), ("strong", RecordingRecognizer(water)),
             ("webrtc", RecordingRecognizer("x"))]
    d = decide_file(pcm, clear, ROUTER, RecognizerConfig(file_chunk_ms=20))
    assert d.caught and d.reply.intent == "water" and not clear[2][1].fed
    assert len(b"".join(clear[1][1].fed)) == len(pcm)  # the whole file, cleaned, in 20 ms chunks
    unclear = [("plain", RecordingRecognizer("my the")), ("strong", RecordingRecognizer("how much water")),
               ("webrtc", RecordingRecognizer(water))]
    d = decide_file(pcm, unclear, ROUTER, RecognizerConfig(file_chunk_ms=20))
    assert d.caught and d.heard.name == "webrtc" and all(r.fed for _, r in unclear)
    lone = [("plain", RecordingRecognizer("my the")), ("strong", RecordingRecognizer(water)),
            ("webrtc", RecordingRecognizer("why do my glutes cramp"))]
    assert not decide_file(pcm, lone, ROUTER, RecognizerConfig(file_chunk_ms=20)).caught  # no two agree
    session = [("plain", RecordingRecognizer(water)), ("strong", RecordingRecognizer(water)),
               ("webrtc", RecordingRecognizer(water))]
    assert decide_file(pcm, session, ROUTER, RecognizerConfig(file_chunk_ms=20), keep_speaker=True).caught
    assert all(r.fed and r.kept == [True] for _, r in session)
    # without a settled test every pass runs
    assert len(hear_file(pcm, clear, rate_hz=16000, chunk_ms=20)) == 3


def test_the_decision_needs_two_passes_to_agree() -> None:
    water, causes = transcript("how much water should i drink"), transcript("why do my glutes cramp")
    assert decide([Heard("a", water), Heard("b", causes), Heard("c", water)], ROUTER, RULES).caught
    split = decide([Heard("a", water), Heard("b", causes), Heard("c", transcript("my the"))], ROUTER, RULES)
    assert not split.caught  # two passes heard two different questions: didn't catch that
    assert decide([Heard("a", water)], ROUTER, RULES).caught  # one pass heard something: it alone decides
    assert decide([Heard("a", water), Heard("b", causes)], ROUTER, replace(RULES, min_agreeing=1)).caught
    off = decide([Heard("a", transcript("what is the capital of france"))] * 2, ROUTER, RULES)
    assert off.caught and off.reply.intent is None  # clearly off-topic: the honest fallback
    with pytest.raises(ValueError):
        DecisionConfig(min_agreeing=0)


def test_a_split_vote_needs_a_surer_router() -> None:
    """Two passes of three on one topic answer only when the router is at least
    ``split_min_confidence`` sure of it; when every pass chose it, ``min_confidence`` is enough."""
    unsure, sure = transcript("much water", 0.9), transcript("how much water should i drink")
    causes = transcript("why do my glutes cramp")
    bar = DecisionConfig().split_min_confidence
    assert DecisionConfig().min_confidence <= router_confidence(unsure) < bar <= router_confidence(sure)
    split_unsure = [Heard("a", unsure), Heard("b", causes), Heard("c", unsure)]
    assert not decide(split_unsure, ROUTER, RULES).caught
    assert decide(split_unsure, ROUTER, replace(RULES, split_min_confidence=0.5)).caught
    assert decide([Heard("a", sure), Heard("b", causes), Heard("c", sure)], ROUTER, RULES).caught
    every = decide([Heard("a", unsure), Heard("b", unsure), Heard("c", unsure)], ROUTER, RULES)
    assert every.caught and every.reply is not None and every.reply.intent == "water"
    with pytest.raises(ValueError):
        DecisionConfig(split_min_confidence=1.5)


def test_one_persons_questions_are_a_session_until_an_idle_time() -> None:
    """Questions close together keep the speaker adaptation (keep_speaker) and the dialog's topic;
    after ``session_idle_s`` without a question the recognizer forgets the speaker and the dialog
    its topic. (ScriptedTrigger times are read counts.)"""
    source = ScriptedSource(400)
    speaker = FakeSpeaker(source, speak_reads=5)
    texts = ["why do my glutes cramp", "tell me more", "tell me more"]
    rec = RecordingRecognizer(texts[0])
    turns = []

    def next_text(turn: object) -> None:
        turns.append(turn)
        rec.text = texts[min(len(turns), len(texts) - 1)]

    script = {3: "press", 20: "release", 40: "press", 60: "release", 200: "press", 220: "release"}
    orch = Orchestrator(source=source, trigger=ScriptedTrigger(source, script),
                        recognizer=MultiPassRecognizer([("plain", None, rec)]), endpointer=FakeEndpointer(),
                        dialog=Dialog(ROUTER), speaker=speaker, config=LoopConfig(earcons=False),
                        on_turn=next_text, session_idle_s=50)
    orch.run(max_turns=3)
    assert [t.intent for t in turns] == ["causes", "more", "more"]
    assert rec.kept == [True, True, True]
    assert rec.forgotten == 1  # only before the question that came after the idle time
    first, more, after_idle = speaker.said
    assert more != first and more != after_idle and "cramp" in more.lower()
    assert after_idle.startswith("Ask me a question first")


def test_without_sessions_every_question_starts_fresh() -> None:
    source = ScriptedSource(200)
    speaker = FakeSpeaker(source, speak_reads=5)
    rec = RecordingRecognizer("how much water should i drink")
    orch = Orchestrator(source=source, trigger=ScriptedTrigger(source, {3: "press", 20: "release",
                                                                        40: "press", 60: "release"}),
                        recognizer=MultiPassRecognizer([("plain", None, rec)]), endpointer=FakeEndpointer(),
                        dialog=Dialog(ROUTER), speaker=speaker, config=LoopConfig(earcons=False),
                        session_idle_s=0)
    orch.run(max_turns=2)
    assert rec.kept == [False, False] and len(speaker.said) == 2


def test_another_subject_heard_in_every_pass_gets_the_off_topic_reply() -> None:
    """The grammar turns "foot cramp right now" into a question about cramps that the router
    answers; when every pass heard the other body part, it is not a question about glutes."""
    foot, glute = transcript("foot cramp right now", 0.9), transcript("cramp right now", 0.9)
    every = [Heard("plain", foot), Heard("strong", foot), Heard("webrtc", foot)]
    d = decide(every, ROUTER, RULES)
    assert d.caught and d.reply is not None and d.reply.intent is None and d.reply.answer == ROUTER.fallback
    # fewer passes hearing it may be noise ("mentioned" heard "menstrual"); the setting moves the bar
    two = [Heard("plain", foot), Heard("strong", foot), Heard("webrtc", glute)]
    assert decide(two, ROUTER, RULES).reply.intent == "relief_now"
    assert decide(two, ROUTER, replace(RULES, min_elsewhere=2)).reply.intent is None
    assert decide(every, ROUTER, replace(RULES, min_elsewhere=0)).reply.intent == "relief_now"
    # a single pass that heard something decides alone
    assert decide([Heard("plain", foot)], ROUTER, RULES).reply.intent is None
