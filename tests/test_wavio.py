"""voiceskill.wavio: any WAV in (every encoding, channel count and rate), 16 kHz mono int16 out."""

from __future__ import annotations

import shutil
import struct
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import require

from voiceskill.pcm import RATE_HZ
from voiceskill.errors import AudioError
from voiceskill.pcm import float_to_pcm, pcm_to_float
from voiceskill.wavio import (load_wav, probe_wav, read_wav, resample,
                              write_wav)

SOX = shutil.which("sox")
GUID_TAIL = bytes.fromhex("0000" "0000" "1000" "8000" "00aa00389b71")  # KSDATAFORMAT_SUBTYPE_*


def tone(freq_hz: float, rate_hz: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return amp * np.sin(2 * np.pi * freq_hz * t)


def encode(x: np.ndarray, kind: str) -> tuple[bytes, int, int]:
    """float samples (frames, channels) -> (bytes, format tag, bits) for a WAV of ``kind``."""
    if kind == "u8":
        return np.clip(np.rint(x * 128 + 128), 0, 255).astype(np.uint8).tobytes(), 1, 8
    if kind == "s16":
        return np.rint(x * 32767).astype("<i2").tobytes(), 1, 16
    if kind == "s24":
        v = np.rint(x * (2 ** 23 - 1)).astype("<i4").reshape(-1)
        b = v.view(np.uint8).reshape(-1, 4)[:, :3]
        return b.tobytes(), 1, 24
    if kind == "s32":
        return np.rint(x * (2 ** 31 - 1)).astype("<i4").tobytes(), 1, 32
    if kind == "f32":
        return x.astype("<f4").tobytes(), 3, 32
    if kind == "f64":
        return x.astype("<f8").tobytes(), 3, 64
    raise ValueError(kind)


def make_wav(path: Path, x: np.ndarray, rate_hz: int, kind: str = "s16", *, extensible: bool = False,
             extra_chunks: bytes = b"", tag: int | None = None) -> Path:
    """Write a WAV by hand (the stdlib cannot write float or extensible ones)."""
    if x.ndim == 1:
        x = x[:, None]
    channels = x.shape[1]
    data, fmt_tag, bits = encode(x, kind)
    if tag is not None:
        fmt_tag = tag
    block = channels * bits // 8
    if extensible:
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate_hz, rate_hz * block, block, bits,
                          22, bits, 0) + struct.pack("<H", fmt_tag) + GUID_TAIL
    else:
        fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate_hz, rate_hz * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunks
    body += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def peak_hz(pcm: bytes) -> float:
    """Dominant frequency of the middle second (1 Hz bins)."""
    x = pcm_to_float(pcm)
    mid = x[len(x) // 2 - RATE_HZ // 2: len(x) // 2 + RATE_HZ // 2]
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(mid.size)))
    return float(np.argmax(spectrum)) * RATE_HZ / mid.size


def amplitude_at(pcm: bytes, freq_hz: float) -> float:
    """Amplitude of the sinusoid at ``freq_hz`` (least squares over the middle of the signal)."""
    x = pcm_to_float(pcm).astype(np.float64)[RATE_HZ // 4: -RATE_HZ // 4]
    t = (np.arange(x.size) + RATE_HZ // 4) / RATE_HZ
    basis = np.stack([np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    return float(np.hypot(*coef))


@pytest.mark.parametrize("kind", ["u8", "s16", "s24", "s32", "f32", "f64"])
@pytest.mark.parametrize("extensible", [False, True])
def test_every_encoding_decodes_to_the_same_tone(tmp_path: Path, kind: str, extensible: bool) -> None:
    path = make_wav(tmp_path / "t.wav", tone(440, RATE_HZ, 2.0), RATE_HZ, kind, extensible=extensible)
    pcm = read_wav(path)
    assert len(pcm) == 2 * 2 * RATE_HZ
    assert peak_hz(pcm) == pytest.approx(440, abs=1)
    tolerance = 0.01 if kind == "u8" else 0.001
    assert amplitude_at(pcm, 440) == pytest.approx(0.5, abs=tolerance)


@pytest.mark.parametrize("rate_hz", [8000, 11025, 22050, 44100, 48000, 96000])
def test_any_rate_is_resampled_keeping_frequency_and_length(tmp_path: Path, rate_hz: int) -> None:
    path = make_wav(tmp_path / "t.wav", tone(440, rate_hz, 3.0), rate_hz, "s16")
    pcm = read_wav(path)
    assert len(pcm) // 2 == 3 * RATE_HZ
    assert peak_hz(pcm) == pytest.approx(440, abs=1)
    assert amplitude_at(pcm, 440) == pytest.approx(0.5, abs=0.005)


@pytest.mark.parametrize("rate_hz", [22050, 44100, 48000])
def test_downsampling_removes_content_above_new_nyquist(tmp_path: Path, rate_hz: int) -> None:
    # 10 kHz cannot exist at 16 kHz; a filter-less resampler folds it back to 6 kHz.
    x = tone(440, rate_hz, 2.0) + tone(10_000, rate_hz, 2.0, amp=0.4)
    pcm = read_wav(make_wav(tmp_path / "t.wav", x, rate_hz, "f32"))
    alias_hz = RATE_HZ - 10_000
    assert amplitude_at(pcm, 440) == pytest.approx(0.5, abs=0.005)
    assert amplitude_at(pcm, alias_hz) < 0.4 * 10 ** (-60 / 20)


def test_stereo_and_multichannel_are_averaged(tmp_path: Path) -> None:
    left, right = tone(440, 44100, 2.0, amp=0.6), tone(1000, 44100, 2.0, amp=0.2)
    pcm = read_wav(make_wav(tmp_path / "s.wav", np.stack([left, right], axis=1), 44100, "s24"))
    assert amplitude_at(pcm, 440) == pytest.approx(0.3, abs=0.003)
    assert amplitude_at(pcm, 1000) == pytest.approx(0.1, abs=0.003)
    quad = np.stack([left, right, left, -left], axis=1)
    pcm4 = read_wav(make_wav(tmp_path / "q.wav", quad, 44100, "f32", extensible=True))
    assert amplitude_at(pcm4, 440) == pytest.approx(0.15, abs=0.003)
    assert amplitude_at(pcm4, 1000) == pytest.approx(0.05, abs=0.003)


def test_odd_and_unknown_chunks_are_skipped(tmp_path: Path) -> None:
    info = b"LIST" + struct.pack("<I", 9) + b"INFOabcde" + b"\0"  # odd size, padded
    junk = b"junk" + struct.pack("<I", 3) + b"xyz" + b"\0"
    path = make_wav(tmp_path / "c.wav", tone(440, 22050, 1.5), 22050, "s16", extra_chunks=info + junk)
    pcm = read_wav(path)
    assert len(pcm) // 2 == int(1.5 * RATE_HZ)
    assert peak_hz(pcm) == pytest.approx(440, abs=1)


def test_streaming_data_size_and_rf64(tmp_path: Path) -> None:
    path = make_wav(tmp_path / "s.wav", tone(440, RATE_HZ, 1.0), RATE_HZ, "s16")
    raw = bytearray(path.read_bytes())
    at = raw.index(b"data") + 4
    raw[at:at + 4] = struct.pack("<I", 0xFFFFFFFF)  # what a writer to a pipe leaves
    path.write_bytes(bytes(raw))
    assert len(read_wav(path)) == 2 * RATE_HZ
    # RF64: sizes live in a ds64 chunk.
    data = np.rint(tone(440, RATE_HZ, 1.0) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, RATE_HZ, 2 * RATE_HZ, 2, 16)
    ds64 = struct.pack("<QQQI", 0, len(data), len(data) // 2, 0)
    body = (b"WAVE" + b"ds64" + struct.pack("<I", len(ds64)) + ds64 + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", 0xFFFFFFFF) + data)
    rf64 = tmp_path / "r.wav"
    rf64.write_bytes(b"RF64" + struct.pack("<I", 0xFFFFFFFF) + body)
    assert read_wav(rf64) == data


def test_write_wav_round_trip_is_exact_and_readable_by_stdlib(tmp_path: Path) -> None:
    pcm = float_to_pcm(tone(300, RATE_HZ, 0.5))
    path = tmp_path / "w.wav"
    write_wav(path, pcm)
    assert read_wav(path) == pcm
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE_HZ)
        assert w.readframes(w.getnframes()) == pcm
    write_wav(tmp_path / "8k.wav", pcm, rate_hz=8000)
    assert probe_wav(tmp_path / "8k.wav").rate_hz == 8000


def test_float_pcm_helpers_clip_and_round() -> None:
    x = np.array([0.0, 0.5, -0.5, 1.5, -1.5], dtype=np.float32)
    assert np.frombuffer(float_to_pcm(x), "<i2").tolist() == [0, 16384, -16384, 32767, -32768]
    assert pcm_to_float(float_to_pcm(x)).tolist() == pytest.approx([0, 0.5, -0.5, 32767 / 32768, -1])


def test_resample_identity_and_rejects_bad_input() -> None:
    x = np.linspace(-1, 1, 100, dtype=np.float32)
    assert np.array_equal(resample(x, 16000, 16000), x)
    with pytest.raises(ValueError):
        resample(np.zeros((2, 2)), 8000, 16000)
    with pytest.raises(ValueError):
        resample(x, 0, 16000)


@pytest.mark.parametrize("args", [
    ["-r", "44100", "-c", "2", "-b", "24"],
    ["-r", "48000", "-c", "1", "-e", "floating-point", "-b", "32"],
    ["-r", "8000", "-c", "1", "-b", "8", "-e", "unsigned-integer"],
    ["-r", "22050", "-c", "6", "-b", "16"],
    ["-r", "32000", "-c", "1", "-e", "floating-point", "-b", "64"],
])
def test_files_written_by_sox(tmp_path: Path, args: list[str]) -> None:
    require(SOX, "sox (apt install sox)")
    path = tmp_path / "sox.wav"
    subprocess.run([SOX, "-n", *args, str(path), "synth", "2", "sine", "440", "vol", "0.5"], check=True)
    pcm = read_wav(path)
    assert len(pcm) // 2 == 2 * RATE_HZ
    assert peak_hz(pcm) == pytest.approx(440, abs=1)
    assert amplitude_at(pcm, 440) == pytest.approx(0.5, abs=0.01)


def test_load_wav_gives_native_rate_mono(tmp_path: Path) -> None:
    path = make_wav(tmp_path / "t.wav", np.stack([tone(440, 8000, 1.0)] * 2, axis=1), 8000, "s16")
    x, rate = load_wav(path)
    assert rate == 8000 and x.shape == (8000,) and x.dtype == np.float32


# --- errors: one line, naming the file, saying what to do ---------------------------------------

def assert_audio_error(path: Path, *fragments: str, **kwargs: float) -> str:
    with pytest.raises(AudioError) as info:
        read_wav(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert_audio_error(tmp_path / "nope.wav", "no such file")
    assert_audio_error(tmp_path, "not a file")


def test_not_a_wav(tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("hello, this is not audio\n" * 3)
    assert_audio_error(text, "not a WAV file", "sox")
    mp3 = tmp_path / "q.mp3"
    mp3.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(200))
    assert_audio_error(mp3, "MP3")
    frames = tmp_path / "raw.mp3"
    frames.write_bytes(b"\xff\xfb\x90\x00" + bytes(200))
    assert_audio_error(frames, "MP3")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert_audio_error(empty, "empty")


def test_truncated_and_corrupt_headers(tmp_path: Path) -> None:
    good = make_wav(tmp_path / "g.wav", tone(440, RATE_HZ, 1.0), RATE_HZ).read_bytes()
    cases = {"riff_only": good[:8], "cut_in_fmt": good[:30], "no_data": good[:36]}
    for name, content in cases.items():
        path = tmp_path / f"{name}.wav"
        path.write_bytes(content)
        message = assert_audio_error(path, "truncated")
        assert "re-record" in message
    zero_channels = bytearray(good)
    zero_channels[22:24] = b"\0\0"
    (tmp_path / "zero.wav").write_bytes(bytes(zero_channels))
    assert_audio_error(tmp_path / "zero.wav", "corrupt")


def test_data_cut_short_uses_what_is_there(tmp_path: Path) -> None:
    good = make_wav(tmp_path / "g.wav", tone(440, RATE_HZ, 1.0), RATE_HZ).read_bytes()
    (tmp_path / "cut.wav").write_bytes(good[: 44 + RATE_HZ + 1])  # half a second and one odd byte
    assert len(read_wav(tmp_path / "cut.wav")) == RATE_HZ


@pytest.mark.parametrize("tag,name", [(7, "mu-law"), (6, "A-law"), (2, "ADPCM"), (0x55, "MP3")])
def test_unsupported_encodings_say_so(tmp_path: Path, tag: int, name: str) -> None:
    path = make_wav(tmp_path / "enc.wav", tone(440, 8000, 0.5), 8000, "s16", tag=tag)
    assert_audio_error(path, "unsupported", name, "sox in.wav -b 16 out.wav")
    ext = make_wav(tmp_path / "ext.wav", tone(440, 8000, 0.5), 8000, "s16", tag=tag, extensible=True)
    assert_audio_error(ext, "unsupported", name)


def test_unsupported_encoding_from_sox(tmp_path: Path) -> None:
    require(SOX, "sox (apt install sox)")
    for encoding in ("mu-law", "ms-adpcm"):
        path = tmp_path / f"{encoding}.wav"
        subprocess.run([SOX, "-n", "-r", "8000", "-e", encoding, str(path), "synth", "1", "sine", "440"],
                       check=True)
        assert_audio_error(path, "unsupported", "sox in.wav -b 16 out.wav")


def test_empty_silent_and_too_long(tmp_path: Path) -> None:
    empty = make_wav(tmp_path / "empty.wav", np.zeros(0), RATE_HZ)
    assert_audio_error(empty, "no audio samples")
    silent = make_wav(tmp_path / "silent.wav", np.zeros(RATE_HZ), RATE_HZ, "f32")
    assert_audio_error(silent, "contains only silence")
    hiss = make_wav(tmp_path / "hiss.wav", np.full(RATE_HZ, 2 / 32768), RATE_HZ)  # 2 LSB: still silence
    assert_audio_error(hiss, "contains only silence")
    quiet = make_wav(tmp_path / "quiet.wav", tone(440, RATE_HZ, 1.0, amp=0.01), RATE_HZ)  # -40 dBFS: fine
    assert len(read_wav(quiet)) == 2 * RATE_HZ
    long = make_wav(tmp_path / "long.wav", tone(440, 8000, 3.0), 8000)
    assert_audio_error(long, "limit", max_seconds=2.0)
    assert len(read_wav(long, max_seconds=4.0)) == 3 * 2 * RATE_HZ
