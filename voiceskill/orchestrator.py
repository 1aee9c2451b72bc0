"""The live loop: microphone -> trigger -> recognizer -> dialog -> speaker, one turn at a time.

This is the only place that decides *when* things happen. It runs in the caller's thread:
the microphone's PortAudio callback and gpiozero's callbacks only fill queues, the speaker
plays from PortAudio's own thread, and this loop polls them every chunk (20 ms), so a key
press is seen within a chunk and a barge-in stops playback at once.

States: IDLE (waiting for the trigger; a wake trigger listens to every chunk), LISTENING
(feeding the question recognizer until key release, or end of speech by silence), and
SPEAKING (the answer plays; the microphone is ignored except by the trigger, which barges
in, and by a small "stop" spotter, so saying "stop" silences it).
"""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from voiceskill.decide import decide
from voiceskill.dialog import Dialog
from voiceskill.passes import Ear
from voiceskill.pcm import CHUNK_BYTES, CHUNK_MS
from voiceskill.recognizer import Recognizer
from voiceskill.settings import DecisionConfig, LoopConfig
from voiceskill.text import words
from voiceskill.trigger import Trigger, TriggerEvent
from voiceskill.wavio import write_wav

if TYPE_CHECKING:
    from voiceskill.audio import AudioSource
    from voiceskill.denoise import Denoiser
    from voiceskill.endpoint import Endpointer
    from voiceskill.speaker import Speaker

log = logging.getLogger(__name__)


class State(enum.Enum):
    IDLE = "idle"
    LISTENING = "listening"
    SPEAKING = "speaking"


@dataclass
class Turn:
    """One question and its answer, as logged."""

    trigger: str
    started_s: float
    ended_s: float = 0.0
    """When the question ended (key release, or end of speech), monotonic seconds."""
    spoke_s: float = 0.0
    """When the answer was handed to the speaker, monotonic seconds."""
    transcript: str = ""
    intent: str | None = None
    confidence: float = 0.0
    answer: str = ""
    playback: object = None
    """What the speaker returned for the answer (e.g. an Utterance with playback times)."""
    audio: list[bytes] = field(default_factory=list, repr=False)

    @property
    def latency_ms(self) -> float:
        return (self.spoke_s - self.ended_s) * 1000 if self.spoke_s else 0.0


class Orchestrator:
    """Runs turns until :meth:`request_stop` (e.g. from a SIGTERM handler) or ``max_turns``."""

    def __init__(self, *, source: AudioSource, trigger: Trigger, recognizer: Ear,
                 endpointer: Endpointer, dialog: Dialog, speaker: Speaker,
                 stop_spotter: Recognizer | None = None, denoiser: Denoiser | None = None,
                 config: LoopConfig | None = None, record_dir: Path | None = None,
                 on_turn: Callable[[Turn], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, decision: DecisionConfig | None = None,
                 session_idle_s: float = 0.0, release_memory: Callable[[], object] | None = None) -> None:
        self.source = source
        self.trigger = trigger
        self.recognizer = recognizer
        self.endpointer = endpointer
        self.dialog = dialog
        self.speaker = speaker
        self.stop_spotter = stop_spotter
        self.denoiser = denoiser
        self.record_dir = record_dir
        """Save each question's audio (WAV) and transcript here; None = never write them to disk."""
        self.config = config or LoopConfig()
        self.decision = decision or DecisionConfig()
        self.session_idle_s = session_idle_s
        """One person's questions closer together than this are a session: the recognizer keeps
        adapting to them and the dialog keeps its topic; 0 = every question starts fresh."""
        self._last_ended_s: float | None = None
        self.release_memory = release_memory
        """Called once after each turn, when its answer has played or the next question starts
        (:func:`voiceskill.heap.release`)."""
        self._release_pending = False
        self.on_turn = on_turn
        self.clock = clock
        self.state = State.IDLE
        self.turns = 0
        self._turn: Turn | None = None
        self._stop_requested = False
        self._listening_since = 0.0
        self._heard_ms = 0
        self._skip_during_earcon = True
        self._hold = trigger.hold
        """Whether this question ends on key release (else: by silence)."""
        self._stop_words = {" ".join(words(w)) for w in self.config.stop_words}

    def request_stop(self) -> None:
        """Ask the loop to end after the current chunk (safe to call from a signal handler)."""
        self._stop_requested = True

    # -- the loop ---------------------------------------------------------------------------
    def run(self, max_turns: int | None = None) -> int:
        """Run until asked to stop, or until ``max_turns`` turns have been answered. Returns turns."""
        log.info("listening: %s", "hold the key to talk" if self.trigger.hold else "trigger to talk")
        while not self._stop_requested:
            if max_turns is not None and self.turns >= max_turns and not self.speaker.is_speaking:
                break  # the last answer has been spoken
            self.step()
        return self.turns

    def step(self) -> None:
        """One iteration: at most one trigger event and one chunk of audio."""
        event = self.trigger.poll(0.0)
        if event is not None:
            self._on_trigger(event)
        if self.state is State.IDLE:
            self._release_memory()  # the answer has played: nothing waits on this
        chunk = self.source.read(self.config.chunk_timeout_s)
        if chunk is None:
            self._check_speaking_done()
            if (self.state is State.LISTENING
                    and (self.clock() - self._listening_since) * 1000 > self.config.max_question_ms):
                log.warning("no audio from the microphone for this question (%s)",
                            self.source.problem or "nothing delivered")
                self._end_question(self.clock())  # so the question cannot wait forever
            return
        audio_event = self.trigger.feed(chunk)
        if audio_event is not None:
            self._on_trigger(audio_event)
            return  # the chunk that completed a wake phrase is not part of the question
        if self.state is State.IDLE:
            self.endpointer.listen_noise(chunk)
            if self.denoiser is not None:
                self.denoiser.learn_noise(chunk)
            self.recognizer.learn_noise(chunk)
        elif self.state is State.LISTENING:
            self._listen(chunk)
        elif self.state is State.SPEAKING:
            self._spot_stop(chunk)
            self._check_speaking_done()

    # -- events -----------------------------------------------------------------------------
    def _on_trigger(self, event: TriggerEvent) -> None:
        if event.kind == "press":
            if self.state is State.SPEAKING:
                log.info("barge-in (%s): stopping the answer", event.source)
                self.speaker.stop()
            if self.state is State.LISTENING and not self._hold:
                self._end_question(event.time_s)  # a second tap ends the question early
                return
            self._start_question(event)
        elif event.kind == "release" and self.state is State.LISTENING and self._hold:
            assert self._turn is not None
            if (event.time_s - self._turn.started_s) * 1000 < self.config.tap_max_ms:
                log.debug("tap (released after %.0f ms): the question ends by silence",
                          (event.time_s - self._turn.started_s) * 1000)
                self._hold = False
            else:
                self._end_question(event.time_s)
        elif event.kind == "quit":
            log.info("quit (%s)", event.source)
            self.speaker.stop()
            self.request_stop()

    def _release_memory(self) -> None:
        if self._release_pending and self.release_memory is not None:
            self.release_memory()
        self._release_pending = False

    def _start_question(self, event: TriggerEvent) -> None:
        self._release_memory()  # not done yet if this press cut the last answer short (barge-in)
        if (self._last_ended_s is not None and self.session_idle_s > 0
                and event.time_s - self._last_ended_s > self.session_idle_s):
            log.info("new session (%.0f s since the last question): starting fresh",
                     event.time_s - self._last_ended_s)
            self.recognizer.forget_speaker()
            self.dialog.reset()
        self.recognizer.reset()
        self.endpointer.reset()
        self._turn = Turn(trigger=event.source, started_s=event.time_s)
        self._heard_ms = 0
        self._hold = self.trigger.hold
        self.state = State.LISTENING
        self._listening_since = self.clock()
        problem = self.source.problem
        if problem:  # the press is kept: heard once the microphone is back, else ends as unheard
            log.warning("press (%s) while the microphone is not available: %s", event.source, problem)
            self.speaker.earcon("error")
        elif self.config.earcons:
            self.speaker.earcon("start")
        audio = self.trigger.preroll()
        # After a key the user starts talking after the tone, so what the microphone hears while
        # the tone plays is the tone; after a wake phrase the question may already be under way.
        self._skip_during_earcon = audio is None
        if audio is not None:
            step = CHUNK_BYTES
            for i in range(0, len(audio), step):
                if self.state is not State.LISTENING:
                    break
                self._listen(audio[i:i + step])
        log.debug("listening (%s)", event.source)

    def _listen(self, chunk: bytes) -> None:
        assert self._turn is not None
        if self._skip_during_earcon and self.speaker.is_speaking:
            return  # the start earcon is playing: the microphone would hear it
        if self.record_dir is not None:
            self._turn.audio.append(chunk)
        final = self.recognizer.accept(chunk if self.denoiser is None else self.denoiser.process(chunk))
        self._heard_ms += CHUNK_MS
        if self._heard_ms >= self.config.max_question_ms:
            log.info("question reached %d ms: ending it", self.config.max_question_ms)
            self._end_question(self.clock())
            return
        if not self._hold:
            mark = self.endpointer.feed(chunk)
            if final is not None:
                mark = self.endpointer.final_result(bool(final.text.strip())) or mark
            if mark in ("end", "timeout"):
                self._end_question(self.clock())

    def _end_question(self, ended_s: float) -> None:
        turn = self._turn
        assert turn is not None
        turn.ended_s = ended_s
        if self.denoiser is not None and self.denoiser.latency_samples:  # flush its delay
            self.recognizer.accept(self.denoiser.process(bytes(2 * self.denoiser.latency_samples)))
        self._last_ended_s = ended_s
        hypotheses = self.recognizer.hear(keep_speaker=self.session_idle_s > 0)
        decision = decide(hypotheses, self.dialog.router, self.decision)
        log.debug("passes heard: %s; kept %s, caught %s",
                  "; ".join(f"{h.name}: {h.transcript.text!r}" for h in hypotheses),
                  decision.heard.name if decision.heard else None, decision.caught)
        caught = decision.caught
        best = decision.heard.transcript if decision.heard else None
        text = best.text if best else ""
        turn.transcript = text
        heard = [w for w in text.split() if w != "[unk]"]
        if not heard or not caught or decision.reply is None:
            turn.answer = self.config.didnt_catch
            turn.intent = None
        else:
            reply = self.dialog.respond(decision.reply)
            turn.intent, turn.confidence, turn.answer = reply.intent, reply.confidence, reply.answer
        if turn.answer:
            turn.playback = self.speaker.say(turn.answer)
            turn.spoke_s = self.clock()
            self.state = State.SPEAKING
            if self.stop_spotter is not None:
                self.stop_spotter.reset()
        else:
            self.speaker.stop()
            if self.config.earcons:
                self.speaker.earcon("stop")
            self.state = State.IDLE
        self.turns += 1
        self._finish_turn(turn)

    def _spot_stop(self, chunk: bytes) -> None:
        if self.stop_spotter is None:
            return
        final = self.stop_spotter.accept(chunk)
        heard = " ".join(words(final.text if final is not None else self.stop_spotter.partial()))
        if any(f" {w} " in f" {heard} " for w in self._stop_words):
            log.info("heard %r while speaking: stopping", heard)
            self.speaker.stop()
            self.stop_spotter.reset()
            self.state = State.IDLE

    def _check_speaking_done(self) -> None:
        if self.state is State.SPEAKING and not self.speaker.is_speaking:
            self.state = State.IDLE
            self.source.drain()  # what the mic heard while we talked is not a question

    def _finish_turn(self, turn: Turn) -> None:
        log.info("turn trigger=%s transcript=%s intent=%s confidence=%.2f latency_ms=%.0f",
                 turn.trigger, json.dumps(turn.transcript), turn.intent, turn.confidence, turn.latency_ms)
        if self.record_dir is not None:
            try:
                _record(self.record_dir, turn)
            except OSError as exc:  # checked at start-up; a disk that fills later costs the recording only
                log.warning("cannot record this turn in %s (%s)", self.record_dir, exc.strerror or exc)
        if self.on_turn is not None:
            self.on_turn(turn)
        turn.audio.clear()
        self._release_pending = True


def _record(directory: Path, turn: Turn) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    stem = str(directory / time.strftime("%Y%m%d-%H%M%S")) + f"-{int(turn.started_s * 1000) % 1000:03d}"
    write_wav(stem + ".wav", b"".join(turn.audio))
    Path(stem + ".json").write_text(json.dumps(
        {"trigger": turn.trigger, "transcript": turn.transcript, "intent": turn.intent,
         "confidence": turn.confidence, "answer": turn.answer}) + "\n")


def utterance_words(texts: Sequence[str]) -> frozenset[str]:
    """Words of a list of phrases (for a small spotter grammar)."""
    return frozenset(w for t in texts for w in words(t))
