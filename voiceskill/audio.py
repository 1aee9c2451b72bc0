"""The microphone stage: live audio in, chunks in the format of :mod:`voiceskill.pcm` out.

The stage: :class:`AudioSource` (the interface), :class:`Microphone` (PortAudio via
sounddevice), :class:`MicConfig`, and device lookup (:func:`list_devices`, :func:`find_device`).
"""

from __future__ import annotations

import logging
import math
import queue
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from voiceskill.errors import DeviceError
from voiceskill.pcm import CHUNK_BYTES, RATE_HZ, float_to_pcm, pcm_to_float
from voiceskill.settings import MicConfig

if TYPE_CHECKING:
    import sounddevice

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# The microphone stage: a PortAudio input stream at the edge, 16 kHz int16 chunks out.
#
# sounddevice is imported lazily: nothing needs PortAudio until a device is opened.

DEVICES_HINT = "run `voiceskill devices` to list them"


class AudioSource(Protocol):
    """A live source of :data:`CHUNK_BYTES` chunks (16 kHz mono int16). A context manager."""

    def __enter__(self) -> AudioSource: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def read(self, timeout_s: float) -> bytes | None:
        """The next chunk, or None if none arrived within ``timeout_s``."""
        ...

    def drain(self) -> int:
        """Drop all queued audio; returns how many chunks were dropped."""
        ...

    @property
    def overflows(self) -> int:
        """Blocks lost because the reader was too slow or the driver overran."""
        ...

    @property
    def problem(self) -> str | None:
        """Why no audio comes now (the device is gone and being reopened), or None."""
        ...


# --------------------------------------------------------------------------------------------
# Devices


@dataclass(frozen=True)
class DeviceInfo:
    """One PortAudio device, as listed by `voiceskill devices`."""

    index: int
    name: str
    hostapi: str
    input_channels: int
    output_channels: int
    default_rate_hz: float
    default_input: bool
    default_output: bool


def import_sounddevice() -> Any:
    """The sounddevice module; :class:`DeviceError` (one line) if PortAudio is missing."""
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio shared library is missing
        raise DeviceError(f"PortAudio is not installed ({exc}); install it "
                          "(Debian/Raspberry Pi OS: `sudo apt-get install libportaudio2`)") from exc
    return sounddevice


def list_devices() -> list[DeviceInfo]:
    """All PortAudio input and output devices."""
    sd = import_sounddevice()
    hostapis = sd.query_hostapis()
    default_in, default_out = sd.default.device
    devices = []
    for index, dev in enumerate(sd.query_devices()):
        devices.append(DeviceInfo(
            index=index, name=dev["name"], hostapi=hostapis[dev["hostapi"]]["name"],
            input_channels=dev["max_input_channels"], output_channels=dev["max_output_channels"],
            default_rate_hz=dev["default_samplerate"],
            default_input=index == default_in, default_output=index == default_out))
    return devices


def find_device(spec: str | int | None, kind: Literal["input", "output"] = "input") -> int | None:
    """Resolve a device spec to a PortAudio index; None means the system default.

    ``spec`` is an index (int or digits) or a case-insensitive name substring; an exact name wins
    over substrings. Raises :class:`DeviceError` naming the available devices if nothing matches.
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return None
    devices = [d for d in list_devices()
               if (d.input_channels if kind == "input" else d.output_channels) > 0]
    names = ", ".join(f"{d.index}: {d.name}" for d in devices) or "none"
    text = str(spec).strip()
    if isinstance(spec, int) or text.isdigit():
        for d in devices:
            if d.index == int(text):
                return d.index
        raise DeviceError(f"no {kind} device has index {text} (available: {names}); {DEVICES_HINT}")
    exact = [d for d in devices if d.name.lower() == text.lower()]
    partial = [d for d in devices if text.lower() in d.name.lower()]
    if exact or partial:
        return (exact or partial)[0].index
    raise DeviceError(f"no {kind} device named like {text!r} (available: {names}); {DEVICES_HINT}")


def pick_stream_format(device: int | None, kind: Literal["input", "output"], dtype: str,
                       rates_hz: Sequence[int]) -> tuple[int, int]:
    """The first (rate_hz, channels) the device accepts: mono before stereo, ``rates_hz`` in
    order, then the device's default rate."""
    sd = import_sounddevice()
    info = sd.query_devices(device, kind)
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    default_rate = int(info["default_samplerate"])
    for channels in (1, 2):
        for rate in (*rates_hz, default_rate):
            try:
                check(device=device, channels=channels, dtype=dtype, samplerate=rate)
            except Exception:  # PortAudioError or ValueError: try the next combination
                continue
            return rate, channels
    return default_rate, 1


def close_stream(stream: Any, what: str) -> None:
    """Abort and close a sounddevice stream; a dead device that fails to close is only logged."""
    try:
        stream.abort()
        stream.close()
    except Exception as exc:  # nothing is left to do with a vanished device
        log.debug("%s: closing the stream failed: %s", what, exc)


# --------------------------------------------------------------------------------------------
# Rate conversion at the edge


class _StreamResampler:
    """Converts consecutive blocks with :func:`voiceskill.wavio.resample`.

    Each call resamples the new input together with ``context`` samples of history and
    look-ahead, and keeps only the middle, so the result equals resampling the whole stream.
    The output lags the input by ``context`` samples (about 10 ms at 44.1 kHz).
    """

    def __init__(self, from_hz: int, to_hz: int) -> None:
        from voiceskill.wavio import resample

        self._resample = resample
        self.from_hz, self.to_hz = from_hz, to_hz
        g = math.gcd(from_hz, to_hz)
        self._up, self._down = to_hz // g, from_hz // g
        # wavio's filter reaches ~16 zero crossings at the lower Nyquist, plus 2 samples.
        reach = math.ceil(16 / (0.92 * min(1.0, to_hz / from_hz))) + 2
        self._context = math.ceil(reach / self._down) * self._down
        self._buf = np.zeros(self._context, dtype=np.float32)

    def push(self, x: np.ndarray) -> np.ndarray:
        self._buf = np.concatenate([self._buf, x.astype(np.float32)])
        c = self._context
        usable = (self._buf.size - 2 * c) // self._down * self._down
        if usable <= 0:
            return np.zeros(0, dtype=np.float32)
        y = self._resample(self._buf[: 2 * c + usable], self.from_hz, self.to_hz)
        start = c * self._up // self._down
        out = y[start: start + usable * self._up // self._down]
        self._buf = self._buf[usable:]
        return out

    def reset(self) -> None:
        self._buf = np.zeros(self._context, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# The microphone


class Microphone:
    """A PortAudio input stream that survives driver hiccups and unplugged devices.

    The PortAudio callback only copies each block into a bounded queue (full queue or driver
    overrun = one overflow, counted, never fatal). :meth:`read` converts to 16 kHz mono int16 and
    re-chunks. If the stream fails, stops delivering for ``stall_timeout_s`` or cannot be opened,
    :meth:`read` closes it and reopens with exponential backoff (logged); it never raises for
    that. Only a ``device`` that does not exist at start raises :class:`DeviceError`.
    """

    def __init__(self, config: MicConfig = MicConfig()) -> None:
        self.config = config
        self._sd = import_sounddevice()
        self._device = find_device(config.device, "input")
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=max(1, config.queue_max_chunks))
        self._stream: sounddevice.RawInputStream | None = None
        self._format: tuple[int, int] | None = None  # (rate_hz, channels) once a stream opened
        self._channels = 1
        self._rate_hz = config.rate_hz
        self._resampler: _StreamResampler | None = None
        self._pending = bytearray()
        self._overflows = 0
        self._logged_overflows = 0
        self._overflow_logged_at = -math.inf
        self._last_block_at = 0.0
        self._backoff_s = config.reopen_backoff_s
        self._next_open_at = 0.0
        self._failures = 0
        self._problem: str | None = None
        self.reopens = 0
        """How many times the stream was reopened after a failure."""

    # -- lifecycle

    def __enter__(self) -> Microphone:
        self._open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._close_stream()

    @property
    def is_open(self) -> bool:
        """True while a stream is open (False between a failure and a successful reopen)."""
        return self._stream is not None

    @property
    def rate_hz(self) -> int:
        """The rate the device is actually captured at (converted to 16 kHz in :meth:`read`)."""
        return self._rate_hz

    @property
    def overflows(self) -> int:
        return self._overflows

    @property
    def problem(self) -> str | None:
        """Why no audio comes now (the device cannot be opened, or its stream died and is being
        reopened), or ``None`` while it delivers."""
        return self._problem if self._stream is None else None

    # -- the PortAudio side (runs on PortAudio's thread: copy and count only)

    def _callback(self, indata: Any, frames: int, time_info: Any,
                  status: sounddevice.CallbackFlags) -> None:
        self._last_block_at = time.monotonic()
        if status.input_overflow:
            self._overflows += 1
        try:
            self._queue.put_nowait(bytes(indata))
        except queue.Full:
            self._overflows += 1

    def _open(self) -> bool:
        try:
            rate, channels = self._format or pick_stream_format(
                self._device, "input", "int16", [self.config.rate_hz])
            stream = self._sd.RawInputStream(
                device=self._device, samplerate=rate, channels=channels, dtype="int16",
                blocksize=max(1, rate * self.config.block_ms // 1000), latency="low",
                callback=self._callback)
            stream.start()
        except Exception as exc:  # PortAudioError, or ValueError for a vanished device
            self._failures += 1
            wait_s = self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, self.config.reopen_backoff_max_s)
            self._next_open_at = time.monotonic() + wait_s
            self._problem = f"cannot open input device {self._device_label()}: {exc}"
            log.warning("microphone: cannot open input device %s (%s); retrying in %.1f s",
                        self._device_label(), exc, wait_s)
            return False
        if (rate, channels) != (self._rate_hz, self._channels) or self._resampler is None:
            self._resampler = _StreamResampler(rate, RATE_HZ) if rate != RATE_HZ else None
        elif self._resampler is not None:
            self._resampler.reset()
        self._rate_hz, self._channels = rate, channels
        self._format = (rate, channels)
        self._stream = stream
        self._last_block_at = time.monotonic()
        if self._failures:
            log.info("microphone: input device %s open again after %d failed tries",
                     self._device_label(), self._failures)
        self._failures = 0
        self._problem = None
        self._backoff_s = self.config.reopen_backoff_s
        log.debug("microphone: %s open at %d Hz, %d channel(s), latency %.0f ms",
                  self._device_label(), rate, channels, stream.latency * 1000)
        return True

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            close_stream(stream, "microphone")

    def _device_label(self) -> str:
        return "(default)" if self._device is None else f"#{self._device}"

    def _check_health(self, now: float) -> None:
        stream = self._stream
        if stream is None:
            return
        reason = None
        if not stream.active:
            reason = "the stream stopped"
        elif now - self._last_block_at > self.config.stall_timeout_s:
            reason = f"no audio for {now - self._last_block_at:.1f} s"
        if reason:
            log.warning("microphone: %s; reopening input device %s", reason, self._device_label())
            self._problem = f"input device {self._device_label()}: {reason}; reopening it"
            self._close_stream()
            self.reopens += 1
            self._next_open_at = now

    def _log_overflows(self, now: float) -> None:
        lost = self._overflows - self._logged_overflows
        if lost and now - self._overflow_logged_at >= self.config.overflow_log_interval_s:
            log.warning("microphone: %d block(s) of audio lost (reader too slow or system busy)", lost)
            self._logged_overflows = self._overflows
            self._overflow_logged_at = now

    # -- the reader side

    def _convert(self, block: bytes) -> bytes:
        if self._channels == 1 and self._resampler is None:
            return block
        samples = np.frombuffer(block, dtype="<i2")
        if self._channels > 1:
            samples = samples[:: self._channels]
        if self._resampler is None:
            return samples.astype("<i2").tobytes()
        return float_to_pcm(self._resampler.push(pcm_to_float(samples.tobytes())))

    def read(self, timeout_s: float) -> bytes | None:
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            if len(self._pending) >= CHUNK_BYTES:
                chunk = bytes(self._pending[:CHUNK_BYTES])
                del self._pending[:CHUNK_BYTES]
                return chunk
            now = time.monotonic()
            self._log_overflows(now)
            if self._stream is None and now >= self._next_open_at:
                self._open()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if self._stream is None:
                time.sleep(min(remaining, max(0.0, self._next_open_at - time.monotonic())))
                continue
            try:
                block = self._queue.get(timeout=min(remaining, 0.1))
            except queue.Empty:
                self._check_health(time.monotonic())
                continue
            self._pending += self._convert(block)

    def drain(self) -> int:
        dropped_bytes = len(self._pending)
        self._pending.clear()
        while True:
            try:
                block = self._queue.get_nowait()
            except queue.Empty:
                break
            dropped_bytes += len(block) * RATE_HZ // (self._rate_hz * self._channels)
        return round(dropped_bytes / CHUNK_BYTES)
