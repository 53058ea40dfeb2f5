"""Per-user quotas at the API, on the in-memory recorder: a bidder with too many bids pending
or rejected on a lot, or a seller past their lots for the day, gets 429 with Retry-After in
the API's error shape, and nothing of the refused bid or lot is written or queued; other
users and other lots are untouched."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from adapters.command_queue import CommandQueue
from bootstrap import App, build
from handlers import lot_api, place_bid, process_bid
from ledger.domain.values import format_time, utc_now
from tests.support.app import IN_MEMORY
from tests.support.events import FakeContext, rest_event
from tests.support.queue import QUEUE_URL, InMemorySqs

ALICE = {"sub": "alice", "cognito:username": "alice"}
BOB = {"sub": "bob", "cognito:username": "bob"}
SELLER = {"sub": "sam", "cognito:username": "sam", "cognito:groups": "sellers", "custom:seller_handle": "sam"}
QUOTAS = {"QUOTA_LOTS_PER_DAY": "3", "QUOTA_PENDING_BIDS_PER_LOT": "3", "QUOTA_REJECTED_BIDS_PER_LOT_PER_HOUR": "2"}


@pytest.fixture
def sqs() -> InMemorySqs:
    return InMemorySqs()


@pytest.fixture
def app(sqs: InMemorySqs) -> App:
    return build({**IN_MEMORY, **QUOTAS}, command_queue=CommandQueue(sqs, QUEUE_URL), close_grace_seconds=0)


def api(app: App, method: str, path: str, **kwargs: Any) -> tuple[int, Any, dict[str, Any]]:
    module = place_bid if path == "/bid" else lot_api
    response = module.handler(rest_event(method, path, **kwargs), FakeContext(), app)
    headers = {k.lower(): v[0] for k, v in (response.get("multiValueHeaders") or {}).items()}
    headers |= {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None, headers


def new_lot(app: App, claims: dict[str, str] = SELLER) -> tuple[int, Any, dict[str, Any]]:
    terms = {"lot_id": f"sam-lot-{uuid.uuid4().hex[:8]}", "title": "Blue vase", "currency": "EUR",
             "starting_price": "10.00", "closes_at": format_time(utc_now() + timedelta(minutes=30))}
    return api(app, "POST", "/lots", body=terms, claims=claims)


def bid(app: App, lot_id: str, amount: str, claims: dict[str, str], bid_id: str | None = None) -> tuple[int, Any, dict[str, Any]]:
    body = {"lot_id": lot_id, "amount": amount} | ({"bid_id": bid_id} if bid_id else {})
    return api(app, "POST", "/bid", body=body, claims=claims)


def process(app: App, sqs: InMemorySqs) -> None:
    while (batch := sqs.next_batch()) is not None:
        assert process_bid.handler(batch, FakeContext(), app)["batchItemFailures"] == []


def test_a_bidder_with_too_many_bids_pending_on_a_lot_waits_and_nothing_is_written(app, sqs):
    lot_id = new_lot(app)[1]["lot_id"]
    other_lot = new_lot(app)[1]["lot_id"]
    for amount in ("10.00", "20.00", "30.00"):
        assert bid(app, lot_id, amount, ALICE)[0] == 202
    status, refusal, headers = bid(app, lot_id, "40.00", ALICE, bid_id="over-quota")
    assert status == 429
    assert refusal["error"]["code"] == "QUOTA_EXCEEDED"
    assert refusal["error"]["details"]["quota"] == "pending_bids_per_lot"
    assert headers["retry-after"] == "2"
    assert len(sqs.waiting) == 3
    assert app.commands.store.get_bid_request("over-quota") is None
    # Another bidder, and the same bidder on another lot, are not held back.
    assert bid(app, lot_id, "50.00", BOB)[0] == 202
    assert bid(app, other_lot, "10.00", ALICE)[0] == 202
    # A retry of a pending bid is the same bid, not one more.
    status, placed, _ = bid(app, lot_id, "60.00", BOB, bid_id="bob-again")
    assert status == 202
    assert bid(app, lot_id, "60.00", BOB, bid_id="bob-again")[0] == 202
    process(app, sqs)
    assert bid(app, lot_id, "90.00", ALICE)[0] == 202  # decided: no longer pending


def test_a_bidder_whose_bids_on_a_lot_keep_being_rejected_waits_for_the_next_hour(app, sqs):
    lot_id = new_lot(app)[1]["lot_id"]
    assert bid(app, lot_id, "100.00", BOB)[0] == 202
    process(app, sqs)
    for _ in range(3):  # below the minimum: each is rejected
        assert bid(app, lot_id, "10.00", ALICE)[0] == 202
    process(app, sqs)
    status, refusal, headers = bid(app, lot_id, "11.00", ALICE, bid_id="after-rejections")
    assert status == 429
    assert refusal["error"]["details"]["quota"] == "rejected_bids_per_lot_per_hour"
    assert 1 <= int(headers["retry-after"]) <= 3600
    assert app.commands.store.get_bid_request("after-rejections") is None
    assert sqs.waiting == []


def test_a_seller_past_their_lots_for_the_day_is_told_when_to_come_back(app):
    for _ in range(3):
        assert new_lot(app)[0] == 201
    status, refusal, headers = new_lot(app)
    assert status == 429
    assert (refusal["error"]["code"], refusal["error"]["details"]["quota"]) == ("QUOTA_EXCEEDED", "lots_per_day")
    assert 1 <= int(headers["retry-after"]) <= 86_400
    assert len(list(app.commands.store.lot_ids())) == 3
    other_seller = {"sub": "sue", "cognito:groups": "sellers", "custom:seller_handle": "sam"}
    assert new_lot(app, claims=other_seller)[0] == 201  # another seller's quota is their own


def test_a_lot_id_already_taken_is_refused_without_using_a_lot_of_the_sellers_day(app):
    status, created, _ = new_lot(app)
    assert status == 201
    terms = {"lot_id": created["lot_id"], "title": "Blue vase", "currency": "EUR", "starting_price": "10.00",
             "closes_at": format_time(utc_now() + timedelta(minutes=30))}
    for _ in range(3):
        assert api(app, "POST", "/lots", body=terms, claims=SELLER)[0] == 409
    assert [new_lot(app)[0] for _ in range(3)] == [201, 201, 429]  # the day's 3: one before, two after

def test_a_quota_setting_that_is_not_a_whole_number_stops_the_start():
    with pytest.raises(ValueError, match="QUOTA_PENDING_BIDS_PER_LOT"):
        build({**IN_MEMORY, "QUOTA_PENDING_BIDS_PER_LOT": "0"})
    with pytest.raises(ValueError, match="QUOTA_LOTS_PER_DAY"):
        build({**IN_MEMORY, "QUOTA_LOTS_PER_DAY": " 5"})


def test_a_sale_counts_each_of_its_lots_against_the_sellers_day(app):
    assert new_lot(app)[0] == 201

    def sale(sale_id: str, count: int) -> tuple[int, Any, dict[str, Any]]:
        lots = [{"lot_id": f"sam-{sale_id}-{i}", "title": "Blue vase", "currency": "EUR", "starting_price": "10.00"}
                for i in range(count)]
        body = {"sale_id": sale_id, "title": "Spring sale", "interval_s": 60,
                "first_closes_at": format_time(utc_now() + timedelta(hours=1)), "lots": lots}
        return api(app, "POST", "/sales", body=body, claims=SELLER)

    status, refusal, _ = sale("too-big", 3)  # 1 + 3 would pass 3 a day
    assert (status, refusal["error"]["details"]["quota"]) == (429, "lots_per_day")
    assert app.commands.store.get_sale("too-big") is None
    assert sale("fits", 2)[0] == 201
