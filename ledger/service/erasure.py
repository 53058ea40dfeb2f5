"""Erasing a bidder (`samsold erase --bidder USER`, administrators): their private data goes,
every hash, proof and `verify` still holds.

Events are never rewritten: what an event written since commitments exist holds of a bidder
is a commitment, and its disclosure (`ledger.domain.commitments`) is what an erasure deletes:
the fields of the events where they are the bidder, winner or leader (`OWNERS`). With them go
the records keyed by the bidder (aliases, records of lots, quota records) and their bids'
requests, receipts and retractions. Each lot whose disclosures went is folded again from its events,
now reading their fields as None, and its snapshot replaced (conditional on its version): so `replay` agrees, and no snapshot keeps their id. A record of the erasure holds
when and how much, no personal data.

Only a bidder whose lots have all ended is erased: an open lot's rules still need who leads
and their maximum. Events written before commitments hold their values in their bodies and
keep them (their public proofs show only their hashes).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from ledger.domain import commitments
from ledger.domain.errors import InvalidState, NotAllowed
from ledger.domain.events import OUTBID, BidPlaced, BidRejected, BidRetracted
from ledger.domain.state import LotSnapshot, evolve, fold
from ledger.domain.values import format_time, utc_now
from ledger.service.commands import LotCommands
from ledger.service.queries import LotQueries
from ledger.snapshot_item import snapshot_to_item

# The bidder's records of lots are read this many at a time.
LOTS_PAGE = 100


class Erased(BaseModel):
    """The record of an erasure: when, and how much; no personal data."""

    model_config = ConfigDict(frozen=True)

    erasure_id: str
    erased_at: str
    lots: int  # the lots the bidder bid on
    disclosures: int  # the disclosures deleted
    records: int  # the records keyed by them or their bids, deleted
    snapshots: int  # the lots' snapshots refolded


class BidderErasure:
    def __init__(self, commands: LotCommands, queries: LotQueries, clock: Callable[[], datetime] = utc_now) -> None:
        self.commands = commands
        self.queries = queries
        self.store = commands.store
        self.clock = clock

    def erase_bidder(self, user: str, is_admin: bool) -> Erased:
        """Erase the bidder (see the module's docstring); InvalidState, erasing nothing, while a
        lot they bid on has not ended."""
        if not is_admin:
            raise NotAllowed("only administrators may erase a bidder")
        lot_ids = self._lots_of(user)
        snapshots = {lot_id: self.queries.find_lot(lot_id) for lot_id in lot_ids}
        open_lots = sorted(lot_id for lot_id, lot in snapshots.items() if lot is not None and lot.status == "OPEN")
        if open_lots:
            raise InvalidState("the bidder has bid on lots still open: erase them once those end", {"lots": open_lots})
        disclosures, bid_ids, changed = 0, set[str](), 0
        for lot_id in lot_ids:
            touched = False
            state: LotSnapshot | None = None  # who leads before each event
            for event in self.queries.lot_events(lot_id):
                leader = state.leader if state is not None else None
                state = evolve(event, state)
                if isinstance(event, BidPlaced | BidRejected | BidRetracted) and event.bidder == user:
                    bid_ids.add(event.bid_id)
                if not event.sealed:
                    continue  # written before commitments: its values stay in its body
                values = {name: getattr(event, name) for name in event.sealed}
                answered = isinstance(event, BidPlaced) and event.outcome == OUTBID
                owned = commitments.owned_by(type(event).__name__, values, user, answered_by=leader if answered else None)
                if owned:
                    self.store.delete_disclosures(lot_id, event.version, owned)
                    disclosures += len(owned)
                    touched = True
            if touched:
                changed += self._fold_again(lot_id)
        records = self.store.delete_user_records(user, sorted(bid_ids))
        erased = Erased(erasure_id=uuid.uuid4().hex, erased_at=format_time(self.clock()), lots=len(lot_ids),
                        disclosures=disclosures, records=records, snapshots=changed)
        self.store.record_erasure(erased.model_dump())
        return erased

    def _lots_of(self, user: str) -> list[str]:
        """Every lot the bidder has a record of (a bid of theirs, accepted or rejected)."""
        lot_ids: list[str] = []
        after: str | None = None
        while True:
            records, after = self.store.bidder_lots(user, LOTS_PAGE, after)
            lot_ids += [str(record["lot_id"]) for record in records]
            if after is None:
                return lot_ids

    def _fold_again(self, lot_id: str) -> int:
        """Replace the lot's snapshot by the fold of its events as they now read (conditional on
        its version: SnapshotChanged when a late command moved it on; erasing again finishes)."""
        self.queries.forget(lot_id)
        state = fold(self.queries.lot_events(lot_id))
        if state is None:
            return 0
        self.commands.replace_snapshot(snapshot_to_item(state), expected_version=state.version)
        return 1
