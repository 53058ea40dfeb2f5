"""A bidder's own side of the lots they bid on: `GET /me/bids`, and `you` in a lot's view.

Their record of a lot (`BIDDER#{user}/MYBID#{lot}`: their maximum and their last bid) is
a projection of the lot's events (`records_from`, in `ledger/domain/bidder_records.py`):
written in the transaction that decides their bid, and rebuilt by replay. Where they stand
(leading, outbid, won, lost) is read from that record and the lot's snapshot together, so
it is as fresh as the snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from ledger.domain import rules
from ledger.domain.state import LotSnapshot
from ledger.domain.values import Money, UtcTime, to_currency

Standing = Literal["LEADING", "OUTBID", "WON", "LOST", "CANCELLED"]


class YourStanding(BaseModel):
    """`you` in a lot's view, for the signed-in bidder who bid on it."""

    leading: bool
    maximum: Money | None  # their maximum (their own to see); None when no bid of theirs was accepted
    last_bid: Money | None
    status: Standing
    minimum_raise: Money | None = Field(None, description="The leader of an open lot: the least a raise of their "
                                        "maximum must be (one step above it); null otherwise.")


class MyBid(BaseModel):
    """One lot in `GET /me/bids`."""

    lot_id: str
    title: str
    currency: str  # the amounts' currency (a page cannot show "40.00" without it)
    status: Standing
    # Whether the price meets the lot's reserve (true when it has none): "Highest bidder"
    # is not "winning" while it does not.
    reserve_met: bool
    maximum: Money | None
    current_price: Money | None
    closes_at: UtcTime


def standing_of(lot: LotSnapshot, bidder: str) -> Standing:
    leading = lot.leader == bidder
    if lot.status == "CANCELLED":
        return "CANCELLED"
    if lot.status == "CLOSED":
        return "WON" if leading and lot.outcome == "SOLD" else "LOST"
    return "LEADING" if leading else "OUTBID"


def your_standing(lot: LotSnapshot, bidder: str, record: Mapping[str, Any] | None) -> YourStanding | None:
    """Where `bidder` stands on the lot; None when they never bid on it. Leading and the
    leader's maximum come from the snapshot (current), the rest from their record."""
    leading = lot.leader == bidder
    if record is None and not leading:
        return None
    record = record or {}
    maximum = lot.leader_maximum if leading and lot.leader_maximum is not None else record.get("maximum")
    raise_from = lot.leader_maximum if leading and lot.status == "OPEN" else None
    return YourStanding(
        leading=leading,
        maximum=None if maximum is None else to_currency(Decimal(str(maximum)), lot.currency),
        last_bid=record.get("last_bid"),
        status=standing_of(lot, bidder),
        minimum_raise=None if raise_from is None else to_currency(rules.one_increment_above(lot, raise_from), lot.currency),
    )


def my_bid(lot: LotSnapshot, bidder: str, record: Mapping[str, Any]) -> MyBid:
    standing = your_standing(lot, bidder, record)
    return MyBid(
        lot_id=lot.lot_id,
        title=lot.title,
        currency=lot.currency,
        status=standing_of(lot, bidder),
        reserve_met=rules.reserve_met(lot),
        maximum=None if standing is None else standing.maximum,
        current_price=None if lot.current_price is None else to_currency(lot.current_price, lot.currency),
        closes_at=lot.closes_at,
    )
