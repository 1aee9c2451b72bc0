"""voiceskill/bounded.py: the bounded dict behind the servers' caches."""

from __future__ import annotations

import pytest

from voiceskill.bounded import Recent


def test_the_entry_used_longest_ago_is_dropped_and_told() -> None:
    gone: list[tuple[str, int]] = []
    recent: Recent[str, int] = Recent(2, lambda k, v: gone.append((k, v)))
    recent["a"] = 1
    recent["b"] = 2
    assert recent.get("a") == 1          # reading "a" makes it the newest ...
    recent["c"] = 3                      # ... so "b" goes
    assert gone == [("b", 2)] and "b" not in recent and len(recent) == 2
    recent["a"] = 10                     # setting again: still two entries, "a" newest
    assert recent.oldest() == ("c", 3) and len(recent) == 2
    assert recent.pop("c") == 3 and recent.pop("c") is None and recent.get("c") is None
    assert recent.pop("a") == 10 and recent.oldest() is None


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Recent(0)
