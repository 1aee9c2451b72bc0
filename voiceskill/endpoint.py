"""End of speech by silence, for tap-to-talk and wake-phrase questions (no key release).

:class:`Endpointer` looks at the energy of each 20 ms chunk against an adaptive noise floor:

- level: the chunk's energy between ``band_low_hz`` and ``band_high_hz`` (where voices are
  strong and the gym's kick drum and rumble are not), averaged over ``smooth_ms``, in dBFS;
- noise floor: a percentile (``noise_percentile``) of the levels of the last ``noise_window_ms``
  of non-speech chunks before the question's speech started (then it is frozen, so quiet
  syllables cannot raise it), never below ``min_floor_db``. It follows the room (quiet flat or
  gym), is kept across :meth:`Endpointer.reset`, and is learnt from the first 400 ms of each
  question or, better, beforehand with :meth:`Endpointer.listen_noise` (idle chunks);
- a chunk is speech when its level is ``margin_db`` over the floor.

``feed`` returns ``"speech_start"`` once ``min_speech_ms`` of speech came, ``"end"`` after
``silence_ms`` without speech (or ``max_utterance_ms`` after speech began), ``"timeout"`` when
nobody spoke for ``no_speech_timeout_ms``. The recognizer's own endpoint (a final result with
words) ends the utterance too: :meth:`Endpointer.final_result`, whichever comes first. Pure: no
threads, no clocks (time is counted in fed audio).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Literal

import numpy as np

from voiceskill.pcm import CHUNK_MS, RATE_HZ, SAMPLE_WIDTH_BYTES, pcm_to_float
from voiceskill.settings import EndpointConfig

log = logging.getLogger(__name__)

EndpointEvent = Literal["speech_start", "end", "timeout"]


def band_power(chunk: bytes, low_hz: float, high_hz: float) -> float:
    """Mean power per sample of the chunk between ``low_hz`` and ``high_hz`` (full scale = 1)."""
    x = pcm_to_float(chunk)
    if x.size < 16:
        return 0.0
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1.0 / RATE_HZ)
    band = (freqs >= low_hz) & (freqs <= high_hz)
    # Parseval with the Hann window's power gain (0.375): comparable to mean(x**2)
    return float(2.0 * spectrum[band].sum() / (x.size * x.size * 0.375))


def to_db(power: float) -> float:
    return 10.0 * math.log10(power) if power > 1e-10 else -100.0


class Endpointer:
    """Energy endpointing for one question at a time; :meth:`reset` before the next one."""

    def __init__(self, config: EndpointConfig = EndpointConfig()) -> None:
        self.config = config
        self._noise: deque[float] = deque(maxlen=max(1, config.noise_window_ms // CHUNK_MS))
        self._smooth: deque[float] = deque(maxlen=max(1, config.smooth_ms // CHUNK_MS))
        self._recent: deque[bool] = deque(maxlen=max(1, (config.min_speech_ms + 200) // CHUNK_MS))
        self._tail: deque[bool] = deque(maxlen=max(1, config.silence_ms // CHUNK_MS))
        self.level_db = -100.0
        self.reset()

    def reset(self) -> None:
        """Start a new question. The learnt noise floor is kept."""
        self._ms = 0.0  # audio fed since reset
        self._started_ms: float | None = None  # when the speech that started the question began
        self._recent.clear()
        self._tail.clear()
        self._done = False

    @property
    def started(self) -> bool:
        """Whether speech has started in this question."""
        return self._started_ms is not None

    @property
    def done(self) -> bool:
        """Whether this question already ended (or timed out)."""
        return self._done

    @property
    def noise_db(self) -> float:
        """The current noise floor in dBFS."""
        if not self._noise:
            return self.config.min_floor_db
        floor = float(np.percentile(np.fromiter(self._noise, float), self.config.noise_percentile))
        return max(floor, self.config.min_floor_db)

    def _level(self, chunk: bytes) -> float:
        self._smooth.append(band_power(chunk, self.config.band_low_hz, self.config.band_high_hz))
        self.level_db = to_db(sum(self._smooth) / len(self._smooth))
        return self.level_db

    def _is_speech(self, level: float) -> bool:
        margin = self.config.margin_db if self._started_ms is None else self.config.hold_margin_db
        speech = len(self._noise) >= (self._recent.maxlen or 0) and level > self.noise_db + margin
        if not speech and self._started_ms is None:
            self._noise.append(level)
        return speech

    def listen_noise(self, chunk: bytes) -> None:
        """Learn the room from a chunk known to hold no question (e.g. while idle)."""
        self._noise.append(self._level(chunk))

    def feed(self, chunk: bytes) -> EndpointEvent | None:
        """Give the next chunk of the question's audio; the event it causes, if any."""
        if self._done:
            return None
        cfg = self.config
        self._ms += len(chunk) / SAMPLE_WIDTH_BYTES * 1000.0 / RATE_HZ
        speech = self._is_speech(self._level(chunk))
        self._recent.append(speech)
        if self._started_ms is None:
            if sum(self._recent) * CHUNK_MS >= cfg.min_speech_ms:
                self._started_ms = self._ms - len(self._recent) * CHUNK_MS
                log.debug("speech started at %.0f ms (level %.1f dB, floor %.1f dB)", self._ms,
                          self.level_db, self.noise_db)
                return "speech_start"
            if self._ms >= cfg.no_speech_timeout_ms:
                return self._finish("timeout")
            return None
        self._tail.append(speech)
        quiet = len(self._tail) == self._tail.maxlen and sum(self._tail) * CHUNK_MS <= cfg.blip_ms
        if quiet and not self._tail[-1]:
            return self._finish("end")
        if self._ms - self._started_ms >= cfg.max_utterance_ms:
            log.info("question cut off after %d ms", cfg.max_utterance_ms)
            return self._finish("end")
        return None

    def final_result(self, has_words: bool = True) -> EndpointEvent | None:
        """The recognizer reports a final result (its own endpoint). With words, the question
        ends now: returns ``"end"`` (once); an empty final result changes nothing."""
        if self._done or not has_words:
            return None
        return self._finish("end")

    def _finish(self, event: EndpointEvent) -> EndpointEvent:
        self._done = True
        log.debug("endpoint: %s after %.0f ms (floor %.1f dB)", event, self._ms, self.noise_db)
        return event
