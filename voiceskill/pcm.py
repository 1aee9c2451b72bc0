"""The audio format used everywhere inside voiceskill, and the conversions to and from it.

Inside the pipeline audio is a stream of *chunks*: ``bytes`` of little-endian int16 PCM, mono, at
:data:`RATE_HZ`. Conversion from other formats happens only at the edges (:mod:`voiceskill.wavio`
for files, the microphone stream for devices).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import DTypeLike

RATE_HZ = 16_000
"""Sample rate of every chunk, in hertz."""
CHANNELS = 1
SAMPLE_WIDTH_BYTES = 2
CHUNK_MS = 20
"""Duration of one microphone chunk, in milliseconds."""
CHUNK_SAMPLES = RATE_HZ * CHUNK_MS // 1000
CHUNK_BYTES = CHUNK_SAMPLES * SAMPLE_WIDTH_BYTES
FULL_SCALE = 32768.0
"""int16 full scale: a sample of ``FULL_SCALE`` is 1.0 as a float."""
SILENCE_PEAK = 1e-3
"""A peak below this (fraction of full scale, about -60 dBFS) is silence, not sound."""


# numpy is imported inside the conversions: the constants above are read by the settings, which
# load without numpy (`voiceskill --version`, `voiceskill ask`).


def int16_to_float(samples: np.ndarray, dtype: DTypeLike = "float32") -> np.ndarray:
    """int16 samples -> floats in [-1, 1) (``dtype``, float32 by default)."""
    return samples.astype(dtype) / FULL_SCALE


def pcm_to_float(pcm: bytes, dtype: DTypeLike = "float32") -> np.ndarray:
    """Little-endian int16 PCM -> float samples in [-1, 1) (``dtype``, float32 by default)."""
    import numpy as np

    return int16_to_float(np.frombuffer(pcm, dtype="<i2"), dtype)


def float_to_pcm(x: np.ndarray) -> bytes:
    """Float samples (clipped to [-1, 1]) -> little-endian int16 PCM bytes."""
    import numpy as np

    y = np.clip(np.asarray(x, dtype=np.float64) * FULL_SCALE, -FULL_SCALE, FULL_SCALE - 1)
    return np.rint(y).astype("<i2").tobytes()
