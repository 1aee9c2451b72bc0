"""Barge-in benchmark for the speaker stage: how fast stop() silences the output, how soon a
say() is heard, and what synthesis costs cold versus cached.

Runs against fresh PulseAudio null sinks (tests/pulse.py) unless ``--device`` names a real
output device (then only the synthesis figures are measured, as nothing records the speaker).

* stop latency: a continuous tone is played, stop() is called at a random point, and the time
  from the call to the last loud 10 ms block in the sink's monitor capture is measured. The
  capture runs in near real time (parec with 10 ms latency, chunks stamped on arrival), so each
  captured sample gets a monotonic time; the error is about +-10 ms.
* first sound: time from say() (cached answer) to the first sample handed to PortAudio, to the
  driver's estimate of it reaching the DAC, and to its arrival in the monitor capture.
* synthesis: per answer, cold (worker start on the first) vs from the disk cache vs memory.

    python3 benchmarks/bargein_bench.py --trials 30
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from voiceskill.speaker import DeviceSpeaker, Synthesizer  # noqa: E402
from voiceskill.settings import SpeakerConfig  # noqa: E402

CAPTURE_HZ = 16_000
LOUD = 300  # int16 peak in a 10 ms block that counts as sound


def _article_sentences(n: int) -> list[str]:
    text = (REPO / "voiceskill" / "data" / "glute-cramps.txt").read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in text.split("\n\n") if len(p.strip()) > 80]
    return paragraphs[:n]


def _summary(name: str, values_ms: list[float]) -> str:
    if not values_ms:
        return f"{name:<38} (no data)"
    ordered = sorted(values_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"{name:<38} n={len(ordered):>3}  p50 {statistics.median(ordered):7.1f} ms  "
            f"p95 {p95:7.1f} ms  max {ordered[-1]:7.1f} ms")


class StampedCapture:
    """parec on a monitor source; every chunk is stamped with time.monotonic() on arrival."""

    def __init__(self, source: str) -> None:
        import subprocess

        self._proc = subprocess.Popen(
            ["parec", f"--device={source}", "--raw", "--format=s16le", f"--rate={CAPTURE_HZ}",
             "--channels=1", "--latency-msec=10"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._chunks: list[tuple[float, bytes]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        while data := self._proc.stdout.read1(4096):
            self._chunks.append((time.monotonic(), data))

    def stop(self) -> tuple[np.ndarray, np.ndarray]:
        """(int16 samples, monotonic time of each sample)."""
        self._proc.terminate()
        self._proc.wait()
        self._thread.join()
        samples, times = [], []
        leftover = b""
        for arrived, data in self._chunks:
            data = leftover + data
            usable = len(data) // 2 * 2
            leftover = data[usable:]
            x = np.frombuffer(data[:usable], dtype="<i2")
            samples.append(x)
            times.append(arrived - (x.size - 1 - np.arange(x.size)) / CAPTURE_HZ)
        return np.concatenate(samples), np.concatenate(times)


def _loud_times(samples: np.ndarray, times: np.ndarray) -> np.ndarray:
    n = CAPTURE_HZ // 100
    m = samples.size // n * n
    env = np.abs(samples[:m].astype(np.int32)).reshape(-1, n).max(axis=1)
    return times[:m].reshape(-1, n)[:, -1][env > LOUD]


def bench_stop(speaker: DeviceSpeaker, monitor: str, trials: int, rng: random.Random) -> list[float]:
    rate = speaker.rate_hz
    t = np.arange(12 * rate) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()
    latencies = []
    for _ in range(trials):
        capture = StampedCapture(monitor)
        time.sleep(0.3)
        speaker.play_pcm(tone, rate, "tone")
        time.sleep(rng.uniform(0.5, 2.5))
        stop_at = time.monotonic()
        speaker.stop()
        time.sleep(0.5)
        samples, times = capture.stop()
        loud = _loud_times(samples, times)
        if loud.size:
            latencies.append(max(0.0, (loud[-1] - stop_at) * 1000))
    return latencies


def bench_first_sound(speaker: DeviceSpeaker, monitor: str, text: str,
                      trials: int) -> tuple[list[float], list[float], list[float]]:
    handed, dac, heard = [], [], []
    speaker.prepare([text])
    for _ in range(trials):
        capture = StampedCapture(monitor)
        time.sleep(0.3)
        said_at = time.monotonic()
        utt = speaker.say(text)
        time.sleep(0.6)
        speaker.stop()
        samples, times = capture.stop()
        loud = _loud_times(samples, times)
        if utt.first_sample_at is not None:
            handed.append((utt.first_sample_at - said_at) * 1000)
        if utt.first_sample_dac_at is not None:
            dac.append((utt.first_sample_dac_at - said_at) * 1000)
        after = loud[loud > said_at]
        if after.size:
            heard.append((after[0] - said_at) * 1000)
        time.sleep(0.2)
    return handed, dac, heard


def bench_synthesis(texts: list[str], cache_dir: Path) -> None:
    config = SpeakerConfig(cache_dir=cache_dir)
    cold, disk, memory = [], [], []
    with Synthesizer(config) as synth:
        for text in texts:
            started = time.monotonic()
            synth.pcm(text)
            cold.append((time.monotonic() - started) * 1000)
    with Synthesizer(config) as synth:
        for text in texts:
            started = time.monotonic()
            synth.pcm(text)
            disk.append((time.monotonic() - started) * 1000)
        for text in texts:
            started = time.monotonic()
            synth.pcm(text)
            memory.append((time.monotonic() - started) * 1000)
    chars = statistics.mean(len(t) for t in texts)
    print(f"synthesis of {len(texts)} answers (mean {chars:.0f} chars):")
    print("  " + _summary("first answer, cold (starts the worker)", cold[:1]))
    print("  " + _summary("later answers, cold", cold[1:]))
    print("  " + _summary("from the disk cache", disk))
    print("  " + _summary("from memory", memory))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--answers", type=int, default=8, help="answers for the synthesis figures")
    parser.add_argument("--latency-ms", type=int, default=SpeakerConfig.latency_ms)
    parser.add_argument("--block-ms", type=int, default=SpeakerConfig.block_ms)
    parser.add_argument("--device", help="a real output device: synthesis figures only")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    texts = _article_sentences(args.answers)
    with tempfile.TemporaryDirectory() as tmp:
        bench_synthesis(texts, Path(tmp) / "synth")
        if args.device:
            return 0
        from pulse import pulse_null_sinks

        config = SpeakerConfig(device="pulse", cache_dir=Path(tmp) / "play",
                               latency_ms=args.latency_ms, block_ms=args.block_ms)
        with pulse_null_sinks() as pa, DeviceSpeaker(config) as speaker:
            print(f"playback: PulseAudio null sink via ALSA 'pulse', {speaker.rate_hz} Hz, "
                  f"block {args.block_ms} ms, asked latency {args.latency_ms} ms")
            stops = bench_stop(speaker, pa.speaker_monitor, args.trials, rng)
            print("  " + _summary("stop() -> output silent", stops))
            handed, dac, heard = bench_first_sound(speaker, pa.speaker_monitor, texts[0], args.trials)
            print("  " + _summary("say() -> first sample to PortAudio", handed))
            print("  " + _summary("say() -> first sample at DAC (estimate)", dac))
            print("  " + _summary("say() -> first sample in the capture", heard))
            print(f"  output underflows during the run: {speaker.underflows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
