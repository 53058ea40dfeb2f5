"""The Lambda handlers on the in-memory recorder and an in-memory queue: what the API
answers and queues, how the processor decides (once, also when SQS delivers twice), and
the closing sweep. Milliseconds, no Java; tests/integration/handlers/test_handlers.py runs the
same handlers against DynamoDB Local and the local SQS."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from adapters.command_queue import CommandQueue
from bootstrap import App, build
from handlers import close_due_lots, lot_api, place_bid, process_bid
from ledger.domain.values import format_time, utc_now
from tests.support.app import LaggingClock, build_test_app
from tests.support.events import FakeContext, rest_event
from tests.support.queue import QUEUE_URL, InMemorySqs

ALICE = {"sub": "alice", "cognito:username": "alice"}
BOB = {"sub": "bob", "cognito:username": "bob"}
SELLER = {"sub": "sam", "cognito:username": "sam", "cognito:groups": "sellers", "custom:seller_handle": "sam"}


def api(app: App, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    module = place_bid if path == "/bid" else lot_api
    response = module.handler(rest_event(method, path, **kwargs), FakeContext(), app)
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def create_lot(app: App, **terms: Any) -> dict[str, Any]:
    terms = {"lot_id": f"sam-lot-{uuid.uuid4().hex[:8]}", "title": "Blue vase", "currency": "EUR",
             "starting_price": "10.00", "closes_at": format_time(utc_now() + timedelta(minutes=30))} | terms
    status, lot = api(app, "POST", "/lots", body=terms, claims=SELLER)
    assert status == 201, lot
    return lot


def process(app: App, sqs: InMemorySqs) -> list[dict[str, Any]]:
    """Hand every waiting message to the processor in batches of 10, as the event source mapping does."""
    batches = []
    while (batch := sqs.next_batch()) is not None:
        response = process_bid.handler(batch, FakeContext(), app)
        assert response["batchItemFailures"] == []
        batches.append(batch)
    return batches


def bid_status(app: App, bid_id: str, claims: dict[str, str]) -> tuple[int, Any]:
    return api(app, "GET", f"/bids/{bid_id}", resource="/bids/{bid_id}", path_parameters={"bid_id": bid_id}, claims=claims)


def lot_view(app: App, lot_id: str, **query: str) -> dict[str, Any]:
    status, view = api(app, "GET", f"/lots/{lot_id}", resource="/lots/{lot_id}", path_parameters={"lot_id": lot_id},
                       query=query or None)
    assert status == 200, view
    return view


def test_a_bid_is_queued_decided_once_and_told_to_its_bidder_only(app, sqs):
    lot = create_lot(app)
    status, placed = api(app, "POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "12.00"}, claims=ALICE)
    assert (status, placed["status"]) == (202, "PENDING")
    assert len(sqs.waiting) == 1
    assert bid_status(app, placed["bid_id"], ALICE)[1]["status"] == "PENDING"

    [batch] = process(app, sqs)
    status, outcome = bid_status(app, placed["bid_id"], ALICE)
    assert (status, outcome["status"], outcome["amount"]) == (200, "ACCEPTED", "12.00")
    assert bid_status(app, placed["bid_id"], BOB)[0] == 404

    sqs.redeliver(batch)  # SQS may deliver a message again: the receipt answers, nothing is decided twice
    process(app, sqs)
    view = lot_view(app, lot["lot_id"])
    # 12.00 is Alice's maximum: the first bid opens at the starting price.
    assert (view["version"], view["bid_count"], view["current_price"]) == (2, 1, "10.00")


def test_a_retried_post_with_the_same_idempotency_key_makes_one_bid(app, sqs):
    lot = create_lot(app)
    for _ in range(2):
        status, _ = api(app, "POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "12.00"}, claims=ALICE,
                        headers={"Idempotency-Key": "key-1"})
        assert status == 202
    process(app, sqs)
    assert lot_view(app, lot["lot_id"])["bid_count"] == 1


def test_a_lower_bid_is_rejected_with_its_reason_and_numbers(app, sqs):
    lot = create_lot(app)
    api(app, "POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "20.00"}, claims=ALICE)
    _, low = api(app, "POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.25"}, claims=BOB)
    process(app, sqs)
    _, outcome = bid_status(app, low["bid_id"], BOB)
    assert (outcome["status"], outcome["reason"], outcome["minimum"]) == ("REJECTED", "BELOW_MINIMUM", "10.50")
    assert lot_view(app, lot["lot_id"], as_of_version="2")["current_price"] == "10.00"


def test_the_sweep_queues_a_close_for_a_due_lot_and_the_processor_closes_it(sqs):
    # Created by a clock an hour behind, so the lot's close time is already past for the sweep.
    clock = LaggingClock()
    earlier = build_test_app(clock=clock)
    app = build_test_app(commands=earlier.commands, command_queue=CommandQueue(sqs, QUEUE_URL), close_grace_seconds=0)
    lot = create_lot(app, closes_at=format_time(utc_now() - timedelta(minutes=1)))
    later = create_lot(app)

    assert close_due_lots.handler({}, FakeContext(), app)["queued"] == 1
    assert close_due_lots.handler({}, FakeContext(), app)["queued"] == 1  # the same close again is deduplicated
    assert len(sqs.waiting) == 1
    clock.behind = timedelta(0)  # the processor closes as of its own clock, never the command's
    process(app, sqs)
    assert (lot_view(app, lot["lot_id"])["status"], lot_view(app, lot["lot_id"])["outcome"]) == ("CLOSED", "UNSOLD")
    assert lot_view(app, later["lot_id"])["status"] == "OPEN"
    assert close_due_lots.handler({}, FakeContext(), app)["queued"] == 0


def test_storage_out_of_reach_is_a_503_to_retry_not_a_5xx_of_the_gateway():
    # DynamoDB out of reach (nothing listens on port 9): the API says "retry" in its own
    # error shape instead of failing the integration (a 502).
    app = build({"BIDS_TABLE": "bids", "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9"})
    status, answer = api(app, "GET", "/lots/lot-1", resource="/lots/{lot_id}", path_parameters={"lot_id": "lot-1"})
    assert status == 503 and answer["error"]["code"] == "TRANSIENT", answer


def test_bids_the_api_can_see_are_below_the_minimum_are_refused_with_it_not_queued(app, sqs):
    lot = create_lot(app)
    api(app, "POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "20.00"}, claims=ALICE)
    process(app, sqs)
    answers = [api(app, "POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "1.00"}, claims=BOB) for _ in range(3)]
    assert {(status, body["error"]["code"], body["error"]["details"]["minimum_bid"]) for status, body in answers} == {
        (422, "BELOW_MINIMUM", "10.50")}
    assert sqs.waiting == [] and lot_view(app, lot["lot_id"])["version"] == 2
