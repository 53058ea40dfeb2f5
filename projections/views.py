"""What the public sees of a lot: no bidder identities, only stable per-lot aliases,
and no hidden reserve price (only whether it is met)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ledger.domain import rules
from ledger.domain.events import (
    OUTBID,
    BidPlaced,
    BidRejected,
    BuyNowUntil,
    LotEvent,
    SoftCloseMode,
    SoftCloseTrigger,
)
from ledger.domain.registration import RegistrationMode
from ledger.domain.state import LotSnapshot
from ledger.domain.values import Money, UtcTime, format_decimal, format_time, to_currency
from ledger.service.queries import NO_BIDS, LotQueries, RecentBids
from projections.history import PublicBid, leader_of, public_history
from projections.my_bids import YourStanding, your_standing

PublicStatus = Literal["SCHEDULED", "OPEN", "CLOSED", "CANCELLED"]


class LotSummary(BaseModel):
    """A lot as lists show it."""

    lot_id: str
    title: str
    currency: str
    status: PublicStatus
    outcome: Literal["SOLD", "UNSOLD"] | None
    starting_price: Money
    current_price: Money | None
    minimum_bid: Money | None  # None once bidding is over
    leader: str | None
    bid_count: int
    opens_at: UtcTime
    closes_at: UtcTime
    scheduled_closes_at: UtcTime
    extension_count: int
    hard_close_at: UtcTime | None
    # The soft-close rule, so a bidder knows what a late bid does: a bid in the last
    # `soft_close_window_s` moves the close `soft_close_extension_s` past the bid (from_bid)
    # or past the current close (add_to_end), on any accepted bid or only when the leader
    # changes, at most `max_extensions` times (null: no cap but `hard_close_at`).
    soft_close_window_s: int
    soft_close_extension_s: int
    soft_close_mode: SoftCloseMode
    soft_close_trigger: SoftCloseTrigger
    max_extensions: int | None
    ended_at: UtcTime | None  # when it closed or was cancelled (the ended list's order); None while open
    reserve_met: bool
    has_reserve: bool
    version: int
    # The price at which the lot can be bought now (`POST /lots/{lot_id}/buy`) while it is
    # offered (`ledger.domain.rules.buy_now_offered`), null otherwise; and until when it is offered.
    buy_now_price: Money | None = None
    buy_now_until: BuyNowUntil | None = None
    sale_id: str | None = None  # the staggered sale the lot is in (GET /sales/{sale_id}), None for a lot of its own
    # Who may bid: any signed-in user (open), or only bidders whose registration was approved
    # (approval: POST /sales/{sale_id}/registrations, or /lots/{lot_id}/registrations for a lone lot).
    registration: RegistrationMode = "open"
    # Who sells it: the seller's public handle (never their user id); null for lots created before handles.
    seller: str | None = None


class LotView(LotSummary):
    """A lot as its own page shows it: with its latest accepted bids, oldest first, and for a
    signed-in bidder who bid on it, where they stand (`you`: theirs alone to see)."""

    recent_bids: list[PublicBid] = Field(description="The latest rows of the lot's public bid history (at most 20), "
                                         "oldest first: who bid what, automatic bids marked.")
    older_bids: bool = Field(False, description="Whether the lot has older rows than `recent_bids` lists "
                             "(a leader's private raise of their maximum is no row, and not counted).")
    you: YourStanding | None = None


def lot_summary(lot: LotSnapshot, now: datetime) -> LotSummary:
    status: PublicStatus = lot.status
    if status == "OPEN" and now < lot.opens_at:
        status = "SCHEDULED"
    money = lambda amount: None if amount is None else to_currency(amount, lot.currency)  # noqa: E731
    return LotSummary(
        lot_id=lot.lot_id,
        title=lot.title,
        currency=lot.currency,
        status=status,
        outcome=lot.outcome,
        starting_price=money(lot.starting_price),
        current_price=money(lot.current_price),
        minimum_bid=money(rules.minimum_bid(lot)) if lot.status == "OPEN" else None,
        leader=lot.leader_name,
        bid_count=lot.bid_count,
        opens_at=lot.opens_at,
        closes_at=lot.closes_at,
        scheduled_closes_at=lot.scheduled_closes_at,
        extension_count=lot.extension_count,
        hard_close_at=lot.hard_close_at,
        soft_close_window_s=lot.soft_close_window_s,
        soft_close_extension_s=lot.soft_close_extension_s,
        soft_close_mode=lot.soft_close_mode,
        soft_close_trigger=lot.soft_close_trigger,
        max_extensions=lot.max_extensions,
        ended_at=lot.closed_at or lot.cancelled_at,
        reserve_met=rules.reserve_met(lot),
        has_reserve=lot.reserve_price is not None,
        version=lot.version,
        buy_now_price=money(rules.buy_now_offered(lot, now)),
        buy_now_until=lot.buy_now_until if lot.buy_now_price is not None else None,
        sale_id=lot.sale_id,
        registration=lot.registration or "open",
        seller=lot.seller_handle,
    )


def public_view(lot: LotSnapshot, now: datetime, recent_bids: RecentBids = NO_BIDS, bidder: str | None = None) -> LotView:
    """The lot's page: its summary and its bid history (`projections.history.public_history`
    of `recent_bids`, the lot's latest bids and retractions); rows of `bidder`'s own say so."""
    rows, older = public_history(recent_bids.events, lot.currency, leader_of(lot), complete=recent_bids.complete, reader=bidder)
    return LotView(**dict(lot_summary(lot, now)), recent_bids=rows, older_bids=older)


def lot_view(
    queries: LotQueries, lot: LotSnapshot, now: datetime, bidder: str | None = None,
    latest: Sequence[LotEvent] | None = None,
) -> LotView:
    """The lot's page as it stood at its version, its bid history read from its events (or
    from `latest`, its latest events newest first, when the caller read them already); for
    `bidder`, with where they stand."""
    view = public_view(lot, now, queries.recent_bids(lot.lot_id, upto_version=lot.version, latest=latest), bidder)
    if bidder is not None:
        view.you = your_standing(lot, bidder, queries.bidder_record(bidder, lot.lot_id))
    return view


def bid_outcome_view(event: BidPlaced | BidRejected, currency: str) -> dict[str, Any]:
    """What a bidder is told about their own bid once it is decided."""
    money = lambda amount: None if amount is None else format_decimal(to_currency(amount, currency))  # noqa: E731
    decided: dict[str, Any] = {
        "bid_id": event.bid_id,
        "lot_id": event.originator_id,
        "placed_at": format_time(event.placed_at),
        "minimum": money(event.minimum),
        "version": event.originator_version,
    }
    if isinstance(event, BidPlaced):
        # `amount` is their own maximum (theirs to see); `leading` whether it leads.
        return decided | {"amount": format_decimal(event.amount), "status": "ACCEPTED", "reason": None,
                          "current_price": money(event.price_after), "leading": event.outcome != OUTBID}
    return decided | {"amount": event.amount, "status": "REJECTED", "reason": event.reason,
                      "current_price": money(event.current_price)}
