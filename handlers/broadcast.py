"""BroadcastLotChangesFunction: pushes each changed lot to its WebSocket subscribers
(once per lot per batch: the newest image), and to each bidder their news of it
(`projections.news`: a decided bid, the lead lost, the close). The bidders' own records
(`GET /me/bids`) were written with the events, so a page that reads them on a push sees
them. Connections that are gone are removed on the first failed post.

The posts of one step (a lot's update to its watchers, then its outcomes to their bidders)
go out concurrently (`adapters/connection_posts.py`), and the step ends when every post is
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

from bootstrap import App, FanOutPage, WatcherPages, app_for, count_unreadable, fits_a_message, logger, metrics, traced
from ledger.domain.errors import LotUnreadable
from ledger.domain.events import LotEvent
from ledger.domain.state import LotSnapshot
from ledger.domain.values import utc_now
from ledger.service.queries import RECENT_EVENTS_READ
from ledger.snapshot_item import snapshot_from_item
from projections.news import bidders_news
from projections.views import lot_view


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


def broadcast_lot(app: App, change: LotChange, latest: list[LotEvent], pages: WatcherPages) -> int:
    """The lot's update (its bid history from `latest`, its latest events) to the first of
    its watchers' `pages`; later pages handed to FanOutFunction."""
    lot = change.snapshot
    if not pages.first:
        return 0  # nobody watches: no view to build
    view = lot_view(app.queries, lot, utc_now(), latest=latest)
    data = encoded({"type": "lot.updated", "lot": view.model_dump(mode="json")})
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
    return app.post_all((connection_id, [data]) for connection_id in watchers)


def read_change(app: App, change: LotChange, watched: bool = True) -> tuple[list[LotEvent], list[LotEvent]]:
    """The lot's latest events (newest first: its view's bid history) and the change's own
    events (in order), in one Query when the change is among the latest, as it nearly always is.
    A lot nobody watches needs no bid history: only the change's own events are read."""
    lot = change.snapshot
    if not watched:
        return [], list(app.queries.lot_events(lot.lot_id, after_version=change.old_version, upto_version=lot.version))
    latest = app.queries.latest_events(lot.lot_id, upto_version=lot.version)
    if len(latest) < RECENT_EVENTS_READ or latest[-1].originator_version <= change.old_version + 1:
        return latest, [event for event in reversed(latest) if event.originator_version > change.old_version]
    return latest, list(app.queries.lot_events(lot.lot_id, after_version=change.old_version, upto_version=lot.version))


def tell_bidders(app: App, change: LotChange, events: list[LotEvent], connections: dict[str, list[str]]) -> int:
    """Each bidder's news from the change's events (`projections.news`), posted to their
    connections in event order. `connections`: each bidder's connections, looked up once per
    invocation (a bidder in several of its changes costs one Query)."""
    news = bidders_news(app.queries, change.snapshot, events, change.old_leader)
    messages: dict[str, list[bytes]] = {}
    for bidder, message in news:
        if bidder not in connections:
            connections[bidder] = list(app.connections.of_bidder(bidder))
        data = encoded(message)
        for connection_id in connections[bidder]:
            messages.setdefault(connection_id, []).append(data)
    return app.post_all(messages.items())


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> None:
    app = app_for(samsold)
    bidders_connections: dict[str, list[str]] = {}
    # Lot by lot, each lot's update finished before its bidders' outcomes and the next lot:
    # the posts of one step go out together, so one lot's pushes never overtake each other.
    for change in changes_in(DynamoDBStreamEvent(event)).values():
        pages = app.connections.watcher_pages(change.snapshot.lot_id, app.fan_out_page_size)
        try:
            latest, events = read_change(app, change, watched=bool(pages.first))
        except LotUnreadable as error:
            # The lot's update still goes out (without its bid history); only the bidders' news
            # from an unreadable event is lost.
            logger.error("could not tell bidders", extra={"key": f"LOT#{change.snapshot.lot_id}", "problem": str(error)})
            count_unreadable([f"LOT#{change.snapshot.lot_id}"])
            latest, events = [], []
        fan_out = broadcast_lot(app, change, latest, pages)
        outcomes = tell_bidders(app, change, events, bidders_connections)
        metrics.add_metric(name="BroadcastFanOut", unit=MetricUnit.Count, value=fan_out)
        metrics.add_metric(name="BidOutcomesSent", unit=MetricUnit.Count, value=outcomes)
