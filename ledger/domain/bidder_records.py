"""A bidder's record of a lot (`GET /me/bids` and `you` in a lot's view read it): their last
bid and their maximum, as the lot's events leave them. The processor writes the records of
a decision's bidders in the decision's own transaction; replay rebuilds them from the
events (`projections/audit.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger.domain.events import BidPlaced, BidRejected, BidRetracted, LotEvent
from ledger.domain.values import format_decimal, to_currency


def records_from(events: Iterable[LotEvent | object], currency: str) -> list[dict[str, Any]]:
    """Each bidder's record of a lot after these (consecutive) events: their last accepted bid, and
    their maximum when one of these bids of theirs was accepted (a bidder's accepted maxima
    only ever rise: a leader may only raise theirs, anyone else must beat the price), or
    when a retraction of theirs lowered it."""
    records: dict[str, dict[str, Any]] = {}
    for event in events:
        if getattr(event, "bidder", None) is None:
            continue  # an erased bidder keeps no record
        if isinstance(event, BidRetracted):
            # Their maximum falls back to their highest bid still standing (None: clears it);
            # their last bid stays what they last sent.
            record = records.setdefault(event.bidder, {"lot_id": event.originator_id, "bidder": event.bidder})
            maximum = event.bidder_maximum
            record |= {"version": event.originator_version,
                       "maximum": None if maximum is None else format_decimal(to_currency(maximum, currency))}
            continue
        if not isinstance(event, BidPlaced | BidRejected):
            continue
        record = records.setdefault(event.bidder, {"lot_id": event.originator_id, "bidder": event.bidder})
        record["version"] = event.originator_version
        if isinstance(event, BidPlaced):
            # Their last bid is the last one accepted: a rejected amount was never a bid of theirs on the lot.
            amount = format_decimal(to_currency(event.amount, currency))
            record |= {"last_bid": amount, "last_bid_id": event.bid_id, "maximum": amount}
    return list(records.values())
