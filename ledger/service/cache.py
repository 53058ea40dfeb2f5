"""One bounded cache for the service's rooms: what this instance last read or wrote, kept
per key (a lot id) so the next use of the same lot skips a read. A Lambda container serves
a few thousand lots, so every cache is bounded: beyond `size` keys the least recently used
is dropped first; with `max_age_s` an entry older than that is not given out (for values
whose use must not be stale beyond a bound)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most `size` values, the least recently used dropped first; with `max_age_s`, only
    values put at most that long ago are given (`clock`: seconds, `time.monotonic`), and a
    max age of 0 or less keeps nothing. Safe across threads (the broadcast's fan-out threads)."""

    def __init__(self, size: int, max_age_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.max_age_s = max_age_s
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or (self.max_age_s is not None and self._clock() - entry[0] > self.max_age_s):
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: K, value: V, replaces: Callable[[V, V], bool] | None = None) -> V:
        """Keep `value` under `key` and give it back; with `replaces`, a value kept already
        stays unless `replaces(kept, value)` says the new one is to replace it (it is given back then)."""
        if self.max_age_s is not None and self.max_age_s <= 0:
            return value
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None and replaces is not None and not replaces(kept[1], value):
                self._entries.move_to_end(key)
                return kept[1]
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return value

    def drop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
