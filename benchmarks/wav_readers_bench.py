#!/usr/bin/env python3
"""Our WAV reader (voiceskill/wavio.py) against libsndfile (the `soundfile` package) on the
files people hand the coach, including the awkward ones: a pipe writer's 0xFFFFFFFF data size,
RF64, an odd-sized chunk padded to even before the data, data cut short, a truncated header, an
MP3 named .wav. Prints what each reader makes of each file and the read time of a 60 s file.

Usage: python benchmarks/wav_readers_bench.py   (needs `pip install soundfile` for the comparison;
soundfile is not a dependency of voiceskill)
"""

from __future__ import annotations

import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from voiceskill.errors import VoiceskillError  # noqa: E402
from voiceskill.wavio import read_wav  # noqa: E402

RATE = 16_000


def _wav(path: Path, data: bytes, *, extra: bytes = b"", size: int | None = None) -> Path:
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, 2 * RATE, 2, 16)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + extra + b"data"
            + struct.pack("<I", len(data) if size is None else size) + data)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + body)
    return path


def cases(tmp: Path, seconds: float = 1.0) -> dict[str, Path]:
    t = np.arange(int(RATE * seconds)) / RATE
    s16 = np.rint(0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()
    out = {"plain 16-bit": _wav(tmp / "plain.wav", s16),
           "pipe writer (size 0xFFFFFFFF)": _wav(tmp / "stream.wav", s16, size=0xFFFFFFFF),
           "odd LIST chunk, padded": _wav(tmp / "list.wav", s16,
                                          extra=b"LIST" + struct.pack("<I", 9) + b"INFOabcde\0")}
    good = out["plain 16-bit"].read_bytes()
    (tmp / "cut.wav").write_bytes(good[:44 + len(s16) // 2 + 1])
    out["data cut short"] = tmp / "cut.wav"
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, 2 * RATE, 2, 16)
    ds64 = struct.pack("<QQQI", 0, len(s16), len(s16) // 2, 0)
    body = (b"WAVE" + b"ds64" + struct.pack("<I", len(ds64)) + ds64 + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", 0xFFFFFFFF) + s16)
    (tmp / "rf64.wav").write_bytes(b"RF64" + struct.pack("<I", 0xFFFFFFFF) + body)
    out["RF64"] = tmp / "rf64.wav"
    (tmp / "trunc.wav").write_bytes(good[:30])
    out["header cut in fmt"] = tmp / "trunc.wav"
    (tmp / "mp3.wav").write_bytes(b"ID3\x03" + bytes(100))
    out["MP3 named .wav"] = tmp / "mp3.wav"
    return out


def ours(path: Path) -> str:
    try:
        return f"{len(read_wav(path)) // 2} samples"
    except VoiceskillError as exc:
        return f"error: {exc}"


def libsndfile(path: Path) -> str:
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="int16")
        return f"{len(data)} samples at {rate} Hz"
    except Exception as exc:  # noqa: BLE001 - report whatever libsndfile says
        return f"error: {exc}"


def main() -> int:
    try:
        import soundfile  # noqa: F401
    except ImportError:
        print("soundfile is not installed: pip install soundfile (only for this comparison)")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in cases(Path(tmp)).items():
            print(f"{name}\n  voiceskill.wavio: {ours(path)[:150]}\n  libsndfile:       {libsndfile(path)[:150]}")
        long = cases(Path(tmp), seconds=60.0)["plain 16-bit"]
        for label, read in (("voiceskill.wavio", ours), ("libsndfile", libsndfile)):
            start = time.perf_counter()
            for _ in range(20):
                read(long)
            print(f"read 60 s, {label}: {(time.perf_counter() - start) / 20 * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
