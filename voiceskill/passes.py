"""Hearing in several passes: the same question decoded from differently cleaned copies of the audio.

A small acoustic model loses different words in different versions of noisy audio: the raw signal,
a mildly denoised one, a strongly denoised one. Each *pass* is one front end (a
:class:`~voiceskill.denoise.Denoiser` preset, or none) in front of its own recognizer session;
every chunk goes through every pass. The router then reads every pass's transcript and
:func:`best_hypothesis` keeps the one it is most confident about; in clean audio the passes agree.

Measured with ``benchmarks/recognizer_bench.py`` (modes ``frames1`` = one plain pass, ``frames``
= the default passes) on the development questions in 9 voices: see the README ("Hearing in a
gym") for the figures. ``plain`` + ``strong`` was as good as all three presets together. Cost: one
recognizer session and one denoiser per pass; for files, :func:`hear_file` skips the later passes
when the first one is already clear (``RecognizerConfig.more_passes_below``).

Presets (:data:`voiceskill.denoise.PRESETS`): ``plain`` = the audio as it is; ``denoised`` = the default
:class:`~voiceskill.denoise.DenoiseConfig` suppression; ``strong`` = twice the noise estimate
subtracted, with a -12 dB gain floor.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from types import TracebackType

from voiceskill.denoise import PRESETS, Denoiser
from voiceskill.recognizer import Recognizer, RecognizerConfig, SpeechModel, Transcript, join, recognize_pcm
from voiceskill.router import Router

log = logging.getLogger(__name__)


def denoiser_for(name: str, rate_hz: int) -> Denoiser | None:
    """A fresh denoiser for pass ``name`` (None for ``plain``)."""
    preset = PRESETS[name]
    return None if preset is None else Denoiser(replace(preset, rate_hz=rate_hz))


@dataclass(frozen=True)
class Heard:
    """What one pass heard of a whole question."""

    name: str
    transcript: Transcript


def best_hypothesis(heard: Sequence[Heard], confidence: Callable[[Transcript], float]) -> Heard:
    """The hypothesis the router is most confident about (the first one on ties).

    ``confidence`` scores one transcript, e.g. ``lambda t: router.route(t.text, t.confidences)
    .confidence``. A pass that heard nothing loses to any pass that heard something."""
    if not heard:
        raise ValueError("no hypotheses")
    best, best_score = heard[0], -math.inf
    for h in heard:
        score = confidence(h.transcript) if h.transcript.text.strip() else -1.0
        if score > best_score:
            best, best_score = h, score
    return best


def router_confidence(router: Router) -> Callable[[Transcript], float]:
    """Scores a transcript by the router's confidence in it (for :func:`best_hypothesis`)."""
    return lambda t: router.route(t.text, t.confidences).confidence


class _Pass:
    def __init__(self, name: str, denoiser: Denoiser | None, recognizer: Recognizer) -> None:
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

    def end(self) -> tuple[Transcript, Transcript]:
        """Flush: (the last segment, the whole question since the last reset)."""
        if self.denoiser is not None and self.denoiser.latency_samples:  # flush its delay
            self.feed(bytes(2 * self.denoiser.latency_samples))
        last = self.recognizer.finish()
        return last, join([*self.finals, last])


class MultiPassRecognizer:
    """Several (denoiser, recognizer) passes behind the :class:`Recognizer` interface.

    ``accept``, ``partial`` and ``finish`` report the first pass, as a single recognizer would
    (its finals feed the orchestrator's end-of-speech logic). :meth:`hear` ends the question
    instead and returns every pass's transcript of all of it. Either one ends the question;
    :meth:`reset` starts the next. Used from one thread (the orchestrator's); not thread-safe.
    """

    def __init__(self, passes: Sequence[tuple[str, Denoiser | None, Recognizer]]) -> None:
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

    def hear(self) -> list[Heard]:
        """End the question: every pass's transcript of everything fed since :meth:`reset`."""
        return [Heard(p.name, p.end()[1]) for p in self._passes]

    def finish(self) -> Transcript:
        """End the question: the first pass's last segment (the Recognizer contract)."""
        return [p.end()[0] for p in self._passes][0]

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
              confidence: Callable[[Transcript], float] | None = None, enough: float = 1.0) -> list[Heard]:
    """The passes' transcripts of a whole buffer (a file), in order: each pass cleans the whole
    buffer first (:meth:`Denoiser.process_file`, noise estimated from its quietest frames), then
    recognizes it. With ``confidence``, the passes stop as soon as one scores ``enough`` or more
    (clear speech is then heard once)."""
    out = []
    for name, recognizer in passes:
        denoiser = denoiser_for(name, rate_hz)
        audio = pcm if denoiser is None else denoiser.process_file(pcm)
        recognizer.reset()
        heard = Heard(name, recognize_pcm(recognizer, audio, chunk_ms, rate_hz))
        out.append(heard)
        if confidence is not None and heard.transcript.text.strip() and confidence(heard.transcript) >= enough:
            break
    return out


def open_passes(model: SpeechModel, config: RecognizerConfig, vocabulary: Iterable[str] | None) -> MultiPassRecognizer:
    """A :class:`MultiPassRecognizer` with one recognizer session (and denoiser) per pass of
    ``config.passes``, over one loaded model."""
    words = None if vocabulary is None else list(vocabulary)
    return MultiPassRecognizer([(name, denoiser_for(name, config.rate_hz), model.recognizer(config, words))
                                for name in config.passes])


def hear_file_best(pcm: bytes, passes: Sequence[tuple[str, Recognizer]], config: RecognizerConfig,
                   confidence: Callable[[Transcript], float]) -> Heard:
    """What ``voiceskill listen`` hears in a file: :func:`hear_file` with ``config``'s chunking and
    ``more_passes_below``, then the :func:`best_hypothesis`."""
    heard = hear_file(pcm, passes, rate_hz=config.rate_hz, chunk_ms=config.file_chunk_ms,
                      confidence=confidence, enough=config.more_passes_below)
    return best_hypothesis(heard, confidence)
