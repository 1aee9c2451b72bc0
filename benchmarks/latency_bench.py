#!/usr/bin/env python3
"""Live-loop latency, barge-in and long-run memory, through the real audio path.

Usage: python benchmarks/latency_bench.py [--turns 30] [--soak 500] [--soak-speed 4]
                                          [--stress 2] [--latency-ms MS] [--block-ms MS]

Part 1 (latency, barge-in): PulseAudio null sinks as microphone and speaker (tests/pulse.py),
the real Microphone, Vosk recognizer, router, DeviceSpeaker and EvdevTrigger, the trigger fed
real evdev.InputEvents through a pipe (as /dev/input/eventN would). Each turn: key down, a
rendered question played into the microphone sink (paplay), key up; measured from the key-up
event to the first non-silent answer sample handed to PortAudio (and to the driver's DAC-time
estimate for it). Every other turn the key is pressed again 0.5 s into the answer (barge-in):
measured from that key-down to the speaker's stop().
Part 2 (soak): --soak turns in one process, the question audio fed --soak-speed times faster
than real time (a WAV-backed source; everything else real, answers cut by barge-in after their
first sample), RSS sampled every 25 turns.

Playback glitches: with ``--stress N``, ``stress-ng --cpu N`` keeps N cores busy beside the
latency part. Underruns are counted two ways: PortAudio's output-underflow flags seen by the
speaker's callback (``DeviceSpeaker.underflows``), and the ``ALSA lib ... underrun occurred``
lines that alsa-lib prints on file descriptor 2 (read through a pipe; other lines pass through).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import evdev  # noqa: E402
from evdev import ecodes  # noqa: E402

from audio_fixtures import render_questions  # noqa: E402
from fakes import WavChunkSource  # noqa: E402
from pulse import pulse_null_sinks  # noqa: E402
from test_trigger import PipeDevice  # noqa: E402
from voiceskill.audio import Microphone  # noqa: E402
from voiceskill.settings import MicConfig  # noqa: E402
from voiceskill.models import resolve_model_dir  # noqa: E402
from voiceskill.app import build_pipeline  # noqa: E402
from voiceskill.orchestrator import Turn  # noqa: E402
from voiceskill.settings import AppConfig  # noqa: E402
from voiceskill.recognizer import SpeechModel  # noqa: E402
from voiceskill.router import Router  # noqa: E402
from voiceskill.speaker import DeviceSpeaker  # noqa: E402
from voiceskill.settings import SpeakerConfig  # noqa: E402
from voiceskill.trigger import EvdevTrigger  # noqa: E402
from voiceskill.settings import TriggerConfig  # noqa: E402
from voiceskill.wavio import read_wav  # noqa: E402

KEY = ecodes.KEY_PLAYPAUSE


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Fd2Counter:
    """Counts lines on file descriptor 2 (where alsa-lib prints) that contain given words, and
    passes every line on to the real stderr."""

    def __init__(self, words: tuple[str, ...] = ("underrun", "overrun")) -> None:
        self.counts = {w: 0 for w in words}
        self._saved = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._reader = os.fdopen(read_fd, "rb")
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for line in self._reader:
            text = line.decode(errors="replace").lower()
            for w in self.counts:
                if w in text:
                    self.counts[w] += 1
            os.write(self._saved, line)

    def close(self) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)  # the pipe's last writer is gone: the pump ends
        self._thread.join(timeout=2)


class CpuHog:
    """``stress-ng --cpu N`` for the duration of a with-block (None/0: nothing)."""

    def __init__(self, cpus: int) -> None:
        self.cpus = cpus
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "CpuHog":
        if self.cpus:
            if not shutil.which("stress-ng"):
                sys.exit("latency_bench: --stress needs stress-ng (sudo apt-get install stress-ng)")
            self.proc = subprocess.Popen(["stress-ng", "--cpu", str(self.cpus), "--timeout", "3600s", "--quiet"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def questions() -> list[bytes]:
    rows = [r for r in render_questions(snrs=(), voices=("espeak-us", "flite-slt", "festival-kal"))
            if r.topic != "fallback"]
    return [read_wav(r.path) for r in rows]


class Harness:
    """The coach as `voiceskill run` builds it (voiceskill.app.build_pipeline, default settings), with
    the benchmark's microphone, speaker and key device, running in a thread."""

    def __init__(self, model: SpeechModel, router: Router, source, speaker, device: PipeDevice) -> None:
        self.turns: list[Turn] = []
        self.event = threading.Event()
        self.trigger = EvdevTrigger(TriggerConfig(kind="evdev", evdev_keys=("KEY_PLAYPAUSE",)), device)
        self._stack = contextlib.ExitStack()
        self.app = self._stack.enter_context(build_pipeline(
            AppConfig(), router=router, model=model, trigger=self.trigger, speaker=speaker, source=source,
            on_turn=self._on_turn))
        self.orch = self.app.orchestrator
        self.thread = threading.Thread(target=self.orch.run, daemon=True)

    def _on_turn(self, turn: Turn) -> None:
        self.turns.append(turn)
        self.event.set()

    def __enter__(self) -> "Harness":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.orch.request_stop()
        self.thread.join(timeout=10)
        self._stack.close()


def wait_first_sample(turn: Turn, timeout_s: float = 5.0) -> float | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        at = getattr(turn.playback, "first_sample_at", None)
        if at is not None:
            return at
        time.sleep(0.002)
    return None


def latency_part(model: SpeechModel, router: Router, clips: list[bytes], n: int,
                 speaker_config: SpeakerConfig, stress: int) -> None:
    release_to_first: list[float] = []
    release_to_dac: list[float] = []
    bargein: list[float] = []
    fd2 = Fd2Counter()
    phases: dict[str, int] = {}
    load_before = os.getloadavg()[0]
    with pulse_null_sinks("bench") as pa, CpuHog(stress):
        device = PipeDevice()
        with Microphone(MicConfig(device=pa.device)) as mic, \
                DeviceSpeaker(dataclasses.replace(speaker_config, device=pa.device)) as speaker:
            speaker.prepare(router.answers())
            phases = {"idle": 0, "question": 0, "answering": 0, "speaking": 0}
            mark = [speaker.underflows]

            def phase(name: str) -> None:  # underflows since the last mark go to ``name``
                phases[name] += speaker.underflows - mark[0]
                mark[0] = speaker.underflows

            with Harness(model, router, mic, speaker, device) as h:
                for i in range(n):
                    clip = clips[i % len(clips)]
                    h.event.clear()
                    phase("idle")
                    device.key(KEY, 1)
                    time.sleep(0.15)                         # the start earcon
                    pa.play_into_mic(clip)
                    time.sleep(0.1)                          # the mic stream's own latency
                    released = time.monotonic()
                    device.key(KEY, 0)
                    phase("question")
                    if not h.event.wait(10):
                        print(f"turn {i}: no answer", file=sys.stderr)
                        continue
                    turn = h.turns[-1]
                    first = wait_first_sample(turn)
                    phase("answering")
                    if first is None:
                        print(f"turn {i}: answer never started ({turn.transcript!r})", file=sys.stderr)
                        continue
                    release_to_first.append((first - released) * 1000)
                    dac = getattr(turn.playback, "first_sample_dac_at", None)
                    if dac is not None:
                        release_to_dac.append((dac - released) * 1000)
                    if i % 2 == 1:                           # barge in half a second into the answer
                        time.sleep(0.5)
                        pressed = time.monotonic()
                        device.key(KEY, 1)
                        deadline = time.monotonic() + 2
                        while getattr(turn.playback, "finished_at", None) in (None,) or \
                                not getattr(turn.playback, "stopped", False):
                            if time.monotonic() > deadline:
                                break
                            time.sleep(0.001)
                        if getattr(turn.playback, "stopped", False):
                            bargein.append((turn.playback.finished_at - pressed) * 1000)
                        device.key(KEY, 0)                   # an empty question: "didn't catch that"
                        h.event.clear()
                        h.event.wait(5)
                    speaker.wait(15)
                    phase("speaking")
                    time.sleep(0.2)
            phase("idle")
            underflows = speaker.underflows
            latency_ms = speaker.output_latency_s * 1000
            priority = speaker.priority
        load_during = os.getloadavg()[0]
    fd2.close()
    hog = f"CPU hog: stress-ng --cpu {stress}" if stress else "no CPU hog"
    print(f"playback: block {speaker_config.block_ms} ms, latency asked {speaker_config.latency_ms} ms, "
          f"got {latency_ms:.0f} ms, playback threads at {priority} priority; {hog}")
    print(f"underruns over {n} turns: {underflows} PortAudio output-underflow callbacks, "
          f"{fd2.counts['underrun']} ALSA 'underrun occurred' lines ({fd2.counts['overrun']} capture overruns); "
          f"load average {load_before:.1f} before, {load_during:.1f} at the end ({os.cpu_count()} cores, shared)")
    print("underflows by phase: " + ", ".join(f"{k} {v}" for k, v in phases.items())
          + " (question: key down to up; answering: key up to first answer sample; speaking: the answer "
            "(and barge-in) until played; idle: between turns)")
    print(f"turns: {len(release_to_first)} of {n} answered")
    print(f"key release -> first answer sample handed to PortAudio: p50 {statistics.median(release_to_first):.0f} ms, "
          f"p95 {pct(release_to_first, 95):.0f} ms, max {max(release_to_first):.0f} ms")
    if release_to_dac:
        print(f"key release -> that sample due at the DAC (driver estimate): p50 "
              f"{statistics.median(release_to_dac):.0f} ms, p95 {pct(release_to_dac, 95):.0f} ms")
    if bargein:
        print(f"barge-in: key press -> speaker.stop() (output silenced within one {SpeakerConfig().block_ms} ms "
              f"block after): p50 {statistics.median(bargein):.1f} ms, max {max(bargein):.1f} ms over "
              f"{len(bargein)} barge-ins")


def soak_part(model: SpeechModel, router: Router, clips: list[bytes], n: int, speed: float) -> None:
    samples: list[tuple[int, float]] = []
    with pulse_null_sinks("soak") as pa:
        device = PipeDevice()
        source = WavChunkSource()
        with DeviceSpeaker(SpeakerConfig(device=pa.device)) as speaker:
            speaker.prepare(router.answers())
            with Harness(model, router, _Paced(source, speed), speaker, device) as h:
                for i in range(n):
                    h.event.clear()
                    device.key(KEY, 1)
                    time.sleep(0.03)
                    source.queue(clips[i % len(clips)])
                    while source.pending:
                        time.sleep(0.01)
                    device.key(KEY, 0)
                    if not h.event.wait(10):
                        print(f"soak turn {i}: no answer", file=sys.stderr)
                    wait_first_sample(h.turns[-1], 2.0)
                    speaker.stop()
                    if i % 25 == 0 or i == n - 1:
                        samples.append((i, rss_mb()))
    print(f"soak: {len(h.turns)} turns in one process, no crash")
    base = next(mb for i, mb in samples if i >= 50) if n > 50 else samples[0][1]
    print("RSS (MB) by turn: " + ", ".join(f"{i}:{mb:.1f}" for i, mb in samples))
    print(f"RSS growth after warm-up (turn 50 -> last): {samples[-1][1] - base:+.1f} MB; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MB")


class _Paced:
    """Hands out a WavChunkSource's chunks ``speed`` times faster than real time."""

    problem: str | None = None

    def __init__(self, source: WavChunkSource, speed: float) -> None:
        self.source, self.period = source, 0.02 / speed

    def read(self, timeout_s: float) -> bytes | None:
        time.sleep(self.period)
        return self.source.read(timeout_s)

    def drain(self) -> int:
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=30)
    ap.add_argument("--soak", type=int, default=500)
    ap.add_argument("--soak-speed", type=float, default=4.0)
    ap.add_argument("--stress", type=int, default=0, metavar="N",
                    help="keep N cores busy with stress-ng during the latency part")
    ap.add_argument("--latency-ms", type=int, default=SpeakerConfig().latency_ms,
                    help="speaker.latency_ms (default: %(default)s)")
    ap.add_argument("--block-ms", type=int, default=SpeakerConfig().block_ms,
                    help="speaker.block_ms (default: %(default)s)")
    args = ap.parse_args()
    speaker_config = SpeakerConfig(device=None, latency_ms=args.latency_ms, block_ms=args.block_ms)
    router = Router.load()
    clips = questions()
    with SpeechModel(resolve_model_dir()) as model:
        if args.turns:
            latency_part(model, router, clips, args.turns, speaker_config, args.stress)
        if args.soak:
            soak_part(model, router, clips, args.soak, args.soak_speed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
