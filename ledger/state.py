"""The one fold: from a lot's events to its `LOT#`/`SNAPSHOT` item.

The writer folds each new event onto the loaded snapshot before saving both in one
transaction; replay, time travel and dispute reports fold stored events from version 1.
Same function, so a replayed lot equals its stored snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import singledispatch
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ledger.errors import LotUnreadable
from ledger.events import BidPlaced, BidRejected, LotCancelled, LotClosed, LotCreated, LotEvent
from ledger.values import Money, UtcTime

RECENT_BIDS_KEPT = 20

LotStatus = Literal["OPEN", "CLOSED", "CANCELLED"]
Outcome = Literal["SOLD", "UNSOLD"]


class RecentBid(BaseModel):
    bid_id: str
    bidder: str
    amount: Money
    placed_at: UtcTime
    version: int


class LotSnapshot(BaseModel):
    """The state of a lot after `version` events; stored as the `LOT#`/`SNAPSHOT` item.

    Mutable on purpose: folding 100,000 events copies nothing per event.
    """

    model_config = ConfigDict(extra="ignore")

    lot_id: str
    title: str
    seller: str
    currency: str
    starting_price: Money
    reserve_price: Money | None
    increment: dict[str, Any]
    opens_at: UtcTime
    closes_at: UtcTime
    scheduled_closes_at: UtcTime  # as created, before any soft-close extension
    soft_close_window_s: int
    soft_close_extension_s: int
    hard_close_at: UtcTime | None
    status: LotStatus
    outcome: Outcome | None = None
    current_price: Money | None = None
    leader: str | None = None
    leading_bid_id: str | None = None
    bid_count: int = 0
    rejected_count: int = 0
    extension_count: int = 0
    # Bidder -> alias number, in order of first accepted bid: public views say "Bidder 3".
    aliases: dict[str, int] = {}
    recent_bids: list[RecentBid] = []
    created_at: UtcTime
    updated_at: UtcTime
    closed_at: UtcTime | None = None
    cancelled_at: UtcTime | None = None
    cancel_reason: str | None = None
    version: int
    head_hash: str

    def alias_of(self, bidder: str | None) -> str | None:
        if bidder is None or bidder not in self.aliases:
            return None
        return f"Bidder {self.aliases[bidder]}"

    def to_item(self) -> dict[str, Any]:
        """JSON-able attributes for the DynamoDB item (money and times as strings)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_item(cls, lot_id: str, item: Mapping[str, Any]) -> LotSnapshot:
        """The snapshot the lot's stored `LOT#`/`SNAPSHOT` item holds; LotUnreadable
        (naming the lot, the version stored and what is wrong) when it cannot be read back."""
        try:
            return cls.model_validate(item)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'item'}: {e['msg']}" for e in error.errors()[:3]
            )
            version = item.get("version")
            known_version = int(version) if isinstance(version, int | Decimal) and version == int(version) else None
            raise LotUnreadable(lot_id, "snapshot", problems, known_version) from None


@singledispatch
def evolve(event: LotEvent, state: LotSnapshot | None) -> LotSnapshot:
    raise TypeError(f"no fold for event type {type(event).__name__}")


def _stamp(state: LotSnapshot, event: LotEvent) -> LotSnapshot:
    state.version = event.originator_version
    state.head_hash = event.hash
    state.updated_at = event.timestamp
    return state


def _existing(state: LotSnapshot | None, event: LotEvent) -> LotSnapshot:
    if state is None:
        raise ValueError(f"{type(event).__name__} at version {event.originator_version} has no LotCreated before it")
    return state


@evolve.register
def _(event: LotCreated, state: LotSnapshot | None) -> LotSnapshot:
    if state is not None:
        raise ValueError("LotCreated can only be the first event")
    return LotSnapshot(
        lot_id=event.originator_id,
        title=event.title,
        seller=event.seller,
        currency=event.currency,
        starting_price=event.starting_price,
        reserve_price=event.reserve_price,
        increment=event.increment,
        opens_at=event.opens_at,
        closes_at=event.closes_at,
        scheduled_closes_at=event.closes_at,
        soft_close_window_s=event.soft_close_window_s,
        soft_close_extension_s=event.soft_close_extension_s,
        hard_close_at=event.hard_close_at,
        status="OPEN",
        aliases={},
        recent_bids=[],
        created_at=event.timestamp,
        updated_at=event.timestamp,
        version=event.originator_version,
        head_hash=event.hash,
    )


@evolve.register
def _(event: BidPlaced, state: LotSnapshot | None) -> LotSnapshot:
    state = _existing(state, event)
    if event.bidder not in state.aliases:
        state.aliases[event.bidder] = len(state.aliases) + 1
    if event.closes_at > state.closes_at:
        state.extension_count += 1
        state.closes_at = event.closes_at
    state.current_price = event.amount
    state.leader = event.bidder
    state.leading_bid_id = event.bid_id
    state.bid_count += 1
    state.recent_bids.append(
        RecentBid(
            bid_id=event.bid_id,
            bidder=event.bidder,
            amount=event.amount,
            placed_at=event.placed_at,
            version=event.originator_version,
        )
    )
    del state.recent_bids[:-RECENT_BIDS_KEPT]
    return _stamp(state, event)


@evolve.register
def _(event: BidRejected, state: LotSnapshot | None) -> LotSnapshot:
    state = _existing(state, event)
    state.rejected_count += 1
    return _stamp(state, event)


@evolve.register
def _(event: LotClosed, state: LotSnapshot | None) -> LotSnapshot:
    state = _existing(state, event)
    state.status = "CLOSED"
    state.outcome = event.outcome  # type: ignore[assignment]
    state.closed_at = event.timestamp
    return _stamp(state, event)


@evolve.register
def _(event: LotCancelled, state: LotSnapshot | None) -> LotSnapshot:
    state = _existing(state, event)
    state.status = "CANCELLED"
    state.cancelled_at = event.timestamp
    state.cancel_reason = event.reason
    return _stamp(state, event)


def fold(events: Iterable[LotEvent], state: LotSnapshot | None = None) -> LotSnapshot | None:
    """Fold events onto a state (None: from nothing). Returns None for no events at all."""
    for event in events:
        state = evolve(event, state)
    return state

