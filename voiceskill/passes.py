"""Hearing in several passes: the same question decoded from differently cleaned copies of the audio.

A small acoustic model loses different words in different versions of noisy audio: the raw signal,
a denoised one, one cleaned by WebRTC's noise suppressor. Each *pass* is one front end (a preset of
:data:`voiceskill.settings.PRESETS`, or none) in front of its own recognizer session; every chunk
goes through every pass. :func:`voiceskill.decide.decide` then weighs every pass's transcript and
decides what to answer; in clean audio the passes agree.

A recognizer session keeps adapting to the speaker's voice from one question to the next when the
question ends with ``keep_speaker`` (one person's consecutive questions, a *session*);
:meth:`MultiPassRecognizer.forget_speaker` starts afresh. Cost: one recognizer session and one
front end per pass; for independent files, :func:`hear_file` skips the later passes when the first
one is already clear (``RecognizerConfig.more_passes_below``). Figures: README, "Hearing in a gym".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from voiceskill.denoise import Denoiser, WebRtcFilter, front_end
from voiceskill.recognizer import Recognizer, SpeechModel, Transcript, join, recognize_pcm
from voiceskill.settings import RecognizerConfig

log = logging.getLogger(__name__)


FrontEnd = Denoiser | WebRtcFilter
"""What cleans a pass's audio: :mod:`voiceskill.denoise`'s Wiener denoiser or WebRTC filter."""


@dataclass(frozen=True)
class Heard:
    """What one pass heard of a whole question."""

    name: str
    transcript: Transcript


class Ear(Protocol):
    """The passes stage's contract: what the live loop hears questions with (one or more passes;
    :class:`MultiPassRecognizer`)."""

    def accept(self, chunk: bytes) -> Transcript | None:
        """Feed one chunk to every pass; the first pass's final, if an endpoint ended a segment."""

    def reset(self) -> None:
        """Start a new question."""

    def hear(self, keep_speaker: bool = False) -> list[Heard]:
        """End the question: every pass's transcript of it."""

    def learn_noise(self, chunk: bytes) -> None:
        """Audio between questions, for the passes' noise estimates."""

    def forget_speaker(self) -> None:
        """The next question starts without the last speaker's adaptation."""


class _Pass:
    def __init__(self, name: str, denoiser: FrontEnd | None, recognizer: Recognizer) -> None:
        self.name = name
        self.denoiser = denoiser
        self.recognizer = recognizer
        self.finals: list[Transcript] = []

    def feed(self, chunk: bytes) -> Transcript | None:
        audio = chunk if self.denoiser is None else self.denoiser.process(chunk)
        final = self.recognizer.accept(audio)
        if final is not None and final.text.strip():
            self.finals.append(final)
        return final

    def end(self, keep_speaker: bool) -> tuple[Transcript, Transcript]:
        """Flush: (the last segment, the whole question since the last reset)."""
        if self.denoiser is not None and self.denoiser.latency_samples:  # flush its delay
            self.feed(bytes(2 * self.denoiser.latency_samples))
        last = self.recognizer.finish(keep_speaker)
        return last, join([*self.finals, last])


class MultiPassRecognizer:
    """Several (denoiser, recognizer) passes behind the :class:`Recognizer` interface.

    ``accept``, ``partial`` and ``finish`` report the first pass, as a single recognizer would
    (its finals feed the orchestrator's end-of-speech logic). :meth:`hear` ends the question
    instead and returns every pass's transcript of all of it. Either one ends the question;
    :meth:`reset` starts the next. Used from one thread (the orchestrator's); not thread-safe.
    """

    def __init__(self, passes: Sequence[tuple[str, FrontEnd | None, Recognizer]]) -> None:
        if not passes:
            raise ValueError("at least one pass")
        self._passes = [_Pass(n, d, r) for n, d, r in passes]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self._passes)

    def accept(self, chunk: bytes) -> Transcript | None:
        results = [p.feed(chunk) for p in self._passes]
        return results[0]

    def partial(self) -> str:
        return self._passes[0].recognizer.partial()

    def hear(self, keep_speaker: bool = False) -> list[Heard]:
        """End the question: every pass's transcript of everything fed since :meth:`reset`
        (``keep_speaker``: see :meth:`Recognizer.finish`)."""
        return [Heard(p.name, p.end(keep_speaker)[1]) for p in self._passes]

    def finish(self, keep_speaker: bool = False) -> Transcript:
        """End the question: the first pass's last segment (the Recognizer contract)."""
        return [p.end(keep_speaker)[0] for p in self._passes][0]

    def forget_speaker(self) -> None:
        """The next question starts fresh in every pass."""
        for p in self._passes:
            p.recognizer.forget_speaker()

    def reset(self) -> None:
        """Start a new question. Denoisers keep their noise estimates (and 30 ms of delay line)."""
        for p in self._passes:
            p.recognizer.reset()
            p.finals = []

    def learn_noise(self, chunk: bytes) -> None:
        """Audio known to hold no speech (the orchestrator while idle) sharpens every denoiser."""
        for p in self._passes:
            if p.denoiser is not None:
                p.denoiser.learn_noise(chunk)

    def close(self) -> None:
        for p in self._passes:
            close = getattr(p.recognizer, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> MultiPassRecognizer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def hear_file(pcm: bytes, passes: Sequence[tuple[str, Recognizer]], *, rate_hz: int, chunk_ms: int,
              settled: Callable[[Sequence[Heard]], bool] | None = None, keep_speaker: bool = False) -> list[Heard]:
    """The passes' transcripts of a whole buffer (a file), in order: each pass cleans the whole
    buffer first (:meth:`Denoiser.process_file`, noise estimated from its quietest frames), then
    recognizes it. With ``settled``, the passes stop as soon as it says the hypotheses so far are
    enough (clear speech is then heard fewer times). ``keep_speaker``: the file is one of a
    person's consecutive questions: every pass hears it (so every pass keeps adapting) and keeps
    what it adapted to for the next file."""
    out: list[Heard] = []
    for name, recognizer in passes:
        denoiser = front_end(name, rate_hz)
        audio = pcm if denoiser is None else denoiser.process_file(pcm)
        recognizer.reset()
        out.append(Heard(name, recognize_pcm(recognizer, audio, chunk_ms, rate_hz, keep_speaker)))
        if not keep_speaker and settled is not None and settled(out):
            break
    return out


def open_passes(model: SpeechModel, config: RecognizerConfig, vocabulary: Iterable[str] | None) -> MultiPassRecognizer:
    """A :class:`MultiPassRecognizer` with one recognizer session (and denoiser) per pass of
    ``config.passes``, over one loaded model."""
    words = None if vocabulary is None else list(vocabulary)
    return MultiPassRecognizer([(name, front_end(name, config.rate_hz), model.recognizer(config, words))
                                for name in config.passes])
