"""The wake phrase ("hey coach"), spotted in microphone audio with Vosk in grammar mode.

The spotter runs its own small-grammar recognizer on the shared, already loaded model: the
phrase, its single words, a few sound-alike distractors ("okay", "they", "coached", ...) and
``[unk]``, so that other speech is decoded as distractors or ``[unk]`` rather than forced onto the
phrase. A wake needs the phrase's words *in order and adjacent*, and either

- a partial result that has kept the phrase for ``partial_stable_ms`` of further audio (fast:
  the user may go straight on, "hey coach why do my glutes cramp"), or
- a final result in which every phrase word has confidence >= ``min_confidence``.

After a wake, :meth:`WakeSpotter.preroll` gives the audio heard since the phrase ended (the word
end time Vosk reports; ``preroll_ms`` if unknown), so the orchestrator can feed it to the question
recognizer before the live chunks.

Measured with ``benchmarks/wake_bench.py`` (see its docstring for the latest figures).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from types import TracebackType
from typing import Any

from voiceskill.errors import TriggerError
from voiceskill.pcm import RATE_HZ, SAMPLE_WIDTH_BYTES
from voiceskill.settings import WakeConfig

log = logging.getLogger(__name__)



def find_phrase(words: list[str], phrase: tuple[str, ...]) -> int:
    """Index just past the first adjacent occurrence of ``phrase`` in ``words``; -1 if absent."""
    n = len(phrase)
    for i in range(len(words) - n + 1):
        if tuple(words[i:i + n]) == phrase:
            return i + n
    return -1


class WakeSpotter:
    """Feed 20 ms chunks; :meth:`feed` returns True once per spoken wake phrase. Pure (no
    threads); a context manager. ``model`` is a loaded ``vosk.Model`` or a
    :class:`voiceskill.recognizer.SpeechModel` (its vocabulary is then checked)."""

    def __init__(self, model: Any, config: WakeConfig = WakeConfig()) -> None:
        import vosk

        vosk.SetLogLevel(0 if config.debug else -1)
        lexicon = model.lexicon() if hasattr(model, "lexicon") else frozenset()
        missing = [w for w in config.words if lexicon and w not in lexicon]
        if missing:
            raise TriggerError(f"the wake phrase word {missing[0]!r} is not in the speech model's "
                               "vocabulary: choose another [wake] phrase")
        vosk_model = getattr(model, "vosk_model", model)
        self.config = config
        self._words = config.words
        self._rec: Any = vosk.KaldiRecognizer(vosk_model, RATE_HZ, json.dumps(config.grammar()))
        self._rec.SetWords(True)
        self._ring: deque[bytes] = deque()
        self._ring_bytes = 0
        self._max_ring_bytes = self._bytes(config.max_preroll_ms)
        self._fed = 0  # samples fed in total
        self._base = 0  # sample at which the recognizer's clock is 0 (last Reset)
        self._stable = 0  # samples for which the partial has held the phrase
        self._quiet_until = 0  # cooldown end, in samples
        self._wake_end: int | None = None  # sample where the last heard phrase ended

    @staticmethod
    def _bytes(ms: int) -> int:
        return RATE_HZ * ms // 1000 * SAMPLE_WIDTH_BYTES

    def feed(self, chunk: bytes) -> bool:
        """Give one chunk of 16 kHz mono int16 audio; True when the wake phrase was just heard."""
        if self._rec is None:
            raise RuntimeError("the wake spotter is closed")
        self._remember(chunk)
        samples = len(chunk) // SAMPLE_WIDTH_BYTES
        self._fed += samples
        if self._rec.AcceptWaveform(chunk):
            self._stable = 0
            return self._check_final(json.loads(self._rec.Result()), flushed=False)
        partial = json.loads(self._rec.PartialResult()).get("partial", "").split()
        if find_phrase(partial, self._words) < 0:
            self._stable = 0
            return False
        self._stable += samples
        if self._stable * 1000 < self.config.partial_stable_ms * RATE_HZ or self._cooling():
            return False
        self._stable = 0
        # flush: the final result carries the phrase's word times for the pre-roll
        return self._check_final(json.loads(self._rec.FinalResult()), flushed=True)

    def _check_final(self, result: dict[str, Any], *, flushed: bool) -> bool:
        items = result.get("result", [])
        words = [str(w.get("word", "")) for w in items]
        end = find_phrase(words, self._words)
        if end < 0:
            if flushed:  # the partial said so for long enough; the end time is just unknown
                return self._wake(None)
            return False
        confs = [float(w.get("conf", 0.0)) for w in items[end - len(self._words):end]]
        if not flushed and min(confs) < self.config.min_confidence:
            log.debug("wake: phrase heard with low confidence %s", confs)
            return False
        if self._cooling():
            return False
        return self._wake(float(items[end - 1].get("end", 0.0)))

    def _cooling(self) -> bool:
        return self._fed < self._quiet_until

    def _wake(self, end_s: float | None) -> bool:
        if end_s is None:
            start = self._fed - self._bytes(self.config.preroll_ms) // SAMPLE_WIDTH_BYTES
        else:
            # Vosk's word times are in 30 ms frames: start a little early so the question's
            # first sound is not clipped
            start = self._base + int(end_s * RATE_HZ) - RATE_HZ * self.config.end_margin_ms // 1000
        self._wake_end = min(max(start, 0), self._fed)
        self._quiet_until = self._fed + RATE_HZ * self.config.cooldown_ms // 1000
        log.info("wake phrase heard (%s)", "final" if end_s is not None else "partial")
        return True

    def _remember(self, chunk: bytes) -> None:
        self._ring.append(chunk)
        self._ring_bytes += len(chunk)
        while self._ring and self._ring_bytes - len(self._ring[0]) >= self._max_ring_bytes:
            self._ring_bytes -= len(self._ring.popleft())

    def preroll(self) -> bytes:
        """Audio since the last wake phrase ended (at most ``max_preroll_ms``); before any wake,
        the last ``preroll_ms``."""
        audio = b"".join(self._ring)
        if self._wake_end is None:
            keep = self._bytes(self.config.preroll_ms)
        else:
            keep = (self._fed - self._wake_end) * SAMPLE_WIDTH_BYTES
        return audio[len(audio) - min(keep, len(audio)):] if keep > 0 else b""

    def reset(self) -> None:
        """Forget everything heard (call when listening for the phrase starts again)."""
        if self._rec is not None:
            self._rec.Reset()
        self._base = self._fed
        self._stable = 0
        self._ring.clear()
        self._ring_bytes = 0
        self._wake_end = None
        self._quiet_until = 0

    def close(self) -> None:
        self._rec = None

    def __enter__(self) -> WakeSpotter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
