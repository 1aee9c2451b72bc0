"""Real audio devices on a headless machine: PulseAudio null sinks (a test helper, not a conftest).

Usage::

    from pulse import pulse_null_sinks

    def test_something():
        with pulse_null_sinks() as pa:          # skips (fails in CI) without PulseAudio
            mic = Microphone(MicConfig(device=pa.device))
            pa.play_into_mic(pcm)                # heard by anything capturing pa.mic_source
            rec = pa.start_recording()           # parec on the speaker sink's monitor
            ...                                  # play into pa.device (goes to pa.speaker_sink)
            captured = rec.stop()                # 16 kHz mono int16 bytes

How the pieces connect (found by experiment on Debian 12, PulseAudio 16.1, PortAudio 19.6):

* PortAudio has no native PulseAudio host API in the Debian build; it reaches PulseAudio through
  ALSA's ``pulse`` plugin (Debian package ``libasound2-plugins``), which shows up as the
  PortAudio devices ``pulse`` and ``default``.
* The sink/source is chosen **per stream** by the environment variables ``PULSE_SINK`` /
  ``PULSE_SOURCE``: libpulse reads them when the ALSA plugin creates its context, i.e. each time
  a stream is *opened*. Setting ``os.environ`` before opening a stream is enough; streams opened
  earlier keep their sink. (Alternatives: an ALSA config entry ``pcm.NAME { type pulse; device
  SINK }`` in ``~/.asoundrc`` makes a named PortAudio device after PortAudio re-initialises, or
  ``pactl move-sink-input`` after opening.) :func:`pulse_null_sinks` sets both variables in
  ``os.environ`` for the duration of the ``with`` block and restores them afterwards.
* A null sink renders ahead by its *requested* latency, which is 2 s while no stream asks for
  less, and a later low-latency stream does not undo that. A playback stream opened on such a
  sink stalls for up to 2 s (the PortAudio callback is called only to prefill, then nothing).
  The helper therefore keeps one low-latency ``parec`` ("keeper") on each sink's monitor for
  the whole block (which also stops the sink from suspending when idle), then suspends and
  resumes the sink (``pactl suspend-sink S 1/0``) so it restarts at the keeper's 10 ms, and
  waits until it reports a latency below :data:`PRIMED_LATENCY_MS`.
* With ALSA's pulse plugin, PortAudio output blocks of 10 ms at 20 ms latency underrun
  constantly; 20 ms blocks with >= 40 ms latency run cleanly.
* As root, ``pulseaudio -D`` works (it warns that it is not meant for root);
  ``--exit-idle-time`` makes a daemon this helper started exit by itself once idle.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from conftest import require

RATE_HZ = 16_000
PRIMED_LATENCY_MS = 60.0
DAEMON_IDLE_EXIT_S = 60
_PACTL_TIMEOUT_S = 10.0


def pulse_tools_present() -> bool:
    return all(shutil.which(tool) for tool in ("pulseaudio", "pactl", "pacmd", "paplay", "parec"))


def _pactl(*args: str) -> str:
    done = subprocess.run(["pactl", *args], capture_output=True, text=True,
                          timeout=_PACTL_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pactl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def server_running() -> bool:
    try:
        _pactl("info")
    except (RuntimeError, subprocess.TimeoutExpired):
        return False
    return True


def ensure_server() -> None:
    """Reuse a running PulseAudio server or start one (works as root, too)."""
    if server_running():
        return
    subprocess.run(["pulseaudio", "-D", f"--exit-idle-time={DAEMON_IDLE_EXIT_S}",
                    "--log-target=stderr"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                   timeout=_PACTL_TIMEOUT_S)
    deadline = time.monotonic() + 10.0
    while not server_running():
        if time.monotonic() > deadline:
            raise RuntimeError("PulseAudio did not start (try `pulseaudio -D` by hand)")
        time.sleep(0.1)


def load_null_sink(name: str) -> int:
    """Load a null sink called ``name``; returns the module index (for :func:`unload_module`)."""
    return int(_pactl("load-module", "module-null-sink", f"sink_name={name}",
                      f"sink_properties=device.description={name}").strip())


def unload_module(index: int) -> None:
    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
        _pactl("unload-module", str(index))


def sink_latency_ms(sink: str) -> float | None:
    """The latency PulseAudio reports for ``sink`` (None if there is no such sink)."""
    for block in _pactl("list", "sinks").split("Sink #")[1:]:
        if re.search(rf"^\s*Name: {re.escape(sink)}$", block, re.M):
            found = re.search(r"^\s*Latency: (\d+) usec", block, re.M)
            return int(found.group(1)) / 1000 if found else None
    return None


def kill_streams(pid: int) -> int:
    """Kill every recording and playback stream that process ``pid`` has open."""
    killed = 0
    for kind, header in (("source-output", "Source Output #"), ("sink-input", "Sink Input #")):
        for block in _pactl("list", f"{kind}s").split(header)[1:]:
            if re.search(rf'application\.process\.id = "{pid}"', block):
                index = block.split(None, 1)[0]
                subprocess.run(["pacmd", f"kill-{kind}", index], capture_output=True,
                               timeout=_PACTL_TIMEOUT_S, check=True)  # pactl cannot kill
                killed += 1
    return killed


def _parec(source: str, latency_ms: int, stdout: int | io.IOBase) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["parec", f"--device={source}", "--raw", "--format=s16le", f"--rate={RATE_HZ}",
         "--channels=1", f"--latency-msec={latency_ms}"],
        stdout=stdout, stderr=subprocess.DEVNULL)


def _to_wav_bytes(pcm_or_wav: bytes | str | Path, rate_hz: int) -> bytes:
    if isinstance(pcm_or_wav, (str, Path)):
        return Path(pcm_or_wav).read_bytes()
    if pcm_or_wav[:4] == b"RIFF":
        return pcm_or_wav
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate_hz)
        out.writeframes(pcm_or_wav)
    return buf.getvalue()


class Recording:
    """A running ``parec`` on a monitor source; :meth:`stop` returns 16 kHz mono int16 bytes.

    A thread drains parec's stdout as it comes: left alone, the 64 KiB pipe (2 s of audio)
    fills up and parec drops what it cannot write.
    """

    def __init__(self, source: str) -> None:
        self._proc = _parec(source, 10, subprocess.PIPE)
        self.started_at = time.monotonic()
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self._proc.stdout is not None
        while data := self._proc.stdout.read1(65536):
            self._chunks.append(data)

    def stop(self) -> bytes:
        self._proc.terminate()
        self._proc.wait(timeout=_PACTL_TIMEOUT_S)
        self._reader.join(timeout=_PACTL_TIMEOUT_S)
        data = b"".join(self._chunks)
        return data[: len(data) // 2 * 2]

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=_PACTL_TIMEOUT_S)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


@dataclass
class PulseSinks:
    """Two fresh null sinks: ``mic_sink`` (capture its monitor as the microphone) and
    ``speaker_sink`` (play into it; its monitor is recorded by :meth:`start_recording`)."""

    mic_sink: str
    speaker_sink: str
    device: str = "pulse"
    env: dict[str, str] = field(default_factory=dict)
    modules: dict[str, int] = field(default_factory=dict)
    keepers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def mic_source(self) -> str:
        return f"{self.mic_sink}.monitor"

    @property
    def speaker_monitor(self) -> str:
        return f"{self.speaker_sink}.monitor"

    def play_into_mic(self, pcm_or_wav: bytes | str | Path, rate_hz: int = RATE_HZ,
                      wait: bool = True) -> subprocess.Popen[bytes]:
        """Play raw 16-bit mono PCM (at ``rate_hz``) or a WAV file/bytes into the mic sink. With
        ``wait=False`` it returns at once (paplay reads its input in real time, so writing it here
        would block for all but the pipe's last 2 s): a thread feeds it, and killing the player
        ends the thread."""
        proc = subprocess.Popen(["paplay", f"--device={self.mic_sink}", "--latency-msec=20"],
                                stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
        data = _to_wav_bytes(pcm_or_wav, rate_hz)

        def feed() -> None:
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError, ValueError, OSError):
                proc.stdin.write(data)
                proc.stdin.close()

        if wait:
            feed()
            proc.wait(timeout=600)
        else:
            threading.Thread(target=feed, name="paplay-feed", daemon=True).start()
        return proc

    def start_recording(self) -> Recording:
        """Start capturing what reaches the speaker sink (16 kHz mono int16)."""
        return Recording(self.speaker_monitor)

    def record_speaker(self, seconds: float) -> bytes:
        with self.start_recording() as rec:
            time.sleep(seconds)
            return rec.stop()

    def load(self, role: str) -> None:
        """Load the null sink for ``role`` ("mic" or "speaker") and prime it."""
        sink = self.mic_sink if role == "mic" else self.speaker_sink
        self.modules[role] = load_null_sink(sink)
        self.keepers[role] = _parec(f"{sink}.monitor", 10, subprocess.DEVNULL)
        _prime(sink)

    def unload(self, role: str) -> None:
        """Remove the null sink for ``role`` (its monitor disappears: a device unplugged)."""
        keeper = self.keepers.pop(role, None)
        if keeper is not None:
            keeper.terminate()
            keeper.wait(timeout=_PACTL_TIMEOUT_S)
        index = self.modules.pop(role, None)
        if index is not None:
            unload_module(index)

    def kill_streams(self, pid: int | None = None) -> int:
        """Kill the PulseAudio streams of process ``pid`` (default: this one), as if the server
        dropped them: the PortAudio stream on top dies. Returns how many were killed."""
        return kill_streams(os.getpid() if pid is None else pid)

    def unload_mic(self) -> None:
        self.unload("mic")

    def reload_mic(self) -> None:
        """Load the mic sink again under the same name (the device comes back)."""
        self.load("mic")


def _prime(sink: str, timeout_s: float = 10.0) -> None:
    """Bring a null sink that rendered ahead (see the module doc) down to the keeper's latency:
    a suspend/resume cycle restarts its clock with the currently requested latency."""
    deadline = time.monotonic() + timeout_s
    while (latency := sink_latency_ms(sink)) is None or latency > PRIMED_LATENCY_MS:
        if time.monotonic() > deadline:
            raise RuntimeError(f"null sink {sink} stayed at {latency} ms latency")
        _pactl("suspend-sink", sink, "1")
        _pactl("suspend-sink", sink, "0")
        time.sleep(0.1)


@contextlib.contextmanager
def pulse_null_sinks(prefix: str = "vs") -> Iterator[PulseSinks]:
    """Start/reuse PulseAudio, load two uniquely named null sinks, point PortAudio's ``pulse``
    device at them through ``PULSE_SOURCE``/``PULSE_SINK``, and unload everything afterwards."""
    require(pulse_tools_present(),
            "PulseAudio (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)")
    ensure_server()
    tag = uuid.uuid4().hex[:8]
    sinks = PulseSinks(mic_sink=f"{prefix}_mic_{tag}", speaker_sink=f"{prefix}_spk_{tag}")
    sinks.env = {"PULSE_SOURCE": sinks.mic_source, "PULSE_SINK": sinks.speaker_sink}
    saved = {key: os.environ.get(key) for key in sinks.env}
    try:
        sinks.load("mic")
        sinks.load("speaker")
        os.environ.update(sinks.env)
        yield sinks
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for role in list(sinks.modules):
            sinks.unload(role)
