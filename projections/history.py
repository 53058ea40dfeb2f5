"""A lot's history: its events as plain records, what `history`, `GET /lots/{id}/events`
and the dispute report show (version, time, type, the deciding numbers, the hashes); and
its public bid history, who bid what as everyone may know it (`public_history`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from pydantic import BaseModel, Field

from ledger.domain.events import BOUGHT, OUTBID, RAISED, TOOK_LEAD, BidPlaced, BidRetracted, LotEvent, canonical
from ledger.domain.state import LotSnapshot, alias_name
from ledger.domain.values import Money, UtcTime, to_currency

# `sealed`: the private fields' commitments, for proofs (`data` shows their values as disclosed).
_HIDDEN = {"originator_id", "originator_version", "timestamp", "prev_hash", "hash", "originator_topic", "sealed"}


def event_record(event: LotEvent) -> dict[str, Any]:
    data = {f.name: canonical(getattr(event, f.name)) for f in fields(event) if f.name not in _HIDDEN}
    return {
        "lot_id": event.originator_id,
        "version": event.originator_version,
        "type": type(event).__name__,
        "recorded_at": canonical(event.timestamp),
        "data": data,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


# The public bid history lists this many rows, the newest.
HISTORY_ROWS = 20


class PublicBid(BaseModel):
    """One row of a lot's public bid history: what one bidder did, as the public may know it.
    A bid that took the lead shows the price it set (its maximum stays private); a bid the
    leader's maximum answered shows its own amount, and the answer is a row of its own, the
    leader's, marked `automatic`. A leader raising their own maximum is private: no row."""

    bidder: str = Field(description='The bidder\'s alias on this lot ("Bidder 2").')
    amount: Money = Field(description="What this bidder bid, as far as the public may know it: the price a bid that "
                          "took the lead set, the whole amount of a bid the leader's maximum answered, the price "
                          "an automatic bid set. Never above the bidder's maximum.")
    placed_at: UtcTime = Field(description="When the bid was placed (an automatic bid: when the bid it answered was).")
    version: int = Field(description="The lot version of the bid's event (an automatic bid: of the bid it answered).")
    outcome: Literal["LEADING", "OUTBID"] = Field(
        description="LEADING: the row's bidder led after it; OUTBID: the leader's maximum answered it (the next row).")
    automatic: bool = Field(False, description="Bid by the ledger for the leader, up to their maximum, in answer "
                            "to the row before it.")
    you: bool = Field(False, description="The signed-in reader's own bid (in their own GET of the lot only; "
                      "false in `lot.updated` pushes).")


@dataclass(frozen=True)
class _Leader:
    bidder: str | None
    alias: int | None
    bid_id: str | None


def _leader_before(events: Sequence[LotEvent], after: _Leader) -> _Leader | None:
    """Who led before the first of `events` (oldest first), known from who led after the last
    (`after`), walking back; None when the events do not tell."""
    leader: _Leader | None = after
    for event in reversed(events):
        if isinstance(event, BidRetracted) or (isinstance(event, BidPlaced) and event.outcome in (TOOK_LEAD, BOUGHT)):
            leader = None  # the lead changed hands here: from whom, these events do not say
        elif isinstance(event, BidPlaced) and event.outcome == RAISED:
            leader = _Leader(event.bidder, event.alias, None)  # the leader raised: they led before it too
    return leader


def public_history(
    events: Sequence[LotEvent], currency: str, leader: _Leader, *, complete: bool, reader: str | None = None,
    rows: int = HISTORY_ROWS,
) -> tuple[list[PublicBid], bool]:
    """The latest `rows` rows of a lot's public bid history, oldest first, from its latest
    bids and retractions (`events`, oldest first; `complete`: they reach back to its first
    bid; `leader`: who led after the last of them), and whether it has older rows. A
    retracted bid is no row, nor is an automatic answer by a retracted leading bid; an
    answer whose leader these events do not name (the oldest, at most) is left out."""
    retracted = {event.bid_id for event in events if isinstance(event, BidRetracted)}
    money = lambda amount: to_currency(amount, currency)  # noqa: E731
    now_leading = _leader_before(events, leader)
    history: list[PublicBid] = []
    cut = not complete
    for event in events:
        if isinstance(event, BidRetracted):
            now_leading = _Leader(event.leader, event.leader_alias, event.leading_bid_id)
            continue
        if not isinstance(event, BidPlaced):
            continue
        row = {"placed_at": event.placed_at, "version": event.originator_version}
        standing = event.bid_id not in retracted
        if event.outcome == OUTBID:
            if standing:
                if event.amount is not None:  # None: its bidder was erased, and their amount with them
                    history.append(PublicBid(bidder=alias_name(event.alias) or "", amount=money(event.amount),
                                             outcome="OUTBID", you=event.bidder == reader, **row))
                if now_leading is None:
                    cut = True  # whose maximum answered it, these events do not say
                elif now_leading.bid_id not in retracted:
                    history.append(PublicBid(bidder=alias_name(now_leading.alias) or "", amount=money(event.price_after),
                                             outcome="LEADING", automatic=True, you=now_leading.bidder == reader, **row))
            continue
        if event.outcome != RAISED and standing:
            history.append(PublicBid(bidder=alias_name(event.alias) or "", amount=money(event.price_after), outcome="LEADING",
                                     you=event.bidder == reader, **row))
        now_leading = _Leader(event.bidder, event.alias, event.bid_id)
    return history[-rows:], cut or len(history) > rows


def leader_of(lot: LotSnapshot) -> _Leader:
    """Who leads the lot, for `public_history`."""
    return _Leader(lot.leader, lot.leader_alias, lot.leading_bid_id)
