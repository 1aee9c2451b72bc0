"""The audio format used everywhere inside voiceskill.

Inside the pipeline audio is a stream of *chunks*: ``bytes`` of little-endian int16 PCM, mono, at
:data:`RATE_HZ`. Conversion from other formats happens only at the edges (:mod:`voiceskill.wavio`
for files, the microphone stream for devices).
"""

from __future__ import annotations

RATE_HZ = 16_000
"""Sample rate of every chunk, in hertz."""
CHANNELS = 1
SAMPLE_WIDTH_BYTES = 2
CHUNK_MS = 20
"""Duration of one microphone chunk, in milliseconds."""
CHUNK_SAMPLES = RATE_HZ * CHUNK_MS // 1000
CHUNK_BYTES = CHUNK_SAMPLES * SAMPLE_WIDTH_BYTES
