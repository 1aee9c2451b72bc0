"""WAV files in and out: any WAV in, 16 kHz mono int16 PCM out.

:func:`read_wav` is the edge where recorded or rendered files enter the pipeline. It first
checks the RIFF/RF64 header itself (:func:`probe_wav`: cheap, and the place where a bad file
gets a one-line message naming the fix, and where absurd sample rates, channel counts and
lengths are refused before a single sample is decoded), then decodes the samples block by
block, averages the channels and resamples to :data:`voiceskill.pcm.RATE_HZ` with libsoxr
(:mod:`soxr`, streaming), so memory stays bounded by the output, whatever the input's rate and
channel count. (The header parser and decoder stay hand-written because libsndfile refuses
valid files that this reads, e.g. one with a malformed LIST/INFO chunk: see
tests/test_wavio.py.) Integer PCM 8/16/24/32-bit and IEEE
float 32/64 are accepted (plain or WAVE_FORMAT_EXTENSIBLE, RIFF or RF64). Every problem is an
:class:`AudioError` whose message is one line naming the file and the fix.

:func:`resample` (a polyphase windowed-sinc filter) stays for the microphone's block-wise
resampler (:mod:`voiceskill.audio`) and the speaker.
"""

from __future__ import annotations

import logging
import math
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soxr

from voiceskill.errors import AudioError
from voiceskill.pcm import RATE_HZ, SILENCE_PEAK, float_to_pcm

log = logging.getLogger(__name__)

MAX_SECONDS = 300.0
"""Default longest accepted file: a question is a few seconds, five minutes is surely a mistake."""
MIN_RATE_HZ = 4_000
MAX_RATE_HZ = 192_000
"""Sample rates outside this range are refused before decoding (a corrupt header, not speech)."""
MAX_CHANNELS = 32
"""More channels than this is a corrupt header, not a recording of a question."""
_DECODE_BLOCK = 1 << 16
"""Frames decoded, averaged and resampled at a time (bounds memory for many-channel files)."""

_SOX_HINT = "convert it with `sox in.wav -b 16 out.wav`"

_FORMAT_PCM = 0x0001
_FORMAT_FLOAT = 0x0003
_FORMAT_EXTENSIBLE = 0xFFFE
_FORMAT_NAMES = {
    0x0002: "Microsoft ADPCM", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10", 0x0050: "MPEG", 0x0055: "MP3", 0x0161: "WMA", 0x1610: "AAC",
}
# The KSDATAFORMAT_SUBTYPE GUIDs all end with this tail; their first two bytes are the format tag.
_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")

_MAGIC_NAMES = ((b"ID3", "an MP3"), (b"fLaC", "a FLAC"), (b"OggS", "an Ogg"),
                (b"FORM", "an AIFF"), (b".snd", "a Sun/NeXT audio"), (b"\x1aE\xdf\xa3", "a WebM/Matroska"))


@dataclass(frozen=True)
class WavFormat:
    """What the header of a WAV file says (see :func:`probe_wav`)."""

    encoding: str
    """``"pcm"`` (integer) or ``"float"``."""
    channels: int
    rate_hz: int
    bits_per_sample: int
    block_align: int
    """Bytes per frame (all channels)."""
    data_offset: int
    data_bytes: int

    @property
    def frames(self) -> int:
        return self.data_bytes // self.block_align

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate_hz


def _describe_non_wav(head: bytes) -> str:
    for magic, name in _MAGIC_NAMES:
        if head.startswith(magic):
            return f"is {name} file, not a WAV"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "is an MP3 file, not a WAV"
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return "is an MP4/M4A file, not a WAV"
    return "is not a WAV file (no RIFF/WAVE header)"


def _read_exact(f: BinaryIO, n: int) -> bytes | None:
    data = f.read(n)
    return data if len(data) == n else None


def _parse_fmt(name: str, body: bytes) -> tuple[str, int, int, int, int]:
    """Return (encoding, channels, rate, bits, block_align) from a ``fmt `` chunk body."""
    if len(body) < 16:
        raise AudioError(f"{name}: corrupt WAV header (fmt chunk of {len(body)} bytes); "
                         f"re-record or re-export the file")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _FORMAT_EXTENSIBLE:
        if len(body) < 40:
            raise AudioError(f"{name}: corrupt WAV header (short WAVE_FORMAT_EXTENSIBLE fmt chunk); "
                             f"{_SOX_HINT}")
        guid = body[24:40]
        if guid[2:] != _GUID_TAIL:
            raise AudioError(f"{name}: unsupported WAV encoding (sub-format {guid.hex()}); {_SOX_HINT}")
        tag = struct.unpack("<H", guid[:2])[0]
    if tag == _FORMAT_PCM:
        encoding = "pcm"
        if not 1 <= bits <= 32:
            raise AudioError(f"{name}: unsupported PCM sample size {bits} bits; {_SOX_HINT}")
    elif tag == _FORMAT_FLOAT:
        encoding = "float"
        if bits not in (32, 64):
            raise AudioError(f"{name}: unsupported float sample size {bits} bits; {_SOX_HINT}")
    else:
        what = _FORMAT_NAMES.get(tag, f"format tag 0x{tag:04x}")
        raise AudioError(f"{name}: unsupported WAV encoding {what}; {_SOX_HINT}")
    if channels < 1 or rate < 1 or block_align < channels:
        raise AudioError(f"{name}: corrupt WAV header (channels={channels}, rate={rate} Hz, "
                         f"block align={block_align}); re-record or re-export the file")
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise AudioError(f"{name}: sample rate {rate} Hz is outside {MIN_RATE_HZ}-{MAX_RATE_HZ} Hz "
                         f"(a corrupt header?); re-export it, e.g. `sox in.wav -r 16000 out.wav`")
    if channels > MAX_CHANNELS:
        raise AudioError(f"{name}: {channels} channels is more than {MAX_CHANNELS} (a corrupt header?); "
                         f"re-export it, e.g. `sox in.wav -c 1 out.wav`")
    container = block_align // channels
    if block_align % channels or container * 8 < bits or container > 8:
        raise AudioError(f"{name}: corrupt WAV header (block align {block_align} for {channels} "
                         f"channel(s) of {bits} bits); re-record or re-export the file")
    if encoding == "float" and container != bits // 8:
        raise AudioError(f"{name}: unsupported float layout ({bits} bits in {container} bytes); "
                         f"{_SOX_HINT}")
    return encoding, channels, rate, bits, block_align


def probe_wav(path: str | Path) -> WavFormat:
    """Parse the RIFF/RF64 header of ``path`` without reading the samples.

    Raises :class:`AudioError` when the file is missing, is not a WAV, has a truncated or
    corrupt header, or uses an encoding other than integer PCM or IEEE float.
    """
    p = Path(path)
    name = str(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise AudioError(f"{name}: no such file; check the path") from None
    except OSError as exc:
        raise AudioError(f"{name}: cannot read ({exc.strerror or exc}); check the path and its permissions") from None
    if not stat.S_ISREG(mode):
        kind = ("a directory" if stat.S_ISDIR(mode) else "a named pipe" if stat.S_ISFIFO(mode)
                else "a device or socket")
        raise AudioError(f"{name}: is {kind}, not a file; give the path of a .wav file "
                         f"(save streamed audio to a file first)")
    try:
        size = p.stat().st_size
        with p.open("rb") as f:
            return _probe(f, name, size)
    except OSError as exc:
        raise AudioError(f"{name}: cannot read ({exc.strerror or exc}); check the file's permissions") from exc


def _probe(f: BinaryIO, name: str, size: int) -> WavFormat:
    head = f.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        if len(head) >= 4 and head[:4] in (b"RIFF", b"RF64"):
            raise AudioError(f"{name}: truncated WAV header ({size} bytes); re-record or re-export the file")
        if size == 0:
            raise AudioError(f"{name}: empty file (0 bytes); re-record it")
        raise AudioError(f"{name}: {_describe_non_wav(head)}; convert it, e.g. "
                         f"`sox in.mp3 -r 16000 -c 1 -b 16 out.wav` or `ffmpeg -i in.mp3 out.wav`")
    rf64 = head[:4] == b"RF64"
    rf64_data_size: int | None = None
    fmt: tuple[str, int, int, int, int] | None = None
    pos = 12
    while True:
        chunk = _read_exact(f, 8)
        if chunk is None:
            break
        cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        body_at = pos + 8
        if cid == b"ds64" and rf64:
            body = _read_exact(f, min(csize, 28))
            if body is None or len(body) < 16:
                raise AudioError(f"{name}: truncated RF64 header; re-record or re-export the file")
            rf64_data_size = struct.unpack("<Q", body[8:16])[0]
        elif cid == b"fmt ":
            body = _read_exact(f, csize)
            if body is None:
                raise AudioError(f"{name}: truncated WAV header (fmt chunk cut short); "
                                 f"re-record or re-export the file")
            fmt = _parse_fmt(name, body)
        elif cid == b"data":
            if fmt is None:
                raise AudioError(f"{name}: corrupt WAV header (data chunk before fmt chunk); {_SOX_HINT}")
            if rf64 and csize == 0xFFFFFFFF and rf64_data_size is not None:
                csize = rf64_data_size
            available = size - body_at
            if csize > available:
                # Streaming writers leave 0xFFFFFFFF here; a cut-off file has fewer bytes than
                # announced. Either way the samples that are there are usable.
                if csize != 0xFFFFFFFF:
                    log.warning("%s: data chunk announces %d bytes but only %d are present; "
                                "using those", name, csize, available)
                csize = available
            encoding, channels, rate, bits, block_align = fmt
            return WavFormat(encoding, channels, rate, bits, block_align, body_at,
                             csize - csize % block_align)
        pos = body_at + csize + (csize & 1)  # chunks are padded to an even size
        f.seek(pos)
    if fmt is None:
        raise AudioError(f"{name}: truncated or corrupt WAV header (no fmt chunk); "
                         f"re-record or re-export the file")
    raise AudioError(f"{name}: truncated WAV file (no data chunk); re-record or re-export the file")


def _checked(path: str | Path, max_seconds: float) -> WavFormat:
    name = str(path)
    fmt = probe_wav(path)
    if fmt.frames == 0:
        raise AudioError(f"{name}: contains no audio samples; re-record it")
    if fmt.duration_s > max_seconds:
        raise AudioError(f"{name}: is {fmt.duration_s:.0f} s long, more than the {max_seconds:.0f} s "
                         f"limit; a question takes a few seconds, trim it (e.g. `sox in.wav out.wav trim 0 10`)")
    return fmt


def _decode(raw: bytes, fmt: WavFormat) -> np.ndarray:
    """Interleaved sample bytes -> float32 array of shape (frames, channels) in [-1, 1]."""
    container = fmt.block_align // fmt.channels
    n = len(raw) // container
    if fmt.encoding == "float":
        x = np.frombuffer(raw, dtype="<f4" if container == 4 else "<f8", count=n)
        x = np.nan_to_num(x.astype(np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
        x = np.clip(x, -1.0, 1.0).astype(np.float32)
    elif container == 1:  # 8-bit WAV is unsigned
        x = (np.frombuffer(raw, dtype=np.uint8, count=n).astype(np.float32) - 128.0) / 128.0
    elif container in (2, 4, 8):
        dtype = {2: "<i2", 4: "<i4", 8: "<i8"}[container]
        scale = float(2 ** (8 * container - 1))
        x = (np.frombuffer(raw, dtype=dtype, count=n).astype(np.float64) / scale).astype(np.float32)
    else:  # 3, 5, 6 or 7 byte containers: widen to int64, left-justified, then sign comes for free
        b = np.frombuffer(raw, dtype=np.uint8, count=n * container).reshape(n, container)
        wide = np.zeros((n, 8), dtype=np.uint8)
        wide[:, 8 - container:] = b
        x = (wide.view("<i8")[:, 0].astype(np.float64) / 2.0 ** 63).astype(np.float32)
    return x.reshape(-1, fmt.channels)


def _mono_blocks(path: str | Path, fmt: WavFormat) -> Iterator[np.ndarray]:
    """Decode the file block by block: mono float32 in [-1, 1] at its own rate."""
    block_bytes = _DECODE_BLOCK * fmt.block_align
    left = fmt.data_bytes
    try:
        with Path(path).open("rb") as f:
            f.seek(fmt.data_offset)
            while left > 0:
                raw = f.read(min(block_bytes, left))
                raw = raw[: len(raw) - len(raw) % fmt.block_align]
                if not raw:
                    break
                left -= len(raw)
                frames = _decode(raw, fmt)
                yield (frames[:, 0] if fmt.channels == 1
                       else frames.mean(axis=1, dtype=np.float64).astype(np.float32))
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror or exc}); check the file") from exc


def load_wav(path: str | Path, *, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Read any supported WAV as mono float32 in [-1, 1] at its own rate: ``(samples, rate_hz)``.

    Checks the header, emptiness and length (``max_seconds``) but not silence.
    """
    fmt = _checked(path, max_seconds)
    blocks = list(_mono_blocks(path, fmt))
    return (np.concatenate(blocks) if blocks else np.zeros(0, np.float32)), fmt.rate_hz


def read_wav(path: str | Path, *, max_seconds: float = MAX_SECONDS,
             silence_peak: float = SILENCE_PEAK) -> bytes:
    """Read any supported WAV file as little-endian int16 mono PCM at :data:`RATE_HZ`.

    Raises :class:`AudioError` (one line, naming the file) when the file is missing, not a WAV,
    truncated, in an unsupported encoding, at an absurd sample rate or channel count, empty,
    silent (peak below ``silence_peak`` of full scale) or longer than ``max_seconds``. The
    header is checked before any sample is decoded; decoding and resampling are streamed, so
    memory is bounded by the 16 kHz output.
    """
    fmt = _checked(path, max_seconds)
    stream = soxr.ResampleStream(fmt.rate_hz, RATE_HZ, 1, dtype="float32", quality="HQ") \
        if fmt.rate_hz != RATE_HZ else None
    out: list[bytes] = []  # converted block by block: the 16-bit output is the largest thing held
    peak = 0.0
    for mono in _mono_blocks(path, fmt):
        if mono.size:
            peak = max(peak, float(np.max(np.abs(mono))))
        out.append(float_to_pcm(stream.resample_chunk(mono) if stream is not None else mono))
    if stream is not None:
        out.append(float_to_pcm(stream.resample_chunk(np.zeros(0, np.float32), last=True)))
    if peak < silence_peak:
        raise AudioError(f"{path}: contains only silence (peak {20 * math.log10(max(peak, 1e-10)):.0f} dBFS); "
                         f"check the microphone and its volume, then record again")
    return b"".join(out)


def write_wav(path: str | Path, pcm: bytes, rate_hz: int = RATE_HZ) -> None:
    """Write little-endian int16 mono ``pcm`` as a plain 16-bit PCM WAV file."""
    if len(pcm) % 2:
        raise ValueError("pcm must hold whole 16-bit samples")
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16,
                         _FORMAT_PCM, 1, rate_hz, rate_hz * 2, 2, 16, b"data", len(pcm))
    with Path(path).open("wb") as f:
        f.write(header)
        f.write(pcm)


_ZERO_CROSSINGS = 16
"""Half-length of the resampling filter, in zero crossings of its sinc."""
_ROLLOFF = 0.92
"""Filter cut-off as a fraction of the lower Nyquist frequency (the rest is transition band)."""
_KAISER_BETA = 8.6
"""Kaiser window shape: about 85 dB stop-band attenuation."""
_BLOCK = 32_768


def resample(x: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Band-limited resampling of a 1-D float signal from ``from_hz`` to ``to_hz``.

    Polyphase windowed-sinc (Kaiser) filter with its cut-off at 0.92 of the lower of the two
    Nyquist frequencies, so content above the new Nyquist frequency is removed, not folded
    back. Output length is ``len(x) * to_hz // from_hz``.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError("resample() takes a 1-D signal")
    if from_hz <= 0 or to_hz <= 0:
        raise ValueError(f"sample rates must be positive, not {from_hz} and {to_hz}")
    if from_hz == to_hz or x.size == 0:
        return x.copy()
    g = math.gcd(from_hz, to_hz)
    up, down = to_hz // g, from_hz // g
    # Output sample n sits at input position n*down/up = base + phase/up.
    # Filter impulse response in input-sample units: cut-off `cut` cycles per input sample.
    cut = 0.5 * _ROLLOFF * min(1.0, to_hz / from_hz)
    half = math.ceil(_ZERO_CROSSINGS / (2.0 * cut))
    taps = np.arange(-half, half + 2, dtype=np.float64)  # input offsets relative to base
    t = np.arange(up, dtype=np.float64)[:, None] / up - taps[None, :]  # (up, K) distances
    window = np.where(np.abs(t) <= half, np.i0(_KAISER_BETA * np.sqrt(np.clip(1 - (t / half) ** 2, 0, 1))), 0.0)
    table = 2 * cut * np.sinc(2 * cut * t) * window
    table /= table.sum(axis=1, keepdims=True)  # unity gain at DC for every phase
    table = table.astype(np.float32)
    k = taps.size
    padded = np.concatenate([np.zeros(half, np.float32), x, np.zeros(half + 2, np.float32)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, k)  # windows[b] = x[b-half : b+half+2]
    n_out = x.size * up // down
    out = np.empty(n_out, dtype=np.float32)
    for start in range(0, n_out, _BLOCK):
        n = np.arange(start, min(start + _BLOCK, n_out), dtype=np.int64) * down
        base, phase = n // up, n % up
        out[start:start + n.size] = np.einsum("nk,nk->n", windows[base], table[phase])
    return out
