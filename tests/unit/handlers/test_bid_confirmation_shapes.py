"""`POST /bid`'s `confirm` field as the handler reads it, on the in-memory recorder and an
in-memory queue: a strict boolean (anything else is a 400 naming it, and nothing is queued),
and the OpenAPI document publishing it with the 422 a bid far above the minimum gets. The
422 itself, the confirmed bid and its retries are in
tests/integration/handlers/test_bid_confirmation.py."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from adapters.command_queue import CommandQueue
from bootstrap import App, build
from ledger.domain.values import format_time, utc_now
from tests.support.app import IN_MEMORY
from tests.support.events import FakeContext, rest_event
from tests.support.queue import QUEUE_URL, InMemorySqs

ALICE = {"sub": "alice", "cognito:username": "alice"}
SELLER = {"sub": "sam", "cognito:username": "sam", "cognito:groups": "sellers", "custom:seller_handle": "sam"}


@pytest.fixture
def stack(sqs: InMemorySqs) -> dict[str, Any]:
    """The application as the template wires PlaceBid, with a cap for EUR, its queue in memory."""
    app = build(IN_MEMORY | {"BID_CONFIRMATION_CAPS": "EUR=5000,JPY=15000000"}, command_queue=CommandQueue(sqs, QUEUE_URL))
    return {"sqs": sqs, "app": app}


def call(app: App, method: str, path: str, **kwargs):
    from handlers import lot_api, place_bid

    module = place_bid if path == "/bid" else lot_api
    response = module.handler(rest_event(method, path, **kwargs), FakeContext(), app)
    body = response.get("body")
    return response["statusCode"], (json.loads(body) if body else None)


def new_lot(stack, starting_price: str = "10.00") -> str:
    terms = {"title": "Blue vase", "currency": "EUR", "starting_price": starting_price,
             "closes_at": format_time(utc_now() + timedelta(minutes=30))}
    status, lot = call(stack["app"], "POST", "/lots", body=terms, claims=SELLER)
    assert status == 201, lot
    return lot["lot_id"]


def bid(stack, body, headers=None):
    return call(stack["app"], "POST", "/bid", body=body, claims=ALICE, headers=headers)


def queued(stack) -> int:
    return len(stack["sqs"].waiting)


@pytest.mark.parametrize("confirm", ["true", 1, None, "yes", 0, [True], {"value": True}])
def test_confirm_is_a_strict_boolean(stack, confirm):
    lot_id = new_lot(stack)
    before = queued(stack)
    status, answer = bid(stack, {"lot_id": lot_id, "amount": "1000.00", "confirm": confirm})
    assert status == 400 and answer["error"]["code"] == "INVALID_REQUEST"
    assert [e["field"] for e in answer["error"]["details"]["errors"]] == ["confirm"]
    assert queued(stack) == before


def test_the_openapi_document_lists_confirm_and_the_422(stack):
    status, document = call(stack["app"], "GET", "/openapi.json")
    assert status == 200
    confirm = document["components"]["schemas"]["BidRequest"]["properties"]["confirm"]
    assert (confirm["type"], confirm["default"]) == ("boolean", False)
    assert "confirm" not in document["components"]["schemas"]["BidRequest"].get("required", [])
    refused = document["paths"]["/bid"]["post"]["responses"]["422"]
    assert "CONFIRMATION_REQUIRED" in refused["description"]
    assert refused["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
