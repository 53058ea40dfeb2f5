"""BroadcastLotChangesFunction: pushes each changed lot to its WebSocket subscribers
(once per lot per batch: the newest image), and each decided bid to its bidder's
connections. Connections that are gone are removed on the first failed post.

The posts of one step (a lot's update to its watchers, then its outcomes to their bidders)
go out concurrently on the container's fan-out threads (`FAN_OUT_WORKERS`, sharing one
thread-safe management client whose connection pool is as large), and the step ends when
every post is done, so a lot's successive pushes keep their order."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from handlers.bootstrap import FAN_OUT_WORKERS, App, count_unreadable, current_app, logger, metrics, serving
from ledger.errors import LotUnreadable
from ledger.events import BidPlaced, BidRejected
from ledger.state import LotSnapshot
from ledger.values import utc_now
from projections.views import bid_outcome_view, lot_view


class LotChange:
    """A lot's change over one batch: the versions it moved through, the newest image."""

    def __init__(self, old_version: int, snapshot: LotSnapshot) -> None:
        self.old_version = old_version
        self.snapshot = snapshot

    def widen(self, old_version: int, snapshot: LotSnapshot) -> None:
        self.old_version = min(self.old_version, old_version)
        if snapshot.version > self.snapshot.version:
            self.snapshot = snapshot


def changes_in(event: DynamoDBStreamEvent) -> dict[str, LotChange]:
    changes: dict[str, LotChange] = {}
    for record in event.records:
        image = record.dynamodb.new_image if record.dynamodb else None
        if not image or image.get("SK") != "SNAPSHOT":
            continue  # only snapshot images speak for a lot
        try:
            snapshot = LotSnapshot.from_item(str(image.get("PK", "")).removeprefix("LOT#"), image)
        except LotUnreadable as error:
            # One bad image must not fail the batch (and every other lot's push with it).
            logger.error("skipped an unreadable snapshot image", extra={"key": image.get("PK"), "problem": str(error)})
            count_unreadable([str(image.get("PK"))])
            continue
        old = (record.dynamodb.old_image if record.dynamodb else None) or {}
        old_version = int(old.get("version", snapshot.version - 1))
        if snapshot.lot_id in changes:
            changes[snapshot.lot_id].widen(old_version, snapshot)
        else:
            changes[snapshot.lot_id] = LotChange(old_version, snapshot)
    return changes


def fan_out_pool() -> ThreadPoolExecutor:
    """The container's fan-out threads: started on first use, kept for its later invocations."""
    global _fan_out
    with _fan_out_lock:
        if _fan_out is None:
            _fan_out = ThreadPoolExecutor(max_workers=FAN_OUT_WORKERS, thread_name_prefix="fan-out")
        return _fan_out


_fan_out: ThreadPoolExecutor | None = None
_fan_out_lock = threading.Lock()


def deliver(app: App, connection_id: str, messages: list[bytes]) -> tuple[int, int]:
    """Send `messages` to one connection in order; returns (sent, dropped). A gone connection
    is forgotten on the first failed post (once it is past connecting) and gets no more."""
    sent = 0
    for data in messages:
        try:
            app.websocket_management.post_to_connection(ConnectionId=connection_id, Data=data)
            sent += 1
        except ClientError as error:
            if error.response["Error"]["Code"] in ("GoneException", "410"):
                if app.connections.drop_gone(connection_id):
                    return sent, 1
                continue
            logger.warning("post to connection failed", extra={"connection_id": connection_id, "error": str(error)})
    return sent, 0


def post_all(app: App, deliveries: Iterable[tuple[str, list[bytes]]]) -> int:
    """Post to many connections at once (at most FAN_OUT_WORKERS in flight, each connection's
    messages in order) and return when every post is done; the number of posts that arrived."""
    _ = (app.websocket_management, app.connections)  # made here, once, not raced for by the threads
    pool = fan_out_pool()
    futures = [pool.submit(deliver, app, connection_id, messages) for connection_id, messages in deliveries]
    wait(futures)
    results = [future.result() for future in futures]  # the first error, if any, fails the batch as before
    dropped = sum(gone for _, gone in results)
    if dropped:
        metrics.add_metric(name="ConnectionsGone", unit=MetricUnit.Count, value=dropped)
    return sum(sent for sent, _ in results)


def encoded(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


def broadcast_lot(app: App, change: LotChange) -> int:
    data = encoded({"type": "lot.updated", "lot": lot_view(app.service, change.snapshot, utc_now()).model_dump(mode="json")})
    return post_all(app, ((connection_id, [data]) for connection_id in app.connections.watching_lot(change.snapshot.lot_id)))


def tell_bidders(app: App, change: LotChange) -> int:
    """Each decided bid to its bidder's connections only; a connection gets its outcomes in event order."""
    lot = change.snapshot
    bidders: dict[str, list[str]] = {}
    outcomes: dict[str, list[bytes]] = {}
    for event in app.service.lot_events(lot.lot_id, after_version=change.old_version, upto_version=lot.version):
        if isinstance(event, BidPlaced | BidRejected):
            if event.bidder not in bidders:
                bidders[event.bidder] = list(app.connections.of_bidder(event.bidder))
            data = encoded({"type": "bid.outcome", "bid": bid_outcome_view(event, lot.currency)})
            for connection_id in bidders[event.bidder]:
                outcomes.setdefault(connection_id, []).append(data)
    return post_all(app, outcomes.items())


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
        fan_out = broadcast_lot(app, change)
        try:
            outcomes = tell_bidders(app, change)
        except LotUnreadable as error:
            # The lot's update went out; only the bidders' outcomes from an unreadable event are lost.
            logger.error("could not tell bidders", extra={"key": f"LOT#{change.snapshot.lot_id}", "problem": str(error)})
            count_unreadable([f"LOT#{change.snapshot.lot_id}"])
            outcomes = 0
        metrics.add_metric(name="BroadcastFanOut", unit=MetricUnit.Count, value=fan_out)
        metrics.add_metric(name="BidOutcomesSent", unit=MetricUnit.Count, value=outcomes)
