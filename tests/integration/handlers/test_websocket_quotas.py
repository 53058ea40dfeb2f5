"""The WebSocket API's quotas on DynamoDB Local: a user's connections and a connection's
subscriptions are bounded (429 QUOTA_EXCEEDED, nothing written), and `$disconnect` removes
a connection's items in batches whatever their number."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import boto3
import pytest

from adapters.connections import ConnectionStore
from bootstrap import App, build
from handlers.connect import PROTOCOL, TOKEN_PROTOCOL_PREFIX, route
from ledger.domain.commands import CreateLot
from ledger.domain.values import format_time, utc_now


class NameTokens:
    """Every token is the name of its bidder."""

    def bidder(self, token: str) -> str | None:
        return token or None


@pytest.fixture
def app(tables: dict[str, str]) -> App:
    env = tables | {"PERSISTENCE_MODULE": "ledger.dynamodb", "QUOTA_CONNECTIONS_PER_USER": "2",
                    "QUOTA_SUBSCRIPTIONS_PER_CONNECTION": "3"}
    return build(env, tokens=NameTokens())  # type: ignore[arg-type]


def event(route_key: str, connection_id: str, query: dict[str, str] | None = None, body: Any = None) -> dict[str, Any]:
    event: dict[str, Any] = {"requestContext": {"routeKey": route_key, "connectionId": connection_id}}
    query = dict(query or {})
    if "token" in query:  # sent as the page sends it: a subprotocol, never in the URL
        event["headers"] = {"Sec-WebSocket-Protocol": f"{PROTOCOL}, {TOKEN_PROTOCOL_PREFIX}{query.pop('token')}"}
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def items_of(app: App, connection_id: str) -> list[tuple[str, str]]:
    items = app.connections.client.scan(TableName=app.connections.table_name)["Items"]
    return [(i["PK"]["S"], i["SK"]["S"]) for i in items if connection_id in i["PK"]["S"] + i["SK"]["S"]]


def new_lot(app: App) -> str:
    terms = CreateLot.model_validate({"lot_id": f"sam-lot-{uuid.uuid4().hex[:8]}", "title": "Vase", "currency": "EUR",
                                      "starting_price": "10.00", "closes_at": format_time(utc_now() + timedelta(hours=1))})
    return app.lots.create_lot(terms, seller="sam").lot_id


def test_a_user_holds_at_most_their_connections(app: App) -> None:
    alice = f"alice-{uuid.uuid4().hex[:6]}"
    first, second, third = (f"c-{uuid.uuid4().hex[:8]}" for _ in range(3))
    assert route(app, event("$connect", first, {"token": alice}))["statusCode"] == 200
    assert route(app, event("$connect", second, {"token": alice}))["statusCode"] == 200
    refused = route(app, event("$connect", third, {"token": alice}))
    assert refused["statusCode"] == 429
    error = json.loads(refused["body"])["error"]
    assert (error["code"], error["details"]["quota"], error["details"]["limit"]) == ("QUOTA_EXCEEDED", "connections_per_user", 2)
    assert items_of(app, third) == []
    assert route(app, event("$connect", third, {"token": f"bob-{uuid.uuid4().hex[:6]}"}))["statusCode"] == 200
    route(app, event("$disconnect", first))
    assert route(app, event("$connect", f"c-{uuid.uuid4().hex[:8]}", {"token": alice}))["statusCode"] == 200


def test_a_connection_watches_at_most_its_subscriptions(app: App) -> None:
    connection = f"c-{uuid.uuid4().hex[:8]}"
    lots = [new_lot(app) for _ in range(4)]
    assert route(app, event("$connect", connection, {"lot_id": lots[0]}))["statusCode"] == 200
    for lot_id in lots[1:3]:
        assert route(app, event("subscribe", connection, body={"action": "subscribe", "lot_id": lot_id}))["statusCode"] == 200
    refused = route(app, event("subscribe", connection, body={"action": "subscribe", "lot_id": lots[3]}))
    assert refused["statusCode"] == 429
    assert json.loads(refused["body"])["error"]["details"]["quota"] == "subscriptions_per_connection"
    assert (f"LOT#{lots[3]}", f"CONN#{connection}") not in items_of(app, connection)
    # Watching a lot again is no new subscription; after an unsubscribe there is room.
    assert route(app, event("subscribe", connection, body={"action": "subscribe", "lot_id": lots[0]}))["statusCode"] == 200
    route(app, event("unsubscribe", connection, body={"action": "unsubscribe", "lot_id": lots[0]}))
    assert route(app, event("subscribe", connection, body={"action": "subscribe", "lot_id": lots[3]}))["statusCode"] == 200


def test_disconnect_deletes_many_subscriptions_in_batches(dynamodb_endpoint: str, tables: dict[str, str]) -> None:
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint)
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    store = ConnectionStore(client, tables["CONNECTIONS_TABLE"])
    connection = f"c-{uuid.uuid4().hex[:8]}"
    store.connect(connection, "carol")
    for number in range(30):
        store.subscribe(connection, f"lot-{number}")
    calls.clear()
    store.disconnect(connection)
    assert calls == ["GetItem", "BatchWriteItem", "BatchWriteItem"]  # 32 items, 25 a request
    scanned = client.scan(TableName=tables["CONNECTIONS_TABLE"])["Items"]
    assert not [i for i in scanned if connection in i["PK"]["S"] + i["SK"]["S"]]
