"""A dict that keeps only the keys used most recently: the bounded caches of long-running servers."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """At most ``limit`` entries; setting or getting a key makes it the newest, and the oldest is
    dropped (``dropped(key, value)`` is told) when there are more."""

    def __init__(self, limit: int, dropped: Callable[[K, V], None] | None = None) -> None:
        if limit < 1:
            raise ValueError(f"a bounded dict holds at least one entry, not {limit}")
        self.limit = limit
        self._dropped = dropped
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            old, gone = self._items.popitem(last=False)
            if self._dropped is not None:
                self._dropped(old, gone)

    def get(self, key: K) -> V | None:
        """The value of ``key`` (which becomes the newest entry), or None."""
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def pop(self, key: K) -> V | None:
        return self._items.pop(key, None)

    def oldest(self) -> tuple[K, V] | None:
        """The entry used longest ago, or None when empty."""
        return next(iter(self._items.items()), None)
