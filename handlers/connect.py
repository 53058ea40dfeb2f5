"""ConnectFunction: the WebSocket API's routes. `?lot_id=` on connect subscribes at
once; `{"action": "subscribe" | "unsubscribe", "lot_id": ...}` change subscriptions;
disconnecting removes them all.

A signed-in client sends its ID token as a WebSocket subprotocol, never in the URL (URLs
end up in access logs, proxies and browser history): it offers `samsold.v1` and
`samsold.token.<token>` (in JavaScript, `new WebSocket(url, ["samsold.v1",
"samsold.token." + token])`), and the handshake's answer names `samsold.v1` only. A
`?token=` in the URL is refused."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from bootstrap import App, app_for, logger, traced
from handlers.rest import error_response, status_of
from ledger.domain.commands import is_identifier
from ledger.domain.errors import LedgerError
from ledger.domain.values import utc_now
from ledger.domain.wire import MalformedJson, parse_json_object
from projections.views import lot_view


def reply(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps(body)}


def error_reply(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A refused message, in the REST API's error shape with the socket's `type`."""
    return reply(status, {"type": "error", "error": {"code": code, "message": message, "details": details or {}}})


def valid_lot(lot_id: Any) -> str | None:
    return lot_id if is_identifier(lot_id) else None


def refuse(status: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    """A refused $connect, with the REST API's error body (the handshake's HTTP answer carries it)."""
    return {"statusCode": status, "body": error_response(status, code, message, details).body}


PROTOCOL = "samsold.v1"
TOKEN_PROTOCOL_PREFIX = "samsold.token."


def offered_protocols(headers: dict[str, str]) -> list[str]:
    value = next((v for name, v in headers.items() if name.lower() == "sec-websocket-protocol"), "")
    return [item.strip() for item in value.split(",") if item.strip()]


def on_connect(app: App, connection_id: str, query: dict[str, str], headers: dict[str, str] | None = None) -> dict[str, Any]:
    if "token" in query:
        return refuse(400, "INVALID_REQUEST", "send the token as the subprotocol "
                      f"{TOKEN_PROTOCOL_PREFIX}<token> (Sec-WebSocket-Protocol), never in the URL")
    offered = offered_protocols(headers or {})
    tokens = [item[len(TOKEN_PROTOCOL_PREFIX):] for item in offered if item.startswith(TOKEN_PROTOCOL_PREFIX)]
    if offered and PROTOCOL not in offered:
        return refuse(400, "INVALID_REQUEST", f"offer the subprotocol {PROTOCOL}")
    if len(tokens) > 1:
        return refuse(400, "INVALID_REQUEST", "send one token")
    bidder = None
    if tokens:  # an empty token is a bad token, as it is for the REST API
        bidder = app.tokens.bidder(tokens[0])
        if bidder is None:
            return refuse(401, "UNAUTHORIZED", "the token is not valid")
    lot_id = query.get("lot_id")
    if lot_id is not None:
        if valid_lot(lot_id) is None:
            return refuse(400, "INVALID_REQUEST", "lot_id is not a valid lot id", {"lot_id": lot_id})
        try:
            app.queries.get_lot(lot_id)
        except LedgerError as error:
            return refuse(status_of(error), error.code, error.message, error.details)
    try:
        app.connections.connect(connection_id, bidder, lot_id)
    except LedgerError as error:  # QuotaExceeded: the bidder holds their most connections
        return refuse(status_of(error), error.code, error.message, error.details)
    answer = reply(200, {"message": "connected"})
    if offered:  # the handshake names the protocol, never the token
        answer["headers"] = {"Sec-WebSocket-Protocol": PROTOCOL}
    return answer


def on_subscription(app: App, connection_id: str, route: str, body: str | None, is_base64: bool = False) -> dict[str, Any]:
    # The same strict reader as REST bodies: one JSON object in UTF-8, no duplicate keys.
    try:
        raw: bytes | str = base64.b64decode(body or "", validate=True) if is_base64 else (body or "")
        message = parse_json_object(raw)
    except binascii.Error:
        return error_reply(400, "MALFORMED_JSON", "the message is not valid base64")
    except MalformedJson as error:
        return error_reply(400, error.code, error.message, error.details)
    if set(message) - {"action", "lot_id"}:
        return error_reply(400, "INVALID_MESSAGE", "messages are {\"action\": \"subscribe\" | \"unsubscribe\", \"lot_id\": ...}")
    lot_id = valid_lot(message.get("lot_id"))
    if lot_id is None:
        return error_reply(400, "INVALID_MESSAGE", "lot_id is missing or not a valid lot id")
    if route == "unsubscribe":
        app.connections.unsubscribe(connection_id, lot_id)
        return reply(200, {"type": "unsubscribed", "lot_id": lot_id})
    try:
        lot = app.queries.get_lot(lot_id)
        app.connections.subscribe(connection_id, lot_id)  # QuotaExceeded: it watches its most lots
    except LedgerError as error:
        return error_reply(status_of(error), error.code, error.message, error.details)
    # The current state comes with the subscription, so nothing before the first update is missed.
    view = lot_view(app.queries, lot, utc_now())
    return reply(200, {"type": "subscribed", "lot_id": lot_id, "lot": view.model_dump(mode="json")})


@logger.inject_lambda_context
@traced
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> dict[str, Any]:
    return route(app_for(samsold), event)


def route(app: App, event: dict[str, Any]) -> dict[str, Any]:
    request = event.get("requestContext", {})
    route, connection_id = request.get("routeKey"), request.get("connectionId")
    if route == "$connect":
        return on_connect(app, connection_id, event.get("queryStringParameters") or {}, event.get("headers") or {})
    if route == "$disconnect":
        app.connections.disconnect(connection_id)
        return reply(200, {"message": "disconnected"})
    if route in ("subscribe", "unsubscribe"):
        return on_subscription(app, connection_id, route, event.get("body"), bool(event.get("isBase64Encoded")))
    return error_reply(400, "INVALID_MESSAGE", "send {\"action\": \"subscribe\" | \"unsubscribe\", \"lot_id\": ...}")
