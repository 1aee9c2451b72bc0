"""The denoise stage: exact streaming behaviour, SNR gain on a tone in noise, speech kept intact,
and on real rendered noisy questions the denoised audio is recognized at least as well as raw."""

from __future__ import annotations

import numpy as np
import pytest

from audio_fixtures import dev_audio, topics  # noqa: F401  (pytest fixtures)
from conftest import require
from voiceskill.denoise import Denoiser
from voiceskill.settings import DenoiseConfig

RATE = 16000
rng = np.random.default_rng(1234)


def pcm(x: np.ndarray) -> bytes:
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def samples(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<i2").astype(np.float64)


def stream(den: Denoiser, data: bytes, sizes: list[int]) -> bytes:
    """Feed ``data`` in chunks of the given sample counts (cycled), return the joined output."""
    out, i, k = [], 0, 0
    while i < len(data):
        n = 2 * sizes[k % len(sizes)]
        chunk = data[i:i + n]
        y = den.process(chunk)
        assert len(y) == len(chunk)
        out.append(y)
        i, k = i + n, k + 1
    return b"".join(out)


def bursts() -> tuple[np.ndarray, np.ndarray]:
    """(tone, noise): 1 kHz tone bursts of 300 ms each second (like words) and white noise, 4 s."""
    t = np.arange(4 * RATE) / RATE
    tone = 3000 * np.sin(2 * np.pi * 1000 * t) * ((t % 1.0) > 0.6)
    noise = rng.standard_normal(t.size) * 2000
    return tone, noise


def test_disabled_is_passthrough() -> None:
    data = pcm(rng.standard_normal(5000) * 1000)
    den = Denoiser(DenoiseConfig(enabled=False))
    assert den.latency_samples == 0
    assert den.process(data) == data
    assert den.process_file(data) == data


def test_all_pass_gives_back_the_input_delayed_exactly() -> None:
    x = rng.standard_normal(RATE) * 3000
    den = Denoiser(DenoiseConfig(enabled=True, highpass_hz=0, suppress=False))
    y = samples(stream(den, pcm(x), [320]))
    d = den.latency_samples
    assert d == 480  # 30 ms
    assert np.array_equal(y[:d], np.zeros(d))
    assert np.abs(y[d:] - np.rint(x[:-d])).max() <= 1


def test_streaming_equals_block_processing_for_any_chunking() -> None:
    tone, noise = bursts()
    data = pcm(tone + noise)
    block = Denoiser(DenoiseConfig(enabled=True)).process(data)
    for sizes in ([320], [1, 7, 160, 333, 5000], [3200]):
        assert stream(Denoiser(DenoiseConfig(enabled=True)), data, sizes) == block


def test_reset_forgets_everything() -> None:
    tone, noise = bursts()
    data = pcm(tone + noise)
    den = Denoiser(DenoiseConfig(enabled=True))
    first = den.process(data)
    den.learn_noise(pcm(noise))
    den.reset()
    assert den.noise_power is None
    assert den.process(data) == first


def test_tone_in_noise_gets_a_better_snr() -> None:
    tone, noise = bursts()
    den = Denoiser(DenoiseConfig(enabled=True))
    den.learn_noise(pcm(rng.standard_normal(RATE // 2) * 2000))  # idle audio before the "question"
    y = samples(den.process_file(pcm(tone + noise)))
    snr_in = 10 * np.log10(np.sum(tone ** 2) / np.sum(noise ** 2))
    snr_out = 10 * np.log10(np.sum(tone ** 2) / np.sum((y - tone) ** 2))
    assert snr_out > snr_in + 4.0, (snr_in, snr_out)
    # and without any learned noise (minimum statistics only, streamed)
    den = Denoiser(DenoiseConfig(enabled=True))
    d = den.latency_samples
    y = samples(stream(den, pcm(tone + noise), [320]))[d:]
    snr_out = 10 * np.log10(np.sum(tone[:-d] ** 2) / np.sum((y - tone[:-d]) ** 2))
    assert snr_out > snr_in + 3.0, (snr_in, snr_out)


def test_learned_noise_power_matches_the_noise() -> None:
    den = Denoiser(DenoiseConfig(enabled=True))
    sigma = 1500.0
    den.learn_noise(pcm(rng.standard_normal(2 * RATE) * sigma))
    est = den.noise_power
    assert est is not None
    expected = sigma ** 2 * np.sum(den._window ** 2)  # white noise: flat, E|X|^2 = sigma^2 sum w^2
    assert 0.7 < np.median(est[5:-5]) / expected < 1.5


def test_highpass_removes_rumble_and_keeps_the_speech_band() -> None:
    t = np.arange(RATE) / RATE
    den = Denoiser(DenoiseConfig(enabled=True, highpass_hz=150, suppress=False))
    low = samples(den.process_file(pcm(8000 * np.sin(2 * np.pi * 50 * t))))
    den = Denoiser(DenoiseConfig(enabled=True, highpass_hz=150, suppress=False))
    voice = 8000 * np.sin(2 * np.pi * 500 * t) + 4000 * np.sin(2 * np.pi * 2500 * t)
    kept = samples(den.process_file(pcm(voice)))
    mid = slice(2000, -2000)
    assert 20 * np.log10(np.std(low[mid]) / np.std(8000 * np.sin(2 * np.pi * 50 * t))) < -30
    assert abs(20 * np.log10(np.std(kept[mid]) / np.std(voice[mid]))) < 0.5


def test_silence_stays_silence() -> None:
    den = Denoiser(DenoiseConfig(enabled=True))
    assert den.process(bytes(2 * 4800)) == bytes(2 * 4800)
    assert den.process_file(bytes(2 * 8000)) == bytes(2 * 8000)


def test_clean_speech_passes_nearly_unchanged(dev_audio) -> None:  # noqa: F811
    from voiceskill.wavio import read_wav

    clean = [r for r in dev_audio if r.snr == "clean"][:3]
    require(clean, "rendered clean questions")
    for row in clean:
        raw = read_wav(row.path)
        y = samples(Denoiser(DenoiseConfig(enabled=True)).process_file(raw))
        x = samples(raw)
        speech = np.abs(x) > 300
        err = 10 * np.log10(np.sum(x[speech] ** 2) / np.sum((y - x)[speech] ** 2))
        assert err > 15, (row.path, err)


def _recognize_all(rows, topics, denoise: bool) -> int:  # noqa: F811
    from evalsets import judge
    from voiceskill.grammar import grammar_vocabulary
    from voiceskill.models import resolve_model_dir
    from voiceskill.recognizer import SpeechModel, recognize_pcm
    from voiceskill.settings import RecognizerConfig
    from voiceskill.router import Router
    from voiceskill.wavio import read_wav

    router = Router.load()
    right = 0
    with SpeechModel(resolve_model_dir()) as model:
        rec = model.recognizer(RecognizerConfig(grammar=True), grammar_vocabulary(router))
        for row in rows:
            audio = read_wav(row.path)
            if denoise:
                den = Denoiser(DenoiseConfig(enabled=True))
                den.learn_noise(audio[: 2 * 6400])  # the 0.4 s before the talker starts, as if idle
                audio = den.process_file(audio)
            heard = recognize_pcm(rec, audio)
            reply = router.route(heard.text, heard.confidences)
            right += judge(row.topic, reply.intent, reply.answer)
    return right


@pytest.mark.parametrize("snr", ["10"])
def test_denoised_noisy_questions_are_recognized_at_least_as_well(dev_audio, topics, snr) -> None:  # noqa: F811
    from voiceskill.models import resolve_model_dir

    try:
        model_dir = resolve_model_dir()
    except Exception as exc:  # ModelError: not installed
        model_dir = None
        reason = str(exc)
    require(model_dir is not None, f"the Vosk model ({reason if model_dir is None else ''})")
    rows = [r for r in dev_audio if r.snr == snr][:54]
    raw = _recognize_all(rows, topics, denoise=False)
    cleaned = _recognize_all(rows, topics, denoise=True)
    assert cleaned >= raw, f"denoised {cleaned}/{len(rows)} right vs raw {raw}/{len(rows)}"


def test_webrtc_front_end_streams_any_chunk_sizes_with_one_frame_of_delay() -> None:
    """WebRTC's suppressor works on 10 ms frames: whatever the chunk sizes, it returns as many
    samples as it gets, the same stream (delayed by exactly one frame) each time, and a file
    comes back the same length with no delay; it lowers steady noise between bursts of tone."""
    from voiceskill.denoise import WebRtcFilter, front_end
    from voiceskill.settings import WebRtcConfig

    tone, noise = bursts()
    data = pcm(tone + noise)
    a = stream(WebRtcFilter(), data, [160])
    b = stream(WebRtcFilter(), data, [37, 320, 1, 999])
    assert a == b  # chunking does not change the result
    f = WebRtcFilter()
    assert f.latency_samples == 160
    whole = f.process_file(data)
    assert len(whole) == len(data)
    assert whole[:len(whole) - 2 * 160] == a[2 * 160:]  # the stream, shifted by one frame
    y, x = samples(whole), tone + noise
    quiet = np.abs(tone) == 0
    assert np.mean(y[quiet][RATE:] ** 2) < 0.5 * np.mean(x[quiet][RATE:] ** 2)  # noise between bursts is lower
    assert isinstance(front_end("webrtc"), WebRtcFilter) and front_end("plain") is None
    with pytest.raises(ValueError):
        WebRtcConfig(noise_suppression=5)
