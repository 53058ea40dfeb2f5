"""BroadcastLotChangesFunction: pushes each changed lot to its WebSocket subscribers
(once per lot per batch: the newest image), and each decided bid to its bidder's
connections. Connections that are gone are removed on the first failed post.

The posts of one step (a lot's update to its watchers, then its outcomes to their bidders)
go out concurrently (`handlers/connection_posts.py`), and the step ends when every post is
done, so a lot's successive pushes from one invocation keep their order. A lot watched by
more connections than one invocation should serve (`FAN_OUT_PAGE_SIZE`) gets its update
posted to the first page here; each later page goes to FanOutFunction through the fan-out
queue, so the stream shard waits for one page, not for the whole audience."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import chain
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.bootstrap import App, count_unreadable, current_app, logger, metrics, serving
from handlers.connection_posts import post_all
from handlers.fan_out_queue import FanOutPage, fits_a_message
from ledger.domain.errors import LotUnreadable
from ledger.domain.events import BOUGHT, OUTBID, BidPlaced, BidRejected, BidRetracted, LotClosed, LotEvent
from ledger.domain.state import LotSnapshot
from ledger.domain.values import format_decimal, to_currency, utc_now
from ledger.service import RECENT_EVENTS_READ
from ledger.snapshot_item import snapshot_from_item
from projections.my_bids import records_from
from projections.views import bid_outcome_view, lot_view


class LotChange:
    """A lot's change over one batch: the versions it moved through, the newest image, and
    who led before it (to tell them when they lose the lead)."""

    def __init__(self, old_version: int, snapshot: LotSnapshot, old_leader: str | None = None) -> None:
        self.old_version = old_version
        self.snapshot = snapshot
        self.old_leader = old_leader

    def widen(self, old_version: int, snapshot: LotSnapshot, old_leader: str | None = None) -> None:
        if old_version < self.old_version:
            self.old_version, self.old_leader = old_version, old_leader
        # Records come in stream order: of two images at one version (a repair by
        # `replay --fix` rewrites the snapshot at its version), the later is the lot now.
        if snapshot.version >= self.snapshot.version:
            self.snapshot = snapshot


def changes_in(event: DynamoDBStreamEvent) -> dict[str, LotChange]:
    changes: dict[str, LotChange] = {}
    for record in event.records:
        image = record.dynamodb.new_image if record.dynamodb else None
        if not image or image.get("SK") != "SNAPSHOT":
            continue  # only snapshot images speak for a lot
        try:
            snapshot = snapshot_from_item(str(image.get("PK", "")).removeprefix("LOT#"), image)
        except LotUnreadable as error:
            # One bad image must not fail the batch (and every other lot's push with it).
            logger.error("skipped an unreadable snapshot image", extra={"key": image.get("PK"), "problem": str(error)})
            count_unreadable([str(image.get("PK"))])
            continue
        old = (record.dynamodb.old_image if record.dynamodb else None) or {}
        old_version = int(old.get("version", snapshot.version - 1))
        old_leader = old.get("leader") if isinstance(old.get("leader"), str) else None
        if snapshot.lot_id in changes:
            changes[snapshot.lot_id].widen(old_version, snapshot, old_leader)
        else:
            changes[snapshot.lot_id] = LotChange(old_version, snapshot, old_leader)
    return changes


def encoded(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


def broadcast_lot(app: App, change: LotChange, latest: list[LotEvent]) -> int:
    """The lot's update (its bid history from `latest`, its latest events) to its first page
    of watchers; later pages handed to FanOutFunction."""
    lot = change.snapshot
    view = lot_view(app.service, lot, utc_now(), latest=latest)
    data = encoded({"type": "lot.updated", "lot": view.model_dump(mode="json")})
    pages = app.connections.watcher_pages(lot.lot_id, app.fan_out_page_size)
    watchers: Iterable[str] = pages.first
    if pages.rest and fits_a_message(data):
        # Handed off before this page is posted, so the other invocations start at once.
        app.fan_out_queue.hand_off([FanOutPage.of(page, lot.version, data) for page in pages.rest])
        metrics.add_metric(name="FanOutPagesHandedOff", unit=MetricUnit.Count, value=len(pages.rest))
    elif pages.rest:
        # Cannot happen with a snapshot under 2 KB; if it ever does, slow beats lost.
        logger.warning("update too large to hand off: posting every page here",
                       extra={"key": f"LOT#{lot.lot_id}", "bytes": len(data)})
        watchers = chain(pages.first, *(app.connections.watching_page(page) for page in pages.rest))
    return post_all(app, ((connection_id, [data]) for connection_id in watchers))


def read_change(app: App, change: LotChange) -> tuple[list[LotEvent], list[LotEvent]]:
    """The lot's latest events (newest first: its view's bid history) and the change's own
    events (in order), in one Query when the change is among the latest, as it nearly always is."""
    lot = change.snapshot
    latest = app.service.latest_events(lot.lot_id, upto_version=lot.version)
    if len(latest) < RECENT_EVENTS_READ or latest[-1].originator_version <= change.old_version + 1:
        return latest, [event for event in reversed(latest) if event.originator_version > change.old_version]
    return latest, list(app.service.lot_events(lot.lot_id, after_version=change.old_version, upto_version=lot.version))


def bring_records_up_to_date(app: App, change: LotChange, events: list[LotEvent]) -> None:
    """The bidders' own records of the lot follow the change's events (the projection
    `GET /me/bids` and the lot view's `you` read): written before any push, so a page that
    reads the lot on a push sees them."""
    app.service.record_bidder_lots(records_from(events, change.snapshot.currency))


def tell_bidders(app: App, change: LotChange, events: list[LotEvent]) -> int:
    """What the lot's new events mean to its bidders, each told only their own news, in event
    order: a decided bid to its bidder (`bid.outcome`); losing the lead to the bidder who
    lost it (`bid.outbid`); the close to the winner (`lot.won`) and everyone else who bid
    (`lot.lost`); a retraction to the bidder whose bid it withdrew (`bid.retracted`, with the
    administrator's reason) and to a bidder it put in the lead (`bid.leading`)."""
    lot = change.snapshot
    money = lambda amount: None if amount is None else format_decimal(to_currency(amount, lot.currency))  # noqa: E731
    news: list[tuple[str, bytes]] = []  # (bidder, message), in event order
    leader = change.old_leader
    for event in events:
        if isinstance(event, BidPlaced | BidRejected):
            news.append((event.bidder, encoded({"type": "bid.outcome", "bid": bid_outcome_view(event, lot.currency)})))
        if isinstance(event, BidPlaced) and event.outcome != OUTBID:
            # A purchase at the buy-now price ends the lot: its lot.lost says the rest.
            if leader is not None and leader != event.bidder and event.outcome != BOUGHT:
                news.append((leader, encoded({"type": "bid.outbid", "lot_id": lot.lot_id, "current_price": money(event.price_after)})))
            leader = event.bidder
        if isinstance(event, BidRetracted):
            news.append((event.bidder, encoded({"type": "bid.retracted", "lot_id": lot.lot_id, "bid_id": event.bid_id,
                                                "reason": event.reason})))
            if event.leader is not None and event.leader != leader:
                news.append((event.leader, encoded({"type": "bid.leading", "lot_id": lot.lot_id, "current_price": money(event.price)})))
            leader = event.leader
        if isinstance(event, LotClosed):
            price = money(event.price)
            if event.winner is not None:
                news.append((event.winner, encoded({"type": "lot.won", "lot_id": lot.lot_id, "price": price})))
            lost = encoded({"type": "lot.lost", "lot_id": lot.lot_id, "price": price})
            news += [(bidder, lost) for bidder in app.service.lot_bidders(lot.lot_id) if bidder != event.winner]
    connections: dict[str, list[str]] = {}
    messages: dict[str, list[bytes]] = {}
    for bidder, data in news:
        if bidder not in connections:
            connections[bidder] = list(app.connections.of_bidder(bidder))
        for connection_id in connections[bidder]:
            messages.setdefault(connection_id, []).append(data)
    return post_all(app, messages.items())


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> None:
    with serving(samsold):
        _broadcast(event)


def _broadcast(event: dict[str, Any]) -> None:
    app = current_app()
    # Lot by lot, each lot's update finished before its bidders' outcomes and the next lot:
    # the posts of one step go out together, so one lot's pushes never overtake each other.
    for change in changes_in(DynamoDBStreamEvent(event)).values():
        try:
            latest, events = read_change(app, change)
            bring_records_up_to_date(app, change, events)
        except LotUnreadable as error:
            # The lot's update still goes out (without its bid history); only the bidders' news
            # from an unreadable event is lost.
            logger.error("could not tell bidders", extra={"key": f"LOT#{change.snapshot.lot_id}", "problem": str(error)})
            count_unreadable([f"LOT#{change.snapshot.lot_id}"])
            latest, events = [], []
        fan_out = broadcast_lot(app, change, latest)
        outcomes = tell_bidders(app, change, events)
        metrics.add_metric(name="BroadcastFanOut", unit=MetricUnit.Count, value=fan_out)
        metrics.add_metric(name="BidOutcomesSent", unit=MetricUnit.Count, value=outcomes)
