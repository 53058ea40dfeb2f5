"""Checkpointed folds for time travel (`LotQueries.lot_as_of`): the state of a lot at every
CHECKPOINT_EVERY-th version, kept as it is folded. A lot's events are never rewritten, so the
state at a version never changes: a later read of the lot at any version or time folds at most
CHECKPOINT_EVERY - 1 events from the nearest checkpoint before it, instead of all of them, and
anonymous `?as_of=` readers cannot make each read cost the lot's whole history. Bounded: at
most LOTS_KEPT lots of CHECKPOINTS_PER_LOT states each (a state is a few KB)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ledger.domain.state import LotSnapshot
from ledger.service.cache import LruCache

CHECKPOINT_EVERY = 100
LOTS_KEPT = 64
CHECKPOINTS_PER_LOT = 64


@dataclass(frozen=True)
class Checkpoint:
    """A lot's state after `version`, and the latest time of any event up to it (a read "at"
    a time takes it only when every one of those events was recorded at or before then)."""

    version: int
    state: LotSnapshot
    latest_at: datetime


class FoldCheckpoints:
    """The checkpoints of the lots last travelled in, least recently used lots dropped first."""

    def __init__(self, lots_kept: int = LOTS_KEPT, per_lot: int = CHECKPOINTS_PER_LOT) -> None:
        self.per_lot = per_lot
        self._lots: LruCache[str, dict[int, Checkpoint]] = LruCache(lots_kept)

    def nearest(self, lot_id: str, *, version: int | None = None, at: datetime | None = None) -> Checkpoint | None:
        """The latest checkpoint at or before `version` whose events were all recorded at or
        before `at` (either may be None: no bound), or None."""
        kept = self._lots.get(lot_id) or {}
        usable = [c for c in list(kept.values())
                  if (version is None or c.version <= version) and (at is None or c.latest_at <= at)]
        return max(usable, key=lambda c: c.version, default=None)

    def keep(self, lot_id: str, checkpoint: Checkpoint) -> None:
        """Keep a checkpoint (its state is not changed afterwards), the oldest one kept for the
        lot dropped beyond `per_lot`."""
        kept = self._lots.get(lot_id)
        if kept is None:
            kept = self._lots.put(lot_id, {})
        kept[checkpoint.version] = checkpoint
        while len(kept) > self.per_lot:
            kept.pop(next(iter(kept)))

    def drop(self, lot_id: str) -> None:
        self._lots.drop(lot_id)
