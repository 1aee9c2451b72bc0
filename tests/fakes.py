"""Fake pipeline stages for orchestrator unit tests (the real ones are tested on real devices)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from voiceskill.passes import Heard
from voiceskill.pcm import CHUNK_BYTES


@dataclass
class FakeEvent:
    kind: str
    source: str
    time_s: float


class ScriptedSource:
    """Chunks of silence, or of a marker byte; counts reads so triggers can be scripted by step."""

    problem: str | None = None
    overflows = 0

    def __init__(self, n_chunks: int) -> None:
        self.left = n_chunks
        self.reads = 0
        self.drained = 0

    def read(self, timeout_s: float) -> bytes | None:
        self.reads += 1
        if self.left <= 0:
            return None
        self.left -= 1
        return b"\x01\x00" * (CHUNK_BYTES // 2)

    def drain(self) -> int:
        self.drained += 1
        return 0


class ScriptedTrigger:
    """Emits events at given read counts of a ScriptedSource."""

    def __init__(self, source: ScriptedSource, script: dict[int, str], hold: bool = True) -> None:
        self.source, self.script, self.hold = source, dict(script), hold

    def poll(self, timeout_s: float) -> FakeEvent | None:
        kind = self.script.pop(self.source.reads, None)
        return FakeEvent(kind, "fake", float(self.source.reads)) if kind else None

    def feed(self, chunk: bytes) -> FakeEvent | None:
        return None

    def preroll(self) -> bytes | None:
        return None


@dataclass
class FakeTranscript:
    text: str
    confidences: tuple[float, ...] = ()


class FakeRecognizer:
    """Hears ``text`` once it has been fed ``min_chunks`` chunks."""

    def __init__(self, text: str, min_chunks: int = 1) -> None:
        self.text, self.min_chunks, self.fed, self.resets, self.forgotten = text, min_chunks, 0, 0, 0

    def accept(self, chunk: bytes) -> FakeTranscript | None:
        self.fed += 1
        return None

    def partial(self) -> str:
        return self.text if self.fed >= self.min_chunks else ""

    def finish(self) -> FakeTranscript:
        words = self.text.split() if self.fed >= self.min_chunks else []
        return FakeTranscript(" ".join(words), tuple(1.0 for _ in words))

    def reset(self) -> None:
        self.fed = 0
        self.resets += 1

    # one pass, as the loop hears questions (voiceskill.passes.MultiPassRecognizer)
    def hear(self, keep_speaker: bool = False) -> list[Heard]:
        return [Heard("fake", self.finish())]  # type: ignore[arg-type]

    def learn_noise(self, chunk: bytes) -> None:
        pass

    def forget_speaker(self) -> None:
        self.forgotten += 1


class FakeEndpointer:
    def __init__(self, end_after: int = 10**9) -> None:
        self.end_after, self.fed = end_after, 0

    def feed(self, chunk: bytes) -> str | None:
        self.fed += 1
        return "end" if self.fed == self.end_after else None

    def final_result(self, has_words: bool = True) -> str | None:
        return None

    def listen_noise(self, chunk: bytes) -> None:
        pass

    def reset(self) -> None:
        self.fed = 0


@dataclass
class FakeSpeaker:
    """Speaks for ``speak_reads`` source reads after each say()."""

    source: ScriptedSource
    speak_reads: int = 5
    said: list[str] = field(default_factory=list)
    earcons: list[str] = field(default_factory=list)
    stops: int = 0
    until: int = -1

    def say(self, text: str) -> None:
        self.said.append(text)
        self.until = self.source.reads + self.speak_reads

    def earcon(self, kind: str) -> None:
        self.earcons.append(kind)

    def stop(self) -> None:
        self.stops += 1
        self.until = -1

    @property
    def is_speaking(self) -> bool:
        return self.source.reads < self.until


__all__ = ["ScriptedSource", "ScriptedTrigger", "FakeRecognizer", "FakeEndpointer", "FakeSpeaker", "WavChunkSource"]


class WavChunkSource:
    """An AudioSource that plays a list of 16 kHz int16 clips as 20 ms chunks (for soak runs
    faster than real time): ``queue(pcm)`` adds a clip, silence otherwise."""

    problem: str | None = None
    overflows = 0

    def __init__(self) -> None:
        self.pending: deque[bytes] = deque()

    def queue(self, pcm: bytes) -> None:
        for i in range(0, len(pcm) - CHUNK_BYTES + 1, CHUNK_BYTES):
            self.pending.append(pcm[i:i + CHUNK_BYTES])

    def read(self, timeout_s: float) -> bytes | None:
        if self.pending:
            return self.pending.popleft()
        return bytes(CHUNK_BYTES)

    def drain(self) -> int:
        return 0


class MarkingDenoiser:
    """A denoiser stand-in that XORs every byte with ``mark`` (so a pass's audio is recognizable),
    with a delay of ``latency_samples`` zero samples like the real one; records learned noise."""

    def __init__(self, mark: int, latency_samples: int = 0) -> None:
        self.mark, self.latency_samples = mark, latency_samples
        self._delay = bytes(2 * latency_samples)
        self.learned: list[bytes] = []

    def process(self, chunk: bytes) -> bytes:
        data = self._delay + bytes(b ^ self.mark for b in chunk)
        out, self._delay = data[:len(chunk)], data[len(chunk):]
        return out

    def learn_noise(self, chunk: bytes) -> None:
        self.learned.append(chunk)


class RecordingRecognizer:
    """Records the bytes it is fed; hears ``text`` (with ``conf`` per word) at finish; when
    ``final_every`` > 0 returns a final "seg" every that many chunks."""

    def __init__(self, text: str = "", conf: float = 1.0, final_every: int = 0) -> None:
        self.text, self.conf, self.final_every = text, conf, final_every
        self.fed: list[bytes] = []
        self.resets = 0
        self.kept: list[bool] = []
        """keep_speaker of each finish() call."""
        self.forgotten = 0

    def _transcript(self, text: str):
        from voiceskill.recognizer import Transcript, Word

        return Transcript(text, tuple(Word(w, self.conf, 0.0, 0.0) for w in text.split()), True)

    def accept(self, chunk: bytes):
        self.fed.append(chunk)
        if self.final_every and len(self.fed) % self.final_every == 0:
            return self._transcript("seg")
        return None

    def partial(self) -> str:
        return self.text

    def finish(self, keep_speaker: bool = False):
        self.kept.append(keep_speaker)
        return self._transcript(self.text)

    def reset(self) -> None:
        self.fed = []
        self.resets += 1

    def forget_speaker(self) -> None:
        self.forgotten += 1

class FlakySource(ScriptedSource):
    """A microphone that cannot be opened for its first ``down_reads`` reads (``problem`` says
    why, no audio comes), then delivers like :class:`ScriptedSource`."""

    def __init__(self, n_chunks: int, down_reads: int) -> None:
        super().__init__(n_chunks)
        self.down_reads = down_reads

    @property
    def problem(self) -> str | None:
        return "cannot open input device (default)" if self.reads < self.down_reads else None

    def read(self, timeout_s: float) -> bytes | None:
        if self.reads < self.down_reads:
            self.reads += 1
            return None
        return super().read(timeout_s)


class TopicEmbedder:
    """A stand-in sentence embedding: one dimension per topic, counting that topic's words in the
    text (plus a small constant dimension), normalized; records every text it encodes."""

    def __init__(self, topics: dict[str, tuple[str, ...]]) -> None:
        self.topics = topics
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> Any:
        import numpy as np

        self.seen.extend(texts)
        rows = []
        for text in texts:
            found = text.lower().split()
            rows.append([sum(w in words for w in found) for words in self.topics.values()] + [0.1])
        m = np.array(rows, np.float32)
        return m / np.linalg.norm(m, axis=1, keepdims=True)
