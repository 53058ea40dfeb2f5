"""The one fold: from a lot's events to its state, the snapshot.

The writer folds each new event onto the loaded snapshot before saving both in one
transaction; replay, time travel and dispute reports fold stored events from version 1.
Same function, so a replayed lot equals its stored snapshot. How the snapshot is written
down as an item and read back is storage's business (`ledger.snapshot_item`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import singledispatch
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from ledger.domain.events import (
    ANY_BID,
    FIRST_BID,
    FROM_BID,
    OUTBID,
    BidPlaced,
    BidRejected,
    BidRetracted,
    BuyNowUntil,
    LotCancelled,
    LotClosed,
    LotCreated,
    LotEvent,
    SoftCloseMode,
    SoftCloseTrigger,
)
from ledger.domain.values import Money, UtcTime

LotStatus = Literal["OPEN", "CLOSED", "CANCELLED"]
Outcome = Literal["SOLD", "UNSOLD"]


class LotSnapshot(BaseModel):
    """The state of a lot after `version` events; stored as the `LOT#`/`SNAPSHOT` item.

    Bounded on purpose (its stored item is at most 2 KB, `ledger.snapshot_item`): it holds
    nothing that grows with bidders or bids. Bidders' aliases live in their own items (the
    BidPlaced event carries the alias it gave), the bid history is the events themselves.
    Mutable on purpose: folding 100,000 events copies nothing per event.
    """

    model_config = ConfigDict(extra="ignore")

    lot_id: str
    title: str
    seller: str
    currency: str
    starting_price: Money
    reserve_price: Money | None = None
    increment: dict[str, Any]
    opens_at: UtcTime
    closes_at: UtcTime
    scheduled_closes_at: UtcTime  # as created, before any soft-close extension
    soft_close_window_s: int
    soft_close_extension_s: int
    hard_close_at: UtcTime | None = None
    # The lot's soft-close rule (`ledger.domain.rules.soft_close`); the stored item holds it in
    # one short attribute, left out for today's rule (`ledger.snapshot_item`).
    soft_close_mode: SoftCloseMode = FROM_BID
    soft_close_trigger: SoftCloseTrigger = ANY_BID
    max_extensions: int | None = None
    # Buy-it-now terms (`ledger.domain.rules.buy_now_refusal`); the stored item holds them in one
    # short attribute (`ledger.snapshot_item`), absent for a lot without a buy-now price.
    buy_now_price: Money | None = None
    buy_now_until: BuyNowUntil = FIRST_BID
    sale_id: str | None = None  # the staggered sale the lot is in (left out of the item when None)
    # "approval": only approved registrations bid, named by paddle; None: open (left out of the item).
    registration: str | None = None
    seller_handle: str | None = None  # the seller's public handle; None for lots older than handles
    status: LotStatus
    outcome: Outcome | None = None
    current_price: Money | None = None
    leader: str | None = None
    leading_bid_id: str | None = None
    # The leader's maximum and when they placed it (private: never in public views).
    leader_maximum: Money | None = None
    leader_placed_at: UtcTime | None = None
    bid_count: int = 0
    rejected_count: int = 0
    extension_count: int = 0
    # Aliases are numbered in order of first accepted bid ("Bidder 3"): the highest given
    # so far, and the leader's (None before the first bid, or for events that carry none).
    bidder_count: int = 0
    leader_alias: int | None = None
    updated_at: UtcTime
    closed_at: UtcTime | None = None
    cancelled_at: UtcTime | None = None
    version: int
    head_hash: str

    @property
    def leader_name(self) -> str | None:
        """The leader as the public sees them: "Bidder 3" (or "Paddle 12" where bidders register)."""
        return alias_name(self.leader_alias, self.registration is not None)


def alias_name(alias: int | None, paddles: bool = False) -> str | None:
    """How public views name a bidder: by their alias on the lot, never by identity; on a lot
    that needs registration, the alias is the bidder's paddle across the sale ("Paddle 12")."""
    if alias is None:
        return None
    return f"Paddle {alias}" if paddles else f"Bidder {alias}"


class _Folded(Protocol):
    """Any fold's state: the version, head hash and time of its last event."""

    version: int
    head_hash: str
    updated_at: datetime


Stamped = TypeVar("Stamped", bound=_Folded)


@singledispatch
def evolve(event: LotEvent, state: LotSnapshot | None) -> LotSnapshot:
    raise TypeError(f"no fold for event type {type(event).__name__}")


def stamp(state: Stamped, event: Any) -> Stamped:
    """The state after `event` as every fold sees it: its version, head hash and time (a
    lot's, a registration's, a bidder's standing)."""
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
        soft_close_mode=event.soft_close_mode,
        soft_close_trigger=event.soft_close_trigger,
        max_extensions=event.max_extensions,
        buy_now_price=event.buy_now_price,
        buy_now_until=event.buy_now_until,
        sale_id=event.sale_id,
        registration=event.registration,
        seller_handle=event.seller_handle,
        status="OPEN",
        updated_at=event.timestamp,
        version=event.originator_version,
        head_hash=event.hash,
    )


@evolve.register
def _(event: BidPlaced, state: LotSnapshot | None) -> LotSnapshot:
    state = _existing(state, event)
    if event.alias is not None and event.alias > state.bidder_count:
        state.bidder_count = event.alias  # a new bidder's first accepted bid
    if event.closes_at > state.closes_at:
        state.extension_count += 1
        state.closes_at = event.closes_at
    state.current_price = event.price_after
    if event.outcome != OUTBID:  # it took the lead, or the leader raised their maximum
        state.leader = event.bidder
        state.leader_alias = event.alias
        state.leading_bid_id = event.bid_id
        state.leader_placed_at = event.placed_at
        state.leader_maximum = event.amount if event.price is not None else None
    state.bid_count += 1
    return stamp(state, event)


@evolve.register
def _(event: BidRejected, state: LotSnapshot | None) -> LotSnapshot:
    state = _existing(state, event)
    state.rejected_count += 1
    return stamp(state, event)


@evolve.register
def _(event: LotClosed, state: LotSnapshot | None) -> LotSnapshot:
    state = _existing(state, event)
    state.status = "CLOSED"
    state.outcome = event.outcome  # type: ignore[assignment]
    state.closed_at = event.timestamp
    return stamp(state, event)


@evolve.register
def _(event: LotCancelled, state: LotSnapshot | None) -> LotSnapshot:
    state = _existing(state, event)
    state.status = "CANCELLED"
    state.cancelled_at = event.timestamp  # the reason stays in the event: free text would unbound the item
    return stamp(state, event)


@evolve.register
def _(event: BidRetracted, state: LotSnapshot | None) -> LotSnapshot:
    # The event carries the standing the remaining bids give (computed once, when it was
    # decided), so folding it is constant-time. The close time and the aliases stay.
    state = _existing(state, event)
    state.current_price = event.price
    state.leader = event.leader
    state.leading_bid_id = event.leading_bid_id
    state.leader_maximum = event.leader_maximum
    state.leader_alias = event.leader_alias
    state.leader_placed_at = event.leader_placed_at
    state.bid_count = event.bid_count
    return stamp(state, event)


def fold(events: Iterable[LotEvent], state: LotSnapshot | None = None) -> LotSnapshot | None:
    """Fold events onto a state (None: from nothing). Returns None for no events at all."""
    for event in events:
        state = evolve(event, state)
    return state

