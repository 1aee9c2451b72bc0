"""The live loop's decisions, with fake stages (tests/fakes.py); the real audio path is in
tests/test_loop_e2e.py."""

from __future__ import annotations

import json
from pathlib import Path

from fakes import FakeEndpointer, FakeRecognizer, FakeSpeaker, ScriptedSource, ScriptedTrigger
from voiceskill.dialog import Dialog
from voiceskill.orchestrator import Orchestrator, State
from voiceskill.settings import LoopConfig
from voiceskill.router import Router

ROUTER = Router.load()


def make(text: str, script: dict[int, str], *, hold: bool = True, n: int = 200, speak_reads: int = 5,
         stop_text: str = "", end_after: int = 10**9, config: LoopConfig | None = None,
         record_dir: Path | None = None, release_memory=None):
    source = ScriptedSource(n)
    speaker = FakeSpeaker(source, speak_reads=speak_reads)
    turns = []
    orch = Orchestrator(source=source, trigger=ScriptedTrigger(source, script, hold=hold),
                        recognizer=FakeRecognizer(text), endpointer=FakeEndpointer(end_after),
                        dialog=Dialog(ROUTER), speaker=speaker,
                        stop_spotter=FakeRecognizer(stop_text) if stop_text else None,
                        config=config or LoopConfig(earcons=True), on_turn=turns.append,
                        record_dir=record_dir, release_memory=release_memory)
    return orch, source, speaker, turns


def test_hold_to_talk_answers_on_release() -> None:
    orch, source, speaker, turns = make("why do my glutes keep cramping", {3: "press", 20: "release"})
    orch.run(max_turns=1)
    assert speaker.earcons == ["start"]
    assert len(speaker.said) == 1 and "intense physical training" in speaker.said[0]
    assert turns[0].intent == "causes" and turns[0].ended_s == 20.0


def test_tap_to_talk_ends_by_silence() -> None:
    orch, _, speaker, turns = make("how much water should i drink", {2: "press"}, hold=False, end_after=15)
    orch.run(max_turns=1)
    assert "64 ounces" in speaker.said[0] and turns[0].intent == "water"


def test_nothing_heard_says_didnt_catch() -> None:
    orch, _, speaker, turns = make("", {2: "press", 10: "release"})
    orch.run(max_turns=1)
    assert speaker.said == ["Sorry, I didn't catch that."] and turns[0].intent is None


def test_what_the_decision_chose_is_said_not_the_words_routed_again() -> None:
    # heard naming another subject: the decision step gives the off-topic reply, though the
    # router alone would take these heard words for the glute-cramp relief answer
    text = "foot cramp right now what do i do"
    assert ROUTER.route(text, [1.0] * len(text.split())).intent == "relief_now"
    orch, _, speaker, turns = make(text, {2: "press", 10: "release"})
    orch.run(max_turns=1)
    assert turns[0].intent is None and speaker.said == [ROUTER.fallback]


def test_memory_is_released_once_after_each_answer_has_played() -> None:
    calls: list[tuple[int, bool]] = []
    orch, source, speaker, turns = make(
        "why do my glutes keep cramping", {3: "press", 20: "release", 40: "press", 60: "release"},
        release_memory=lambda: calls.append((source.reads, speaker.is_speaking)))
    orch.run(max_turns=2)
    assert len(turns) == 2 and len(calls) == 1  # the loop ends as the second answer finishes
    reads, speaking = calls[0]
    assert 20 + speaker.speak_reads <= reads < 40 and not speaking
    orch.step()
    orch.step()
    assert len(calls) == 2 and not calls[1][1]


def test_memory_is_released_when_a_press_cuts_the_answer_short() -> None:
    calls: list[int] = []
    orch, source, speaker, turns = make(
        "what is a cramp", {2: "press", 10: "release", 14: "press", 30: "release"}, speak_reads=50,
        release_memory=lambda: calls.append(source.reads))
    orch.run(max_turns=2)
    assert len(turns) == 2 and speaker.stops >= 1
    assert len(calls) == 1 and 14 <= calls[0] < 30  # at the second press, the loop never idle


def test_barge_in_stops_answer_and_listens_again() -> None:
    orch, source, speaker, turns = make("what is a cramp", {2: "press", 10: "release", 14: "press", 30: "release"},
                                        speak_reads=50)
    orch.run(max_turns=2)
    assert speaker.stops >= 1 and len(speaker.said) == 2 and len(turns) == 2


def test_saying_stop_while_speaking_stops_it() -> None:
    orch, source, speaker, _ = make("what is a cramp", {2: "press", 10: "release"}, speak_reads=100,
                                    stop_text="stop")
    orch.run(max_turns=1)
    assert speaker.stops == 1 and orch.state is State.IDLE and source.reads < 60


def test_stop_intent_says_nothing() -> None:
    orch, _, speaker, turns = make("never mind", {2: "press", 10: "release"})
    orch.run(max_turns=1)
    assert speaker.said == [] and turns[0].intent == "stop" and speaker.earcons == ["start", "stop"]


def test_stuck_key_ends_at_max_question() -> None:
    orch, _, speaker, turns = make("what is a cramp", {2: "press"}, config=LoopConfig(max_question_ms=200))
    orch.run(max_turns=1)
    assert turns[0].intent == "what_is"


def test_record_dir_only_when_asked(tmp_path: Path) -> None:
    orch, *_ = make("what is a cramp", {2: "press", 10: "release"}, record_dir=tmp_path / "rec")
    orch.run(max_turns=1)
    files = sorted(p.suffix for p in (tmp_path / "rec").iterdir())
    assert files == [".json", ".wav"]
    meta = json.loads(next((tmp_path / "rec").glob("*.json")).read_text())
    assert meta["intent"] == "what_is"


def test_request_stop_ends_loop() -> None:
    orch, source, *_ = make("x", {})
    orch.request_stop()
    assert orch.run() == 0 and source.reads == 0


def test_quit_event_ends_the_loop() -> None:
    orch, source, speaker, turns = make("what is a cramp", {2: "quit"})
    orch.run()
    assert turns == [] and source.reads < 5


def test_quick_press_and_release_is_a_tap_that_ends_by_silence() -> None:
    """Bluetooth headsets send play/pause press and release together: that is a tap."""
    # the fake trigger's clock counts reads as seconds: released 1 "s" after the press
    orch, source, speaker, turns = make("how much water should i drink", {2: "press", 3: "release"},
                                        end_after=15, config=LoopConfig(tap_max_ms=2000))
    orch.run(max_turns=1)
    assert turns[0].intent == "water" and source.reads >= 15   # ended by silence, not at release
    held, *_ = make("how much water should i drink", {2: "press", 3: "release"}, end_after=15,
                    config=LoopConfig(tap_max_ms=500))
    held.run(max_turns=1)
    assert held.source.reads < 10                                  # a hold: ended at release
