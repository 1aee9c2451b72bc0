"""The speaker stage with real parts: eSpeak NG through pyttsx3 in a worker process, playback into
a PulseAudio null sink captured with parec (tests/pulse.py), and Vosk listening to the result."""

from __future__ import annotations

import ctypes.util
import json
import sys
import textwrap
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import require
from pulse import PulseSinks, pulse_null_sinks

from voiceskill.errors import DeviceError, ModelError, SpeakerError
from voiceskill.settings import SpeakerConfig
from voiceskill.speaker import DeviceSpeaker, Synthesizer, TtsWorker, Utterance, WavFileSpeaker, earcon_pcm

pytestmark = pytest.mark.tts

SHORT = "Stretch your glutes slowly and breathe."
LONG = ("A glute cramp usually fades within a minute. Stop the exercise, stand up, and gently "
        "stretch the muscle. Lie on your back, pull the knee towards the opposite shoulder, and "
        "hold it for thirty seconds. Drink some water, and massage the muscle with your hand.")
CAPTURE_RATE_HZ = 16_000
LOUD = 300  # int16 peak per 10 ms that counts as sound in a capture


def _require_espeak() -> None:
    require(ctypes.util.find_library("espeak-ng"), "eSpeak NG (apt-get install espeak-ng)")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tts-cache")


@pytest.fixture(scope="module")
def pa() -> Iterator[PulseSinks]:
    with pulse_null_sinks() as sinks:
        yield sinks


@pytest.fixture()
def speaker(pa: PulseSinks, cache_dir: Path) -> Iterator[DeviceSpeaker]:
    _require_espeak()
    with DeviceSpeaker(SpeakerConfig(device=pa.device, cache_dir=cache_dir)) as spk:
        spk.prepare([SHORT, LONG])
        yield spk


def _loud_span_s(pcm: bytes) -> tuple[float, float]:
    """(first, last) time in seconds of a 10 ms block louder than LOUD in a 16 kHz capture."""
    x = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    n = CAPTURE_RATE_HZ // 100
    env = x[: x.size // n * n].reshape(-1, n).max(axis=1)
    loud = np.flatnonzero(env > LOUD)
    assert loud.size, "the capture is silent"
    return loud[0] / 100, (loud[-1] + 1) / 100


def _speech_span_s(samples: np.ndarray, rate_hz: int) -> float:
    """Length of the sounding part of a synthesized clip (espeak adds a pause at the end)."""
    n = rate_hz // 100
    env = np.abs(samples[: samples.size // n * n].astype(np.int32)).reshape(-1, n).max(axis=1)
    loud = np.flatnonzero(env > LOUD)
    return (loud[-1] + 1 - loud[0]) / 100


def _alive(pid: int) -> bool:
    """True if ``pid`` still exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# --------------------------------------------------------------------------------------------
# Synthesis and the cache


def test_prepare_synthesizes_once_and_the_next_start_hits_the_disk_cache(tmp_path: Path) -> None:
    _require_espeak()
    config = SpeakerConfig(cache_dir=tmp_path)
    with Synthesizer(config) as synth:
        assert synth.prepare([SHORT, "Drink water.", SHORT]) == 2
        first, rate_hz = synth.pcm(SHORT)
    assert rate_hz == 22_050 and first.dtype == np.int16 and _speech_span_s(first, rate_hz) > 1.0
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".wav", ".wav"]
    with Synthesizer(config) as again:
        assert again.prepare([SHORT, "Drink water."]) == 0
        assert again.worker.pid is None  # never started: everything came from disk
        np.testing.assert_array_equal(again.pcm(SHORT)[0], first)


def test_rate_and_voice_are_part_of_the_cache_key(tmp_path: Path) -> None:
    _require_espeak()
    slow = Synthesizer(SpeakerConfig(cache_dir=tmp_path, rate_wpm=130))
    fast = Synthesizer(SpeakerConfig(cache_dir=tmp_path, rate_wpm=260))
    other_voice = Synthesizer(SpeakerConfig(cache_dir=tmp_path, rate_wpm=130, voice="en-gb"))
    assert len({slow.key(SHORT), fast.key(SHORT), other_voice.key(SHORT)}) == 3
    with slow, fast:
        slow_pcm, rate_hz = slow.pcm(SHORT)
        fast_pcm, _ = fast.pcm(SHORT)
        assert fast.synthesized == 1  # not served from slow's cache entry
    assert _speech_span_s(fast_pcm, rate_hz) < 0.75 * _speech_span_s(slow_pcm, rate_hz)


def test_unknown_voice_is_a_one_line_speaker_error(tmp_path: Path) -> None:
    _require_espeak()
    with Synthesizer(SpeakerConfig(cache_dir=tmp_path, voice="klingon-xx")) as synth:
        with pytest.raises(SpeakerError) as info:
            synth.pcm(SHORT)
    assert "klingon-xx" in str(info.value) and "\n" not in str(info.value)
    assert not list(tmp_path.glob("*.wav"))


HANGING_WORKER = textwrap.dedent("""
    import os, sys, time
    from voiceskill.speaker import synthesize_request, worker_main

    def synth(engine, request):
        if "hang" in request["text"]:
            time.sleep(3600)
        if "crash" in request["text"]:
            os._exit(3)
        synthesize_request(engine, request)

    sys.exit(worker_main(synth))
""")


def test_a_hanging_worker_is_killed_and_restarted(tmp_path: Path) -> None:
    _require_espeak()
    script = tmp_path / "hanging_worker.py"
    script.write_text(HANGING_WORKER)
    with TtsWorker(timeout_s=2.0, command=[sys.executable, str(script)]) as worker:
        worker.synthesize("hello", "en-us", 170, tmp_path / "a.wav")
        first_pid = worker.pid
        assert first_pid is not None
        with pytest.raises(SpeakerError, match="hung .* twice"):
            worker.synthesize("please hang now", "en-us", 170, tmp_path / "b.wav")
        assert worker.restarts == 2 and not _alive(first_pid)
        worker.synthesize("still talking", "en-us", 170, tmp_path / "c.wav")  # a fresh child
        second_pid = worker.pid
        assert second_pid not in (None, first_pid)
    assert not _alive(second_pid)
    with wave.open(str(tmp_path / "c.wav")) as w:
        assert w.getnframes() > 0


def test_a_crashing_worker_is_restarted(tmp_path: Path) -> None:
    _require_espeak()
    script = tmp_path / "crashing_worker.py"
    script.write_text(HANGING_WORKER)
    with TtsWorker(timeout_s=10.0, command=[sys.executable, str(script)]) as worker:
        with pytest.raises(SpeakerError, match="crashed twice"):
            worker.synthesize("crash please", "en-us", 170, tmp_path / "a.wav")
        assert worker.restarts == 2
        worker.synthesize("fine again", "en-us", 170, tmp_path / "b.wav")
        assert worker.pid is not None


def test_a_worker_that_never_answers_fails_within_the_timeout(tmp_path: Path) -> None:
    with TtsWorker(timeout_s=1.0, command=[sys.executable, "-c", "import time; time.sleep(3600)"]) as worker:
        with pytest.raises(SpeakerError, match="did not start"):
            worker.synthesize("hello", "en-us", 170, tmp_path / "a.wav")
        assert worker.pid is None


def test_worker_reports_an_engine_that_cannot_start(tmp_path: Path) -> None:
    broken = [sys.executable, "-c", "import json, sys; "
              "print(json.dumps({'ready': False, 'error': 'OSError: no libespeak-ng'}), flush=True)"]
    with TtsWorker(timeout_s=5.0, command=broken) as worker:
        with pytest.raises(SpeakerError, match="no libespeak-ng.*apt-get install espeak-ng"):
            worker.synthesize("hello", "en-us", 170, tmp_path / "a.wav")


# --------------------------------------------------------------------------------------------
# Earcons and the WAV file speaker


@pytest.mark.parametrize("kind", ["start", "stop", "error"])
def test_earcons_are_short_generated_tones(kind: str) -> None:
    x = earcon_pcm(kind, 16_000)  # type: ignore[arg-type]
    assert 0.08 <= x.size / 16_000 <= 0.12
    assert 0.3 < np.abs(x).max() <= 1.0 and abs(x[0]) < 0.01 and abs(x[-1]) < 0.01


def test_start_earcon_rises_and_stop_earcon_falls() -> None:
    def crossings(x: np.ndarray) -> int:
        return int(np.count_nonzero(np.diff(np.signbit(x))))

    start, stop = earcon_pcm("start", 16_000), earcon_pcm("stop", 16_000)
    half = start.size // 2
    assert crossings(start[:half]) < crossings(start[half:])
    assert crossings(stop[:half]) > crossings(stop[half:])


def test_wav_file_speaker_appends_everything_to_a_valid_wav(tmp_path: Path, cache_dir: Path) -> None:
    _require_espeak()
    out = tmp_path / "answers.wav"
    with WavFileSpeaker(out, SpeakerConfig(cache_dir=cache_dir, volume=0.5)) as spk:
        assert spk.prepare([SHORT]) <= 1
        first = spk.say(SHORT)
        beep = spk.earcon("stop")
        second = spk.say("Drink water.")
        assert not spk.is_speaking and spk.wait(0.0)
        assert first.first_sample_at is not None and spk.first_sample_at == second.first_sample_at
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22_050)
        frames = w.getnframes()
        pcm = np.frombuffer(w.readframes(frames), dtype="<i2")
    expected = first.duration_s + beep.duration_s + second.duration_s
    assert abs(frames / 22_050 - expected) < 0.01
    assert np.abs(pcm).max() <= 0.5 * 32768 + 1  # volume applied


# --------------------------------------------------------------------------------------------
# Playback into a real (null) sink


def test_unknown_output_device_is_a_device_error(pa: PulseSinks, tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="voiceskill devices"):
        DeviceSpeaker(SpeakerConfig(device="no-such-speaker-xyz", cache_dir=tmp_path))


def test_say_plays_the_answer_into_the_speaker(pa: PulseSinks, speaker: DeviceSpeaker) -> None:
    seen: list[Utterance] = []
    speaker.on_first_sample = seen.append
    pcm, rate_hz = speaker.synthesizer.pcm(SHORT)
    with pa.start_recording() as rec:
        time.sleep(0.2)
        utt = speaker.say(SHORT)
        assert speaker.is_speaking
        assert speaker.wait(30.0)
        time.sleep(0.2)
        captured = rec.stop()
    assert seen == [utt] and utt.first_sample_at is not None and not utt.stopped
    assert utt.queued_at <= utt.first_sample_at <= utt.finished_at  # type: ignore[operator]
    assert speaker.first_sample_at == utt.first_sample_at
    start, end = _loud_span_s(captured)
    assert abs((end - start) - _speech_span_s(pcm, rate_hz)) < 0.5
    assert not speaker.is_speaking


def test_stop_mid_sentence_cuts_the_sound(pa: PulseSinks, speaker: DeviceSpeaker) -> None:
    with pa.start_recording() as rec:
        time.sleep(0.2)
        utt = speaker.say(LONG)
        time.sleep(1.0)
        speaker.stop()
        stopped_at = time.monotonic()
        assert not speaker.is_speaking and utt.stopped
        assert speaker.wait(0.0)
        time.sleep(1.0)
        captured = rec.stop()
    assert utt.first_sample_at is not None and utt.duration_s > 8.0
    start, end = _loud_span_s(captured)
    played_s = stopped_at - utt.first_sample_at  # about 1 s (more on a busy machine)
    assert end - start < min(played_s + 0.5, utt.duration_s - 4.0)  # cut short, not played out


def test_queued_sounds_play_in_order_and_volume_scales(pa: PulseSinks, speaker: DeviceSpeaker) -> None:
    peaks = []
    for volume in (1.0, 0.25):
        speaker.volume = volume
        with pa.start_recording() as rec:
            time.sleep(0.2)
            beep = speaker.earcon("start")
            utt = speaker.say(SHORT)
            assert speaker.wait(30.0)
            time.sleep(0.2)
            captured = rec.stop()
        assert beep.first_sample_at is not None and utt.first_sample_at is not None
        assert beep.first_sample_at < utt.first_sample_at
        peaks.append(np.abs(np.frombuffer(captured, dtype="<i2")).max())
    speaker.volume = 1.0
    assert 0.15 < peaks[1] / peaks[0] < 0.35


def test_the_spoken_answer_is_understood_by_vosk(pa: PulseSinks, speaker: DeviceSpeaker) -> None:
    from voiceskill.models import resolve_model_dir

    try:
        model_dir = resolve_model_dir()
    except ModelError as exc:
        model_dir = None
        why = str(exc)
    require(model_dir, f"the Vosk model (voiceskill model install): {why if not model_dir else ''}")
    import vosk

    vosk.SetLogLevel(-1)
    text = "stretch the muscle slowly and hold it for thirty seconds"
    speaker.prepare([text])
    with pa.start_recording() as rec:
        time.sleep(0.2)
        speaker.say(text)
        assert speaker.wait(30.0)
        time.sleep(0.3)
        captured = rec.stop()
    recognizer = vosk.KaldiRecognizer(vosk.Model(str(model_dir)), CAPTURE_RATE_HZ)
    recognizer.AcceptWaveform(captured)
    heard = json.loads(recognizer.FinalResult())["text"]
    # Vosk sometimes splits the same sounds differently ("muscles lowly"): compare without word
    # boundaries, in order. One key word may be lost (a playback underrun on a loaded machine once
    # turned "stretch" into "smash"); silence, noise or another sentence keeps at most one or two.
    letters = heard.replace(" ", "")
    at, found = 0, 0
    for word in ("stretch", "muscle", "slowly", "hold", "thirty", "seconds"):
        where = letters.find(word, at)
        if where >= 0:
            at, found = where + len(word), found + 1
    assert found >= 5, heard
