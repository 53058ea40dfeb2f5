"""BroadcastLotChangesFunction: pushes each changed lot to its WebSocket subscribers
(once per lot per batch: the newest image), and each decided bid to its bidder's
connections. Connections that are gone are removed on the first failed post."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from handlers.bootstrap import App, count_unreadable, current_app, logger, metrics, serving
from ledger.errors import LotUnreadable
from ledger.events import BidPlaced, BidRejected
from ledger.state import LotSnapshot
from ledger.values import utc_now
from projections.views import bid_outcome_view, public_view


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


def post(connection_id: str, message: dict[str, Any]) -> bool:
    """Send; False when the connection is gone (and then forget it, once it is past connecting)."""
    try:
        current_app().websocket_management.post_to_connection(ConnectionId=connection_id, Data=json.dumps(message).encode())
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] in ("GoneException", "410"):
            if current_app().connections.drop_gone(connection_id):
                metrics.add_metric(name="ConnectionsGone", unit=MetricUnit.Count, value=1)
            return False
        logger.warning("post to connection failed", extra={"connection_id": connection_id, "error": str(error)})
        return False


def broadcast_lot(change: LotChange) -> int:
    message = {"type": "lot.updated", "lot": public_view(change.snapshot, utc_now()).model_dump(mode="json")}
    return sum(post(connection_id, message) for connection_id in current_app().connections.watching_lot(change.snapshot.lot_id))


def tell_bidders(change: LotChange) -> int:
    lot = change.snapshot
    sent = 0
    events = current_app().service.lot_events(lot.lot_id, after_version=change.old_version, upto_version=lot.version)
    for event in events:
        if isinstance(event, BidPlaced | BidRejected):
            message = {"type": "bid.outcome", "bid": bid_outcome_view(event, lot.currency)}
            sent += sum(post(connection_id, message) for connection_id in current_app().connections.of_bidder(event.bidder))
    return sent


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> None:
    with serving(samsold):
        _broadcast(event)


def _broadcast(event: dict[str, Any]) -> None:
    for change in changes_in(DynamoDBStreamEvent(event)).values():
        fan_out = broadcast_lot(change)
        try:
            outcomes = tell_bidders(change)
        except LotUnreadable as error:
            # The lot's update went out; only the bidders' outcomes from an unreadable event are lost.
            logger.error("could not tell bidders", extra={"key": f"LOT#{change.snapshot.lot_id}", "problem": str(error)})
            count_unreadable([f"LOT#{change.snapshot.lot_id}"])
            outcomes = 0
        metrics.add_metric(name="BroadcastFanOut", unit=MetricUnit.Count, value=fan_out)
        metrics.add_metric(name="BidOutcomesSent", unit=MetricUnit.Count, value=outcomes)
