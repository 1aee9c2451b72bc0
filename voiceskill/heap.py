"""The C heap of the long-running coach: few malloc arenas, and freed memory handed back.

glibc gives threads that allocate at the same time arenas of their own (up to eight per core)
and keeps what is freed in them for later. The live coach has several threads (the loop, the
microphone's and the speaker's callbacks), so its resident memory rose in steps over hundreds of
turns. :func:`limit_arenas` (called by the app builders, :mod:`voiceskill.app`, before the
threads start) and :func:`release` (the orchestrator calls it once per turn, when the
answer has played or a press cut it short) keep it level; figures: README, "Benchmarks".

Both do nothing where the C library has no such calls (musl, macOS): they return False.
"""

from __future__ import annotations

import ctypes
import logging
import time
from functools import lru_cache

log = logging.getLogger(__name__)

M_ARENA_MAX = -8
"""glibc's mallopt() parameter for the number of arenas (malloc.h)."""


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, the C library's among them
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


ARENAS = 2
"""Arenas for the coach's few threads: less memory than glibc's default, as fast (README)."""


def limit_arenas(count: int = ARENAS) -> bool:
    """Let malloc use at most ``count`` arenas (call before threads start); False where it cannot."""
    libc = _libc()
    if libc is None or count < 1:
        return False
    done = bool(libc.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(count)))
    log.debug("malloc arenas limited to %d: %s", count, done)
    return done


def release() -> bool:
    """Hand the memory malloc holds free back to the system; False where it cannot."""
    libc = _libc()
    if libc is None:
        return False
    start = time.perf_counter()
    libc.malloc_trim(ctypes.c_size_t(0))
    log.debug("freed heap memory returned in %.1f ms", (time.perf_counter() - start) * 1000)
    return True
