"""The denoise stage: a streaming noise-suppression front end in front of the recognizer.

16 kHz mono int16 chunks in, the same number of samples out, the enhanced audio delayed by a fixed
:attr:`Denoiser.latency_samples` (``frame_ms`` = 30 ms with the defaults), whatever the chunk lengths.

How it works (pure numpy, short-time Fourier transform, 30 ms Hann frames every 10 ms, weighted
overlap-add with a Hann synthesis window so an all-pass gain gives back the input exactly):

* **High-pass** (optional, off by default) in the frequency domain: a zero-phase 4th-order
  Butterworth magnitude at ``highpass_hz``. The gym's kick drum and much of its pink noise lie below
  200 Hz, but the recognizer's log-mel features keep that energy in their lowest few bands, and
  cutting it did not help the recognizer (``benchmarks/denoise_bench.py``), so it is off.
* **Noise estimate**: minimum statistics (Martin 2001, simplified): the per-bin minimum of the
  smoothed power over the last ``noise_window_s`` times ``noise_bias`` (the minimum of a noisy
  power underestimates its mean). It tracks the noise with no help, so a file works as it is.
  Audio known to hold no speech (the orchestrator while idle) goes to :meth:`Denoiser.learn_noise`,
  which keeps a running mean noise power; when present, the noise estimate is the larger of the two.
* **Suppression**: a Wiener gain from the decision-directed a-priori SNR (Ephraim & Malah), with
  over-subtraction (``oversubtract``) and a floor (``gain_floor_db``) that keeps some noise
  (no "musical noise", and the recognizer was trained on noisy speech, so a floor helps it).

What it gains and costs is measured by ``benchmarks/denoise_bench.py`` (its output, and the README's
"Hearing in a gym"); the per-frame work is one 480-point FFT pair and a handful of numpy operations
on 241 bins.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from voiceskill.pcm import FULL_SCALE, RATE_HZ, float_to_pcm, pcm_to_float
from voiceskill.settings import PRESETS, DenoiseConfig, WebRtcConfig

log = logging.getLogger(__name__)


class Denoiser:
    """Streaming noise suppression (see the module doc). Not thread-safe: one caller.

    ``process(chunk)`` returns as many samples as it is given: the enhanced signal delayed by
    :attr:`latency_samples`. ``process_file(pcm)`` handles a whole buffer with the delay removed.
    """

    def __init__(self, config: DenoiseConfig = DenoiseConfig()) -> None:
        self.config = config
        rate = config.rate_hz
        self.hop = rate * config.hop_ms // 1000
        self.n = rate * config.frame_ms // 1000
        self.latency_samples = self.n if config.enabled else 0
        """Output delay in samples (30 ms at the defaults; 0 when disabled)."""
        # periodic Hann: Hann^2 at 1/3 overlap sums to 9/8 exactly
        self._window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n) / self.n)).astype(np.float64)
        self._ola_scale = 1.0 / (3.0 * 3.0 / 8.0)
        freqs = np.fft.rfftfreq(self.n, 1.0 / rate)
        self.bins = freqs.size
        if config.highpass_hz > 0:
            with np.errstate(divide="ignore"):
                ratio = np.where(freqs > 0, config.highpass_hz / np.maximum(freqs, 1e-9), np.inf)
            self._hp = 1.0 / np.sqrt(1.0 + ratio ** 8)
        else:
            self._hp = np.ones(self.bins)
        self._floor = 10.0 ** (config.gain_floor_db / 20.0)
        hops_per_s = 1000.0 / config.hop_ms
        # minimum statistics: U sub-windows of V frames
        self._sub_count = 8
        self._sub_len = max(1, round(config.noise_window_s * hops_per_s / self._sub_count))
        self._learn_alpha = math.exp(-1.0 / max(1e-3, config.learn_time_s * hops_per_s))
        self.reset()

    # -- state

    def reset(self) -> None:
        """Forget everything: audio buffers, noise estimates, gains."""
        self._in = np.zeros(self.n - self.hop)  # analysis history (the frame minus one hop)
        self._pending = np.zeros(0)  # input samples not yet forming a full hop
        self._ola = np.zeros(self.n)  # overlap-add accumulator
        # finished output waiting to be returned; one hop of leading zeros makes the total delay
        # (n - hop from the frame + hop here) exactly n samples whatever the chunk lengths
        self._out = np.zeros(self.hop if self.config.enabled else 0)
        self._smoothed: np.ndarray | None = None
        self._sub_min = np.full(self.bins, np.inf)
        self._sub_pos = 0
        self._mins: list[np.ndarray] = []
        self._learned: np.ndarray | None = None
        self._learn_pending = np.zeros(0)
        self._learn_hist = np.zeros(self.n - self.hop)
        self._prev_clean = np.zeros(self.bins)  # |G X|^2 of the previous frame (decision-directed)
        self._started = False

    @property
    def noise_power(self) -> np.ndarray | None:
        """The current per-bin noise power estimate (None before any audio)."""
        return self._noise_estimate()

    # -- noise

    def _track(self, power: np.ndarray) -> None:
        """Minimum statistics: smooth the power, keep per-sub-window minima."""
        a = self.config.power_smoothing
        self._smoothed = power.copy() if self._smoothed is None else a * self._smoothed + (1 - a) * power
        np.minimum(self._sub_min, self._smoothed, out=self._sub_min)
        self._sub_pos += 1
        if self._sub_pos >= self._sub_len:
            self._mins.append(self._sub_min)
            if len(self._mins) > self._sub_count:
                self._mins.pop(0)
            self._sub_min = np.full(self.bins, np.inf)
            self._sub_pos = 0

    def _noise_estimate(self) -> np.ndarray | None:
        if self._smoothed is None and self._learned is None:
            return None
        est = None
        if self._smoothed is not None:
            m = self._sub_min
            for sub in self._mins:
                m = np.minimum(m, sub)
            est = m * self.config.noise_bias
        if self._learned is not None:
            est = self._learned if est is None else np.maximum(est, self._learned)
        return est

    def learn_noise(self, chunk: bytes) -> None:
        """Feed audio known to hold no speech (e.g. while idle): it sharpens the noise estimate.

        Does not produce output and does not touch the output stream."""
        if not self.config.enabled or not self.config.suppress:
            return
        x = np.concatenate([self._learn_pending, _to_float(chunk)])
        usable = x.size // self.hop * self.hop
        self._learn_pending = x[usable:]
        a = self._learn_alpha
        for i in range(0, usable, self.hop):
            frame = np.concatenate([self._learn_hist, x[i:i + self.hop]])
            self._learn_hist = frame[self.hop:]
            power = np.abs(np.fft.rfft(frame * self._window)) ** 2
            self._learned = power if self._learned is None else a * self._learned + (1 - a) * power
            self._track(power)

    def estimate_noise(self, pcm: bytes, quietest: float = 0.2) -> None:
        """Set the learned noise from the ``quietest`` fraction of frames of a whole buffer (a file
        with no known-quiet audio): their mean power per bin."""
        x = _to_float(pcm)
        if x.size < self.n:
            return
        count = (x.size - self.n) // self.hop + 1
        idx = np.arange(self.n)[None, :] + self.hop * np.arange(count)[:, None]
        power = np.abs(np.fft.rfft(x[idx] * self._window, axis=1)) ** 2
        band = power[:, self._hp > 0.5].sum(axis=1)
        keep = max(1, int(count * quietest))
        self._learned = power[np.argsort(band)[:keep]].mean(axis=0)

    # -- processing

    def _gain(self, power: np.ndarray) -> np.ndarray:
        cfg = self.config
        self._track(power)
        noise = self._noise_estimate()
        assert noise is not None
        noise = noise * cfg.oversubtract + 1e-12
        post = power / noise
        prior = cfg.dd_alpha * self._prev_clean / noise + (1 - cfg.dd_alpha) * np.maximum(post - 1.0, 0.0)
        gain = np.maximum(prior / (1.0 + prior), self._floor)
        self._prev_clean = gain * gain * power
        return gain

    def _frames(self, x: np.ndarray) -> np.ndarray:
        """Process whole hops of input; returns the finished output samples (a multiple of hop)."""
        out = np.empty(x.size)
        for i in range(0, x.size, self.hop):
            frame = np.concatenate([self._in, x[i:i + self.hop]])
            self._in = frame[self.hop:]
            spec = np.fft.rfft(frame * self._window)
            gain = self._hp
            if self.config.suppress:
                gain = gain * self._gain(spec.real ** 2 + spec.imag ** 2)
            y = np.fft.irfft(spec * gain, self.n) * self._window * self._ola_scale
            self._ola += y
            out[i:i + self.hop] = self._ola[:self.hop]
            self._ola = np.concatenate([self._ola[self.hop:], np.zeros(self.hop)])
        return out

    def process(self, chunk: bytes) -> bytes:
        """Enhance one chunk (any length); returns the same number of samples, delayed by
        :attr:`latency_samples`."""
        if not self.config.enabled or not chunk:
            return chunk
        x = np.concatenate([self._pending, _to_float(chunk)])
        usable = x.size // self.hop * self.hop
        self._pending = x[usable:]
        if usable:
            self._out = np.concatenate([self._out, self._frames(x[:usable])])
        n_out = len(chunk) // 2
        y, self._out = self._out[:n_out], self._out[n_out:]
        return _to_pcm(y)

    def process_file(self, pcm: bytes) -> bytes:
        """Enhance a whole buffer: same length, no delay. Without learned noise, first estimates
        the noise from the buffer's quietest frames (:meth:`estimate_noise`)."""
        if not self.config.enabled or not pcm:
            return pcm
        if self._learned is None and self.config.suppress:
            self.estimate_noise(pcm)
        pad = self.latency_samples + self.hop
        y = self.process(pcm + bytes(2 * pad))
        return y[2 * self.latency_samples: 2 * self.latency_samples + len(pcm)]

    def __enter__(self) -> Denoiser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reset()


def _to_float(pcm: bytes) -> np.ndarray:
    """PCM -> float64 samples on the int16 scale (the denoiser's working scale)."""
    return pcm_to_float(pcm, np.float64) * FULL_SCALE


def _to_pcm(x: np.ndarray) -> bytes:
    return float_to_pcm(x / FULL_SCALE)


class WebRtcFilter:
    """Streaming WebRTC noise suppression / auto gain with the :class:`Denoiser` interface: it
    works on 10 ms frames, so its output is delayed by one frame (:attr:`latency_samples`)."""

    def __init__(self, config: WebRtcConfig = WebRtcConfig()) -> None:
        from webrtc_noise_gain import AudioProcessor

        self.config = config
        self._make = lambda: AudioProcessor(config.auto_gain_dbfs, config.noise_suppression)
        self.frame_bytes = 2 * config.rate_hz // 100
        self.latency_samples = self.frame_bytes // 2
        self.reset()

    def reset(self) -> None:
        """Forget everything (the suppressor's noise estimate and gain too)."""
        self._processor = self._make()
        self._pending = b""
        self._out = bytes(self.frame_bytes)  # one frame of delay, whatever the chunk lengths

    def learn_noise(self, chunk: bytes) -> None:
        """Idle audio: WebRTC tracks the noise in the audio it processes; keep it adapting."""
        self.process(chunk)

    def process(self, chunk: bytes) -> bytes:
        """Clean one chunk (any length); returns as many samples, delayed by one 10 ms frame."""
        data = self._pending + chunk
        usable = len(data) // self.frame_bytes * self.frame_bytes
        done = [self._processor.Process10ms(data[i:i + self.frame_bytes]).audio
                for i in range(0, usable, self.frame_bytes)]
        self._pending = data[usable:]
        out = self._out + b"".join(done)
        self._out = out[len(chunk):]
        return out[:len(chunk)]

    def process_file(self, pcm: bytes) -> bytes:
        """Clean a whole buffer: same length, no delay."""
        lead = 2 * self.latency_samples
        y = self.process(pcm + bytes(lead + self.frame_bytes))
        return y[lead:lead + len(pcm)]

    def __enter__(self) -> WebRtcFilter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reset()


def front_end(name: str, rate_hz: int = RATE_HZ) -> Denoiser | WebRtcFilter | None:
    """A fresh front end for pass ``name`` (None for ``plain``)."""
    from dataclasses import replace

    preset = PRESETS[name]
    if preset is None:
        return None
    if isinstance(preset, WebRtcConfig):
        return WebRtcFilter(replace(preset, rate_hz=rate_hz))
    return Denoiser(replace(preset, rate_hz=rate_hz))


