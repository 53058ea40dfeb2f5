"""ConnectFunction: the WebSocket API's routes. `?lot_id=` on connect subscribes at
once; `{"action": "subscribe" | "unsubscribe", "lot_id": ...}` change subscriptions;
disconnecting removes them all."""

from __future__ import annotations

import json
import re
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.rest import STATUS_OF, error_response
from handlers.tokens import bidder_from_token
from handlers.wiring import connections, logger, service
from ledger.commands import ID_PATTERN
from ledger.errors import LotUnreadable
from ledger.values import utc_now
from projections.views import public_view


def reply(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps(body)}


def valid_lot(lot_id: Any) -> str | None:
    return lot_id if isinstance(lot_id, str) and re.match(ID_PATTERN, lot_id) else None


def refuse(status: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    """A refused $connect, with the REST API's error body (the handshake's HTTP answer carries it)."""
    return {"statusCode": status, "body": error_response(status, code, message, details).body}


def on_connect(connection_id: str, query: dict[str, str]) -> dict[str, Any]:
    bidder = None
    if query.get("token"):
        bidder = bidder_from_token(query["token"])
        if bidder is None:
            return refuse(401, "UNAUTHORIZED", "the token is not valid")
    lot_id = query.get("lot_id")
    if lot_id is not None:
        if valid_lot(lot_id) is None:
            return refuse(400, "INVALID_REQUEST", "lot_id is not a valid lot id", {"lot_id": lot_id})
        try:
            lot = service().find_lot(lot_id)
        except LotUnreadable as error:
            return refuse(STATUS_OF[LotUnreadable], error.code, error.message, error.details)
        if lot is None:
            return refuse(404, "LOT_NOT_FOUND", f"no lot {lot_id!r}", {"lot_id": lot_id})
    connections().connect(connection_id, bidder)
    if lot_id is not None:
        connections().subscribe(connection_id, lot_id)
    return reply(200, {"message": "connected"})


def on_subscription(connection_id: str, route: str, body: str | None) -> dict[str, Any]:
    try:
        message = json.loads(body or "{}")
    except json.JSONDecodeError:
        return reply(400, {"type": "error", "message": "messages are JSON"})
    lot_id = valid_lot(message.get("lot_id") if isinstance(message, dict) else None)
    if lot_id is None:
        return reply(400, {"type": "error", "message": "lot_id is missing or not a valid lot id"})
    if route == "unsubscribe":
        connections().unsubscribe(connection_id, lot_id)
        return reply(200, {"type": "unsubscribed", "lot_id": lot_id})
    lot = service().find_lot(lot_id)
    if lot is None:
        return reply(404, {"type": "error", "message": f"no lot {lot_id!r}"})
    connections().subscribe(connection_id, lot_id)
    # The current state comes with the subscription, so nothing before the first update is missed.
    return reply(200, {"type": "subscribed", "lot_id": lot_id, "lot": public_view(lot, utc_now()).model_dump(mode="json")})


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("requestContext", {})
    route, connection_id = request.get("routeKey"), request.get("connectionId")
    if route == "$connect":
        return on_connect(connection_id, event.get("queryStringParameters") or {})
    if route == "$disconnect":
        connections().disconnect(connection_id)
        return reply(200, {"message": "disconnected"})
    if route in ("subscribe", "unsubscribe"):
        return on_subscription(connection_id, route, event.get("body"))
    return reply(400, {"type": "error", "message": "send {\"action\": \"subscribe\" | \"unsubscribe\", \"lot_id\": ...}"})
