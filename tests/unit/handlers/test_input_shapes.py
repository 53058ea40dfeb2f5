"""What the API and the WebSocket routes accept, called directly with API Gateway events on
the in-memory recorder and an in-memory queue: a request not exactly as documented gets a
4xx in the error shape and writes and queues nothing; one as documented passes however the
gateway encodes it; the OpenAPI document lists what each route answers. No storage is
needed to refuse a shape, so these run in milliseconds; what DynamoDB Local and the local
SQS add is in tests/integration/handlers/test_handlers.py."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest

from adapters.command_queue import CommandQueue
from ledger.domain.values import format_time, utc_now
from tests.support.app import build_test_app
from tests.support.events import FakeContext, rest_event
from tests.support.queue import QUEUE_URL, InMemorySqs
from tests.support.rest_calls import APP, SELLER, api, call, create_lot

ALICE = {"sub": "alice", "cognito:username": "alice"}
ADMIN = {"sub": "root", "cognito:username": "root", "cognito:groups": "admin"}




class KeptSubscriptions:
    """The Connections store's calls the WebSocket routes make, kept in memory."""

    def __init__(self) -> None:
        self.subscribed: set[tuple[str, str]] = set()

    def connect(self, connection_id: str, bidder: str | None) -> None:
        pass

    def subscribe(self, connection_id: str, lot_id: str) -> None:
        self.subscribed.add((connection_id, lot_id))

    def unsubscribe(self, connection_id: str, lot_id: str) -> None:
        self.subscribed.discard((connection_id, lot_id))

    def disconnect(self, connection_id: str) -> None:
        self.subscribed = {(c, lot) for c, lot in self.subscribed if c != connection_id}


@pytest.fixture
def stack(sqs: InMemorySqs) -> Any:
    """The application wired as the functions are, on the in-memory recorder, with the
    command queue in memory (named as the integration tests name their local stack)."""
    app = build_test_app(command_queue=CommandQueue(sqs, QUEUE_URL), close_grace_seconds=0,
                         connections=KeptSubscriptions())
    APP["app"] = app
    yield {"app": app, "sqs": sqs}
    APP.clear()


def drain(stack) -> None:
    """Hand what is queued to the processor, as the event source mapping does."""
    from handlers import process_bid

    while (batch := stack["sqs"].next_batch()) is not None:
        assert process_bid.handler(batch, FakeContext(), stack["app"])["batchItemFailures"] == []


def queued(stack) -> int:
    return len(stack["sqs"].waiting)


@pytest.mark.parametrize(
    ("body", "claims", "headers", "status"),
    [
        ("{not json", ALICE, {}, 400),
        ({"amount": "10.00"}, ALICE, {}, 400),
        ({"lot_id": "LOT", "amount": "10.00", "colour": "red"}, ALICE, {}, 400),
        ({"lot_id": "LOT", "amount": "10.00", "bidder": "bob"}, ALICE, {}, 400),
        ({"lot_id": "LOT", "amount": "-1.00"}, ALICE, {}, 400),
        ({"lot_id": "LOT", "amount": "0"}, ALICE, {}, 400),
        ({"lot_id": "LOT", "amount": "NaN"}, ALICE, {}, 400),
        ({"lot_id": "LOT", "amount": "1e3"}, ALICE, {}, 400),
        ({"lot_id": "LOT", "amount": 10}, ALICE, {}, 400),
        ({"lot_id": "LOT", "amount": "10.001"}, ALICE, {}, 422),
        ({"lot_id": "no-such-lot", "amount": "10.00"}, ALICE, {}, 404),
        ({"lot_id": "LOT", "amount": "10.00"}, None, {}, 401),
        ({"lot_id": "LOT", "amount": "1" * 20_000}, ALICE, {}, 413),
        ({"lot_id": "LOT", "amount": "10.00", "bid_id": "a"}, ALICE, {"Idempotency-Key": "b"}, 422),
    ],
)
def test_bad_bids_get_a_clear_4xx_and_queue_nothing(stack, body, claims, headers, status):
    lot = create_lot()
    if isinstance(body, dict) and body.get("lot_id") == "LOT":
        body = body | {"lot_id": lot["lot_id"]}
    before = queued(stack)
    got, answer = api("POST", "/bid", body=body, claims=claims, headers=headers)
    assert got == status, answer
    assert set(answer) == {"error"} and {"code", "message", "details"} <= set(answer["error"])
    assert queued(stack) == before


def test_responses_carry_cors_headers_for_the_page(stack):
    from handlers import lot_api

    event = rest_event("GET", "/lots", query={"status": "open"}, headers={"Origin": "https://auctions.example.com"})
    response = lot_api.handler(event, FakeContext(), stack["app"])
    headers = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
    assert headers["access-control-allow-origin"] == ["*"]
    assert "Idempotency-Key" in ",".join(headers["access-control-allow-headers"])


def _error_shaped(answer) -> bool:
    error = answer.get("error") if isinstance(answer, dict) else None
    return (
        set(answer) == {"error"}
        and isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("details"), dict)
    )


def _bid_event(text: str, lot_id: str, *, content_type: str | None = "application/json", base64_body: bool = False):
    import base64

    body = text.replace("LOT", lot_id)
    event = rest_event("POST", "/bid", body=body, claims=ALICE)
    if base64_body:
        event["body"] = base64.b64encode(body.encode("utf-8", "surrogateescape")).decode()
        event["isBase64Encoded"] = True
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers.pop("Content-Type")
        if content_type is not None:
            headers["Content-Type"] = content_type if headers is event["headers"] else [content_type]
    return event


@pytest.mark.parametrize(
    ("text", "options", "status"),
    [
        ('[{"lot_id": "LOT", "amount": "10.00"}]', {}, 400),  # a top-level array was queued as a bid
        ('{"lot_id": "LOT", "amount": "10.00", "amount": "99.00"}', {}, 400),  # the last "amount" won
        ('{"lot_id": "LOT", "amount": "12.50\\n"}', {}, 400),  # "$" matched before the newline
        ('{"lot_id": "LOT", "amount": " 12.50"}', {}, 400),
        ('{"lot_id": "LOT", "amount": "10.00", "x": ' + "[" * 3000 + "]" * 3000 + "}", {}, 400),  # RecursionError, 502
        ('{"lot_id": "LOT", "amount": "10.00", "x": NaN}', {}, 400),
        ('{"lot_id": "LOT", "amount": "10.00\udcff"}', {"base64_body": True}, 400),  # not UTF-8: UnicodeDecodeError, 502
        ('{"lot_id": "LOT", "amount": "10.00"}', {"content_type": None}, 415),  # no Content-Type was queued
        ('{"lot_id": "LOT", "amount": "10.00"}', {"content_type": "text/plain"}, 415),  # Powertools' own 415 shape
        ("lot_id=LOT&amount=10.00", {"content_type": "application/x-www-form-urlencoded"}, 415),
        ('{"lot_id": "LOT", "amount": "10.00"}', {"content_type": "application/json; charset=latin-1"}, 415),
        ('{"lot_id": "LOT", "amount": "10.00", "bid_id": "a\\n"}', {}, 400),
    ],
)
def test_hostile_bid_bodies_get_a_4xx_in_the_error_shape_and_queue_nothing(stack, text, options, status):
    from handlers import place_bid

    lot = create_lot()
    before = queued(stack)
    got, answer = call(place_bid, _bid_event(text, lot["lot_id"], **options))
    assert got == status, answer
    assert _error_shaped(answer), answer
    assert queued(stack) == before


def test_bodies_as_documented_still_pass_however_the_gateway_encodes_them(stack):
    from handlers import place_bid

    lot = create_lot()
    text = '{"lot_id": "LOT", "amount": "10.00"}'
    assert call(place_bid, _bid_event(text, lot["lot_id"], base64_body=True))[0] == 202
    assert call(place_bid, _bid_event(text, lot["lot_id"], content_type="application/json; charset=UTF-8"))[0] == 202
    drain(stack)


def test_an_idempotency_key_with_a_trailing_newline_is_refused(stack):
    lot = create_lot()
    before = queued(stack)
    status, answer = api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.00"}, claims=ALICE, headers={"Idempotency-Key": "key\n"})
    assert status == 400 and _error_shaped(answer)
    assert queued(stack) == before


@pytest.mark.parametrize(
    "change",
    [
        {"opens_at": "0999-01-01T00:00:00Z"},  # was stored as "999-01-01...", which broke GET /lots for everyone
        {"closes_at": "9999-12-31T23:59:59-05:00"},  # OverflowError, 502
        {"closes_at": "3000-01-01T00:00:00Z"},
        {"closes_at": 1_900_000_000},  # an epoch number was coerced
        {"closes_at": "2030-01-01T00:00:00"},  # naive
        {"soft_close_window_s": "120"},  # coerced and stored
        {"soft_close_window_s": True},
        {"max_extensions": "3"},
        {"max_extensions": -1},
        {"soft_close_mode": "to_end"},
        {"soft_close_trigger": None},
        {"title": "Blue\u0000vase"},  # a NUL was stored
        {"title": "Blue vase\n"},
        {"title": " Blue vase"},
        {"starting_price": "10.00\n"},
        {"currency": "EUR\n"},
    ],
)
def test_lot_terms_not_as_documented_get_400_and_store_nothing(stack, change):
    lot_id = f"strict-{uuid.uuid4().hex[:12]}"
    terms = {"lot_id": lot_id, "title": "Blue vase", "currency": "EUR", "starting_price": "10.00",
             "closes_at": format_time(utc_now() + timedelta(minutes=30))} | change
    status, answer = api("POST", "/lots", body=terms, claims=SELLER)
    assert status == 400, answer
    assert _error_shaped(answer), answer
    path = {"lot_id": lot_id}
    assert api("GET", f"/lots/{lot_id}", resource="/lots/{lot_id}", path_parameters=path)[0] == 404
    status, listing = api("GET", "/lots", query={"status": "open"})
    assert status == 200 and lot_id not in {lot["lot_id"] for lot in listing["items"]}


@pytest.mark.parametrize(
    "change",
    [
        {"starting_price": "10.001"},
        {"reserve_price": "5.00"},
        {"closes_at": format_time(utc_now() - timedelta(minutes=1))},
        {"hard_close_at": format_time(utc_now() + timedelta(minutes=1))},
        {"soft_close_mode": "add_to_end", "soft_close_window_s": 0},
        {"max_extensions": 2, "soft_close_extension_s": 0},
    ],
)
def test_lot_terms_valid_alone_but_not_together_get_422_and_store_nothing(stack, change):
    # Each value matches the published schema; only the lot's rule can refuse the mix.
    lot_id = f"sam-terms-{uuid.uuid4().hex[:12]}"
    terms = {"lot_id": lot_id, "title": "Blue vase", "currency": "EUR", "starting_price": "10.00",
             "closes_at": format_time(utc_now() + timedelta(minutes=30))} | change
    status, answer = api("POST", "/lots", body=terms, claims=SELLER)
    assert status == 422 and answer["error"]["code"] == "RULE_BROKEN", answer
    path = {"lot_id": lot_id}
    assert api("GET", f"/lots/{lot_id}", resource="/lots/{lot_id}", path_parameters=path)[0] == 404


def test_a_lot_with_its_own_soft_close_rule_shows_it(stack):
    lot = create_lot(soft_close_mode="add_to_end", soft_close_trigger="leader_change", max_extensions=3)
    path = {"lot_id": lot["lot_id"]}
    status, view = api("GET", f"/lots/{lot['lot_id']}", resource="/lots/{lot_id}", path_parameters=path)
    assert status == 200
    assert {k: view[k] for k in ("soft_close_mode", "soft_close_trigger", "max_extensions", "extension_count")} == {
        "soft_close_mode": "add_to_end", "soft_close_trigger": "leader_change", "max_extensions": 3, "extension_count": 0}
    assert (create_lot()["soft_close_mode"], create_lot()["max_extensions"]) == ("from_bid", None)


def test_time_travel_by_version_and_time_at_once_is_422(stack):
    lot = create_lot()
    path = {"lot_id": lot["lot_id"]}
    status, answer = api("GET", f"/lots/{lot['lot_id']}", resource="/lots/{lot_id}", path_parameters=path,
                         query={"as_of_version": "1", "as_of": format_time(utc_now())})
    assert status == 422 and _error_shaped(answer), answer
    status, answer = api("GET", f"/lots/{lot['lot_id']}", resource="/lots/{lot_id}", path_parameters=path,
                         query={"as_of_version": str(10**10)})  # past any version a key can hold
    assert status == 400 and _error_shaped(answer), answer


@pytest.mark.parametrize(
    "query",
    [
        {"as_of": "9999-12-31T23:59:59-05:00"},
        {"as_of": "2030-01-01T00:00:00"},
        {"as_of": "0999-01-01T00:00:00Z"},
        {"as_of": "2030-01-01T00:00:00Z\n"},
        {"as_of_version": " 1"},
        {"as_of_version": "1_0"},
        {"as_of_version": "+1"},
    ],
)
def test_time_travel_queries_are_strict_and_in_range(stack, query):
    lot = create_lot()
    path = {"lot_id": lot["lot_id"]}
    status, answer = api("GET", f"/lots/{lot['lot_id']}", resource="/lots/{lot_id}", path_parameters=path, query=query)
    assert status == 400, answer
    assert _error_shaped(answer)
    status, then = api("GET", f"/lots/{lot['lot_id']}", resource="/lots/{lot_id}", path_parameters=path,
                       query={"as_of": format_time(utc_now())})
    assert status == 200 and then["version"] == 1


@pytest.mark.parametrize(
    ("body", "base64_body"),
    [
        ('[{"action": "subscribe", "lot_id": "LOT"}]', False),
        ('{"action": "subscribe", "lot_id": "LOT", "lot_id": "other"}', False),
        ('{"action": "subscribe", "lot_id": "LOT\\n"}', False),
        ('{"action": "subscribe", "lot_id": "LOT", "x": ' + "[" * 3000 + "]" * 3000 + "}", False),
        ('{"action": "subscribe", "lot_id": "LOT", "colour": "red"}', False),
        ("not json", False),
        ("", False),
        ("/w==", True),  # the bytes ff f0: not UTF-8
    ],
)
def test_websocket_messages_are_read_as_strictly_as_rest_bodies(stack, body, base64_body):
    from handlers import connect

    lot = create_lot()
    event = {
        "requestContext": {"routeKey": "subscribe", "connectionId": f"conn-{uuid.uuid4().hex[:8]}", "eventType": "MESSAGE"},
        "body": body.replace("LOT", lot["lot_id"]),
        "isBase64Encoded": base64_body,
    }
    status, answer = call(connect, event)
    assert status == 400, answer
    assert answer["type"] == "error" and _error_shaped({"error": answer["error"]}), answer
    ok = event | {"body": json.dumps({"action": "subscribe", "lot_id": lot["lot_id"]}), "isBase64Encoded": False}
    assert call(connect, ok)[0] == 200


def test_the_openapi_document_lists_every_status_each_route_answers(stack):
    from handlers.openapi import ERROR_SCHEMA
    from ledger.domain.commands import POSITIVE_AMOUNT_PATTERN

    status, document = api("GET", "/openapi.json")
    assert status == 200
    statuses = {
        (method.upper(), path): set(operation["responses"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    # 429 on every route: API Gateway's throttling (the quota routes also count the caller's quotas).
    assert statuses == {
        ("POST", "/bid"): {"202", "400", "401", "403", "404", "409", "413", "415", "422", "500", "503", "429"},
        ("POST", "/lots"): {"201", "400", "401", "403", "409", "413", "415", "422", "503", "429"},
        ("GET", "/lots"): {"200", "400", "503", "429"},
        ("GET", "/lots/{lot_id}"): {"200", "400", "401", "404", "422", "500", "503", "429"},
        ("POST", "/lots/{lot_id}/cancel"): {"200", "400", "401", "403", "404", "409", "413", "415", "500", "503", "429"},
        ("POST", "/lots/{lot_id}/buy"): {"202", "400", "401", "403", "404", "409", "413", "415", "422", "500", "503", "429"},
        ("GET", "/lots/{lot_id}/events"): {"200", "400", "401", "403", "404", "422", "500", "503", "429"},
        ("POST", "/lots/{lot_id}/bids/{bid_id}/retract"): {"200", "400", "401", "403", "404", "409", "413", "415", "500", "503", "429"},
        ("GET", "/bids/{bid_id}"): {"200", "400", "401", "404", "503", "429"},
        ("GET", "/me/bids"): {"200", "400", "401", "503", "429"},
        ("GET", "/log/checkpoint"): {"200", "400", "404", "503", "429"},
        ("GET", "/log/checkpoints/{size}"): {"200", "400", "404", "503", "429"},
        ("GET", "/log/key"): {"200", "400", "404", "503", "429"},
        ("GET", "/log/consistency"): {"200", "400", "404", "422", "503", "429"},
        ("GET", "/lots/{lot_id}/proof"): {"200", "400", "404", "422", "500", "503", "429"},
        ("GET", "/bids/{bid_id}/receipt"): {"200", "400", "401", "404", "500", "503", "429"},
        ("POST", "/bidders/{user_id}/erase"): {"200", "400", "401", "403", "404", "409", "500", "503", "429"},
        ("GET", "/openapi.json"): {"200", "429"},
        ("POST", "/sales"): {"201", "400", "401", "403", "409", "413", "415", "422", "503", "429"},
        ("GET", "/sales/{sale_id}"): {"200", "400", "404", "500", "503", "429"},
        ("POST", "/sales/{sale_id}/lots"): {"201", "400", "401", "403", "404", "409", "413", "415", "422", "500", "503", "429"},
        ("GET", "/sales/{sale_id}/registrations"): {"200", "400", "401", "403", "404", "429", "503"},
        ("POST", "/sales/{sale_id}/registrations"): {"200", "201", "400", "401", "403", "404", "413", "415", "422", "429", "503"},
        ("GET", "/lots/{lot_id}/registrations"): {"200", "400", "401", "403", "404", "429", "500", "503"},
        ("POST", "/lots/{lot_id}/registrations"): {"200", "201", "400", "401", "403", "404", "413", "415", "422", "429", "500", "503"},
        ("POST", "/sales/{sale_id}/registrations/{user_id}/approve"): {"200", "400", "401", "403", "404", "413", "415", "422", "429", "503"},
        ("POST", "/sales/{sale_id}/registrations/{user_id}/decline"): {"200", "400", "401", "403", "404", "413", "415", "429", "503"},
        ("POST", "/sales/{sale_id}/registrations/{user_id}/suspend"): {"200", "400", "401", "403", "404", "409", "413", "415", "429", "503"},
        ("POST", "/lots/{lot_id}/registrations/{user_id}/approve"): {"200", "400", "401", "403", "404", "413", "415", "422", "429", "500", "503"},
        ("POST", "/lots/{lot_id}/registrations/{user_id}/decline"): {"200", "400", "401", "403", "404", "413", "415", "429", "500", "503"},
        ("POST", "/lots/{lot_id}/registrations/{user_id}/suspend"): {"200", "400", "401", "403", "404", "409", "413", "415", "429", "500", "503"},
        ("POST", "/bidders/{user_id}/block"): {"200", "400", "401", "403", "404", "413", "415", "429", "503"},
        ("POST", "/bidders/{user_id}/unblock"): {"200", "400", "401", "403", "404", "429", "503"},
        ("GET", "/me/registrations"): {"200", "400", "401", "429", "503"},
    }
    assert ERROR_SCHEMA["properties"]["error"]["properties"]["details"] == {"type": "object"}
    text = json.dumps(document)
    # JSON Schema's keywords, not pydantic's constraint names that Powertools may leave.
    assert not re.search(r'"(ge|le|gt|lt)": ', text)
    bid_body = document["components"]["schemas"]["BidRequest"]["properties"]
    assert bid_body["amount"]["pattern"] == POSITIVE_AMOUNT_PATTERN
    assert "{0,17}" in POSITIVE_AMOUNT_PATTERN and "{1,8}" in POSITIVE_AMOUNT_PATTERN
    # Patterns are published in their plain anchored form.
    assert all(p.startswith("^") and p.endswith("$") for p in re.findall(r'"pattern": "([^"]*)"', text))


def test_a_body_on_a_read_is_ignored_as_the_routes_read_none(stack):
    event = rest_event("GET", "/lots", query={"status": "open"}, body="not json")
    event["headers"].pop("Content-Type")
    from handlers import lot_api

    assert call(lot_api, event)[0] == 200


def test_an_empty_or_null_body_is_refused_where_a_body_is_required(stack):
    lot = create_lot()
    before = queued(stack)
    for body in ("", "null"):
        status, answer = api("POST", "/bid", body=body, claims=ALICE)
        assert status == 400 and _error_shaped(answer), (body, answer)
    assert queued(stack) == before
    path = {"lot_id": lot["lot_id"]}
    status, answer = api("POST", f"/lots/{lot['lot_id']}/cancel", resource="/lots/{lot_id}/cancel", path_parameters=path,
                         claims=ADMIN, body="null")
    assert status == 400 and _error_shaped(answer)
    status, view = api("POST", f"/lots/{lot['lot_id']}/cancel", resource="/lots/{lot_id}/cancel", path_parameters=path,
                       claims=ADMIN, body="")
    assert (status, view["status"]) == (200, "CANCELLED")
