"""The C heap helpers (voiceskill/heap.py), on the real C library."""

from __future__ import annotations

import os
import platform

import pytest

from voiceskill import heap

GLIBC = platform.libc_ver()[0] == "glibc"


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not GLIBC, reason="malloc_trim and mallopt are glibc's")
def test_release_hands_freed_memory_back() -> None:
    # 80 MB in blocks malloc keeps on its heap (below the mmap threshold), then all freed but
    # the last, which pins the heap's top so that free() alone cannot give the rest back
    blocks = [bytearray(4096) for _ in range(20_000)]
    for b in blocks:
        b[::512] = b"x" * 8  # touch every page
    last = blocks[-1]
    del blocks
    before = _rss_mb()
    assert heap.release()
    after = _rss_mb()
    assert before - after > 40, (before, after)
    assert last[0] == ord("x")


@pytest.mark.skipif(not GLIBC, reason="malloc_trim and mallopt are glibc's")
def test_arenas_can_be_limited() -> None:
    assert heap.limit_arenas(heap.ARENAS)
    assert not heap.limit_arenas(0)
