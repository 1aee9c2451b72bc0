#!/usr/bin/env python3
"""Time and peak memory on absurd input (issue 10, rows 1-3 and 19): each probe runs in its own
child process, timed with a wall clock and measured with the child's peak RSS (wait4).

Usage: python benchmarks/hostile_bench.py [--only NAME[,NAME]]

Probes:
  ask-*       `voiceskill ask --json` with hostile standard input (a 1,000-character word, a
              1 MB line, ...): what a user sees.
  route-*     Router.route() on the same text in-process, with no length limit in front of it
              (the library's own bound: `ask` refuses lines over 1,000 characters first).
  wav-*       wavio.read_wav() on WAVs whose header claims absurd rates, and on long legal ones
              (streamed decode + soxr: memory bounded by the 16 kHz output).
  resample-*  the same legal file resampled with soxr (what read_wav does) and with the
              hand-written windowed-sinc resampler (wavio.resample), for the record.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


def run(cmd: list[str], stdin: bytes | tuple[bytes, int] | None = None,
        timeout: float = 300) -> tuple[float, float, int, str]:
    """(wall seconds, peak RSS MB, exit code, last stderr line) of one child process. ``stdin``
    may be ``(piece, times)``: written piece by piece, so that this process stays small (a
    child's peak RSS counts from the fork, i.e. includes this process's size)."""
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as err:
        if isinstance(stdin, tuple):
            for _ in range(stdin[1]):
                inp.write(stdin[0])
            inp.seek(0)
        elif stdin is not None:
            inp.write(stdin)
            inp.seek(0)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=inp, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    return wall, usage.ru_maxrss / 1024, proc.returncode, (lines[-1][:110] if lines else "")


def wav(path: Path, rate_hz: int, seconds: float, channels: int = 1, claimed_rate: int | None = None) -> Path:
    """A 16-bit WAV of a 440 Hz tone (rate in the header may lie: ``claimed_rate``), written by a
    child process so that this one stays small (a child's peak RSS counts from the fork)."""
    subprocess.run([PY, __file__, "--make-wav", str(path), str(rate_hz), str(seconds), str(channels),
                    str(claimed_rate if claimed_rate is not None else rate_hz)], check=True)
    return path


def _make_wav(path: Path, rate_hz: int, seconds: float, channels: int, claimed_rate: int) -> None:
    import numpy as np

    n = int(rate_hz * seconds)
    x = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / rate_hz) * 32767).astype("<i2")
    data = np.repeat(x[:, None], channels, axis=1).tobytes()
    rate = claimed_rate
    block = 2 * channels
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * block) & 0xFFFFFFFF, block, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


ROUTE = ("import sys, time; from voiceskill.router import Router; r = Router.load(); "
         "text = sys.stdin.read(); t = time.perf_counter(); r.route(text); "
         "print(f'route {time.perf_counter() - t:.2f} s', file=sys.stderr)")
READ = ("import sys; from voiceskill.errors import AudioError; from voiceskill.wavio import read_wav\n"
        "try:\n    print(len(read_wav(sys.argv[1])) // 32000, 's out', file=sys.stderr)\n"
        "except AudioError as e:\n    print(e, file=sys.stderr); sys.exit(1)")
RESAMPLE = ("import sys, time, numpy as np, soxr; from voiceskill.wavio import load_wav, resample\n"
            "x, rate = load_wav(sys.argv[1]); t = time.perf_counter()\n"
            "y = soxr.resample(x, rate, 16000, 'HQ') if sys.argv[2] == 'soxr' else resample(x, rate, 16000)\n"
            "print(f'{sys.argv[2]} {time.perf_counter() - t:.2f} s for {len(x) / rate:.0f} s', file=sys.stderr)")


def main() -> int:
    if sys.argv[1:2] == ["--make-wav"]:
        p, rate, seconds, channels, claimed = sys.argv[2:7]
        _make_wav(Path(p), int(rate), float(seconds), int(channels), int(claimed))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated probe names (default: all)")
    args = ap.parse_args()
    only = {n for n in args.only.split(",") if n}
    vs = [PY, "-m", "voiceskill"]
    letters = "".join("abcdefghijklmnopqrstuvwxyz"[(i * 7) % 26] + "glute"[i % 5] for i in range(499))
    words_1mb = ("why do my glutes cramp " * 45_000)[:1_000_000]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        probes: dict[str, tuple[list[str], bytes | tuple[bytes, int] | None]] = {
            "ask-word-1000": (vs + ["ask", "--json"], ("cramp" * 200 + "\n").encode()),
            "ask-letters-998": (vs + ["ask", "--json"], (letters + "\n").encode()),
            "ask-line-1MB-one-word": (vs + ["ask", "--json"], ("a" * 10**6 + "\n").encode()),
            "ask-line-1MB-words": (vs + ["ask", "--json"], (words_1mb + "\n").encode()),
            "ask-line-100MB": (vs + ["ask", "--json"], (b"cramp " * (2**20 // 6), 100)),
            "route-word-1000": ([PY, "-c", ROUTE], ("cramp" * 200).encode()),
            "route-line-1MB-one-word": ([PY, "-c", ROUTE], ("a" * 10**6).encode()),
            "route-line-1MB-words": ([PY, "-c", ROUTE], words_1mb.encode()),
            "wav-4294967295Hz": ([PY, "-c", READ, str(wav(t / "a.wav", 16000, 1.8, claimed_rate=4294967295))], None),
            "wav-999983Hz-59KB": ([PY, "-c", READ, str(wav(t / "b.wav", 16000, 1.8, claimed_rate=999_983))], None),
            "wav-1Hz": ([PY, "-c", READ, str(wav(t / "c.wav", 16000, 1.8, claimed_rate=1))], None),
            "wav-192kHz-8ch-30s": ([PY, "-c", READ, str(wav(t / "d.wav", 192_000, 30, channels=8))], None),
            "wav-44.1kHz-2ch-300s": ([PY, "-c", READ, str(wav(t / "e.wav", 44_100, 300, channels=2))], None),
            "resample-soxr-44.1kHz-300s": ([PY, "-c", RESAMPLE, str(t / "e.wav"), "soxr"], None),
            "resample-sinc-44.1kHz-300s": ([PY, "-c", RESAMPLE, str(t / "e.wav"), "sinc"], None),
        }
        print(f"{'probe':<28} {'wall s':>7} {'peak MB':>8} {'exit':>4}  last stderr line")
        for name, (cmd, stdin) in probes.items():
            if only and name not in only:
                continue
            wall, rss, code, last = run(cmd, stdin)
            print(f"{name:<28} {wall:7.2f} {rss:8.0f} {code:>4}  {last}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
