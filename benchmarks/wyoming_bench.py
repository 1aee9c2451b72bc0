#!/usr/bin/env python3
"""``voiceskill wyoming`` measured the way Home Assistant uses it, with the ``wyoming`` client library.

Usage: python3 benchmarks/wyoming_bench.py [--clients 50] [--rounds 20] [--questions 20]
                                           [--snrs clean,10] [--pace realtime|fast] [--no-tts]

Starts ``voiceskill wyoming --uri tcp://127.0.0.1:PORT`` as a child process and reports:

1. **ready**: process start -> the first ``describe`` answered (and the server's own "ready in"
   log line).
2. **handle**: ``--rounds`` rounds of ``--clients`` concurrent clients, each opening its own
   connection (as Home Assistant does per utterance), sending a ``transcript`` with its own
   conversation id (questions from the shared dev set, then "tell me more") and reading the
   ``handled``/``not-handled`` reply; round trip = connect -> reply, p50/p95/max.
3. **asr**: rendered dev questions (tests/audio_fixtures.py; ``--snrs``) of 2-4.5 s, streamed as a
   satellite does (``Transcribe``, ``AudioStart``, 1024-sample chunks at real-time pace unless
   ``--pace fast``, ``AudioStop``); latency = ``AudioStop`` sent -> ``Transcript`` received,
   p50/p95/max, and the share routed to the right topic.
4. **peak RSS** of the server (``os.wait4`` after SIGTERM), and its exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from wyoming.asr import Transcribe, Transcript  # noqa: E402
from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.info import Describe, Info  # noqa: E402

SAMPLES_PER_CHUNK = 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * len(xs)) - 1))] if xs else float("nan")


def summary(name: str, ms: list[float]) -> str:
    return (f"{name}: n={len(ms)} p50 {statistics.median(ms):.1f} ms, p95 {pct(ms, 95):.1f} ms, "
            f"max {max(ms):.1f} ms")


async def wait_ready(port: int, proc: subprocess.Popen[bytes], started: float) -> tuple[float, Info]:
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Describe().event())
                event = await asyncio.wait_for(client.read_event(), 10)
                assert event is not None
                return time.perf_counter() - started, Info.from_event(event)
        except (ConnectionError, OSError):
            await asyncio.sleep(0.01)


async def one_handle(port: int, text: str, conversation: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcript(text=text, context={"conversation_id": conversation}).event())
        event = await asyncio.wait_for(client.read_event(), 30)
    elapsed = (time.perf_counter() - t0) * 1000
    assert event is not None
    return elapsed, event.type


async def bench_handle(port: int, clients: int, rounds: int, questions: list[str]) -> list[float]:
    times: list[float] = []
    for r in range(rounds):
        texts = [questions[(r * clients + i) % len(questions)] if r % 2 == 0 else "tell me more"
                 for i in range(clients)]
        results = await asyncio.gather(*(one_handle(port, texts[i], f"bench-{i}") for i in range(clients)))
        times.extend(ms for ms, _ in results)
    return times


def read_wav(path: Path) -> tuple[int, int, int, bytes]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getsampwidth(), w.getnchannels(), w.readframes(w.getnframes())


async def one_asr(port: int, path: Path, realtime: bool) -> tuple[float, str, float]:
    rate, width, channels, frames = read_wav(path)
    step = SAMPLES_PER_CHUNK * width * channels
    seconds = len(frames) / (rate * width * channels)
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        t_start = time.perf_counter()
        for n, i in enumerate(range(0, len(frames), step)):
            await client.write_event(AudioChunk(rate=rate, width=width, channels=channels,
                                                audio=frames[i:i + step]).event())
            if realtime:  # a microphone: each chunk leaves when it has been recorded
                due = t_start + (n + 1) * SAMPLES_PER_CHUNK / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
        t_stop = time.perf_counter()
        await client.write_event(AudioStop().event())
        event = await asyncio.wait_for(client.read_event(), 60)
        latency = (time.perf_counter() - t_stop) * 1000
    assert event is not None and Transcript.is_type(event.type), event
    return latency, Transcript.from_event(event).text, seconds


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm(pid: int) -> dict[str, float]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


async def main_async(args: argparse.Namespace, port: int, proc: subprocess.Popen[bytes], started: float) -> None:
    from audio_fixtures import answer_ok, load_topics, render_questions
    from evalsets import questions as dev_questions
    from voiceskill.router import Router

    ready_s, info = await wait_ready(port, proc, started)
    programs = [p.name for p in (*info.handle, *info.asr, *info.tts)]
    print(f"ready: first describe answered {ready_s * 1000:.0f} ms after process start ({', '.join(programs)})")
    print(f"  memory after ready: {vm(proc.pid)}")

    texts = [q for _, q in dev_questions()]
    cpu0, own0 = cpu_s(proc.pid), time.process_time()
    times = await bench_handle(port, args.clients, args.rounds, texts)
    server_ms = (cpu_s(proc.pid) - cpu0) * 1000 / len(times)
    client_ms = (time.process_time() - own0) * 1000 / len(times)
    print(summary(f"handle round trip, {args.clients} concurrent clients x {args.rounds} rounds", times))
    print(f"  CPU per request: server {server_ms:.2f} ms, this client {client_ms:.2f} ms")
    print(f"  memory after handle: {vm(proc.pid)}")

    if args.skip_asr:
        return
    router = Router.load()
    topics = load_topics()
    snrs = [s for s in args.snrs.split(",") if s != "clean"]
    rows = [r for r in render_questions(rotations=1, snrs=tuple(snrs) or ("10",))
            if r.snr in args.snrs.split(",") and r.topic != "wake"]
    chosen = []
    for row in rows:
        rate, width, channels, frames = read_wav(row.path)
        if 2.0 <= len(frames) / (rate * width * channels) <= 4.5:
            chosen.append(row)
    chosen = chosen[:args.questions]
    latencies, audio_s, right = [], [], 0
    for row in chosen:
        ms, text, seconds = await one_asr(port, row.path, args.pace == "realtime")
        latencies.append(ms)
        audio_s.append(seconds)
        reply = router.route(text)
        right += answer_ok(row.topic, reply.intent, reply.answer, topics)
    print(summary(f"asr AudioStop -> Transcript, {len(chosen)} questions of {min(audio_s):.1f}-{max(audio_s):.1f} s "
                  f"(mean {statistics.mean(audio_s):.1f} s, {args.snrs}, {args.pace} pace)", latencies))
    print(f"  right topic: {right}/{len(chosen)}")
    print(f"  memory after asr: {vm(proc.pid)}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--questions", type=int, default=20)
    p.add_argument("--snrs", default="clean,10", help="which renderings to stream (clean, 10, 5)")
    p.add_argument("--pace", choices=("realtime", "fast"), default="realtime")
    p.add_argument("--no-tts", action="store_true", help="start the server with --no-tts")
    p.add_argument("--quiet", action="store_true", help="start the server with -q (no log line per request)")
    p.add_argument("--skip-asr", action="store_true", help="only ready time, handle and memory")
    args = p.parse_args()

    port = free_port()
    cmd = [sys.executable, "-m", "voiceskill", "wyoming", "--uri", f"tcp://127.0.0.1:{port}"]
    if args.no_tts:
        cmd.append("--no-tts")
    if args.quiet:
        cmd.insert(3, "-q")
    print(f"server: {' '.join(cmd[1:])}  (cpus: {os.cpu_count()}, load {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a full pipe would block the server
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)
        try:
            asyncio.run(main_async(args, port, proc, started))
        finally:
            proc.send_signal(signal.SIGTERM)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            log.seek(0)
            err = log.read().decode(errors="replace")
    ready = re.search(r"ready in (\d+) ms", err)
    print(f"server log: ready in {ready.group(1) if ready else '?'} ms (its own count, from main())")
    print(f"peak RSS of the server: {usage.ru_maxrss / 1024:.0f} MB; exit code after SIGTERM: {proc.returncode}")
    errors = [line for line in err.splitlines() if " ERROR " in line or "Traceback" in line]
    if errors:
        print("server errors:\n  " + "\n  ".join(errors[:10]))
    return 0 if proc.returncode == 0 and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
