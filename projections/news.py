"""Who is told what after a lot changes: what the lot's new events mean to its bidders,
each told only their own news, in event order. The broadcast looks up each bidder's
connections and posts; what the news is, is decided here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger.domain.events import BOUGHT, OUTBID, BidPlaced, BidRejected, BidRetracted, LotClosed, LotEvent
from ledger.domain.state import LotSnapshot
from ledger.domain.values import format_decimal, to_currency
from ledger.service.queries import LotQueries
from projections.views import bid_outcome_view


def bidders_news(
    queries: LotQueries, lot: LotSnapshot, events: Iterable[LotEvent], old_leader: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """(bidder, message) for the lot's new `events` (`lot`: the lot after them; `old_leader`:
    who led before them), in event order: a decided bid to its bidder (`bid.outcome`);
    losing the lead to the bidder who lost it (`bid.outbid`); the close to the winner
    (`lot.won`) and everyone else who bid (`lot.lost`); a retraction to the bidder whose bid
    it withdrew (`bid.retracted`, with the administrator's reason) and to a bidder it put in
    the lead (`bid.leading`)."""
    money = lambda amount: None if amount is None else format_decimal(to_currency(amount, lot.currency))  # noqa: E731
    news: list[tuple[str, dict[str, Any]]] = []
    leader = old_leader
    for event in events:
        if isinstance(event, BidPlaced | BidRejected):
            news.append((event.bidder, {"type": "bid.outcome", "bid": bid_outcome_view(event, lot.currency)}))
        if isinstance(event, BidPlaced) and event.outcome != OUTBID:
            # A purchase at the buy-now price ends the lot: its lot.lost says the rest.
            if leader is not None and leader != event.bidder and event.outcome != BOUGHT:
                news.append((leader, {"type": "bid.outbid", "lot_id": lot.lot_id, "current_price": money(event.price_after)}))
            leader = event.bidder
        if isinstance(event, BidRetracted):
            news.append((event.bidder, {"type": "bid.retracted", "lot_id": lot.lot_id, "bid_id": event.bid_id,
                                        "reason": event.reason}))
            if event.leader is not None and event.leader != leader:
                news.append((event.leader, {"type": "bid.leading", "lot_id": lot.lot_id, "current_price": money(event.price)}))
            leader = event.leader
        if isinstance(event, LotClosed):
            price = money(event.price)
            if event.winner is not None:
                news.append((event.winner, {"type": "lot.won", "lot_id": lot.lot_id, "price": price}))
            lost = {"type": "lot.lost", "lot_id": lot.lot_id, "price": price}
            news += [(bidder, lost) for bidder in queries.lot_bidders(lot.lot_id) if bidder != event.winner]
    return news
