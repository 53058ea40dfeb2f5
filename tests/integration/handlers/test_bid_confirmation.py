"""`POST /bid` and fat-finger protection, the handlers called with API Gateway and SQS
events against DynamoDB Local and the local SQS queue: the 422 a bid far above the minimum
gets (nothing queued, nothing recorded), the 202 once confirmed, retries. The strict
`confirm` field and the OpenAPI document are in tests/unit/handlers/test_bid_confirmation_shapes.py."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import boto3
import pytest

from bootstrap import App, build
from ledger.domain.values import format_time, utc_now
from local.sqs.server import LocalSqs
from tests.support.events import FakeContext, rest_event, sqs_event

ALICE = {"sub": "alice", "cognito:username": "alice"}
SELLER = {"sub": "sam", "cognito:username": "sam", "cognito:groups": "sellers", "custom:seller_handle": "sam"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, dynamodb_endpoint, bids_table):
    """The application as the template wires PlaceBid and ProcessBid, with a cap for EUR."""
    with LocalSqs(tmp_path_factory.mktemp("sqs")) as sqs_server:
        sqs = boto3.client("sqs", endpoint_url=sqs_server.endpoint_url)
        # A visibility timeout no batch outlasts, however loaded the machine: nothing comes back twice.
        queue = sqs.create_queue(QueueName="commands.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "120"})["QueueUrl"]
        app = build({
            "BIDS_TABLE": bids_table,
            "PROCESS_BID_QUEUE_URL": queue,
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
            "AWS_ENDPOINT_URL_SQS": sqs_server.endpoint_url,
            "BID_CONFIRMATION_CAPS": "EUR=5000,JPY=15000000",
        })
        yield {"sqs": sqs, "queue": queue, "queue_arn": sqs_server.queue_arn("commands.fifo"), "app": app}


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


def bid_status(stack, bid_id: str):
    return call(stack["app"], "GET", f"/bids/{bid_id}", resource="/bids/{bid_id}", path_parameters={"bid_id": bid_id}, claims=ALICE)


def queued(stack) -> int:
    attributes = stack["sqs"].get_queue_attributes(QueueUrl=stack["queue"], AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def drain(stack) -> None:
    """Run the processor on what is queued, as the event source mapping would."""
    from handlers import process_bid

    while messages := stack["sqs"].receive_message(
        QueueUrl=stack["queue"], MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", []):
        response = process_bid.handler(sqs_event(messages, stack["queue_arn"]), FakeContext(), stack["app"])
        assert response["batchItemFailures"] == []
        for message in messages:
            stack["sqs"].delete_message(QueueUrl=stack["queue"], ReceiptHandle=message["ReceiptHandle"])


def test_a_bid_far_above_the_minimum_gets_422_and_nothing_is_queued_or_recorded(stack):
    lot_id = new_lot(stack)
    bid_id = uuid.uuid4().hex
    before = queued(stack)
    status, answer = bid(stack, {"lot_id": lot_id, "amount": "100.01", "bid_id": bid_id})
    assert status == 422
    assert answer == {"error": {
        "code": "CONFIRMATION_REQUIRED",
        "message": answer["error"]["message"],
        "details": {"lot_id": lot_id, "currency": "EUR", "amount": "100.01", "minimum_bid": "10.00",
                    "triggered_by": "factor", "factor": 10, "factor_limit": "100.00", "cap": "5000.00"},
    }}
    assert '"confirm": true' in answer["error"]["message"]
    assert queued(stack) == before
    assert bid_status(stack, bid_id)[0] == 404
    # Ten times the minimum exactly is an ordinary bid.
    assert bid(stack, {"lot_id": lot_id, "amount": "100.00"})[0] == 202


def test_confirmed_it_is_queued_and_decided_and_a_retry_is_the_same_bid(stack):
    lot_id = new_lot(stack)
    key = uuid.uuid4().hex
    before = queued(stack)
    first = bid(stack, {"lot_id": lot_id, "amount": "1000.00", "confirm": True}, headers={"Idempotency-Key": key})
    bid_id = first[1]["bid_id"]
    assert first == (202, {"bid_id": bid_id, "status": "PENDING", "status_url": f"/bids/{bid_id}"})
    assert queued(stack) == before + 1
    # The answer was lost and the client sends the bid again without the flag: the same bid.
    assert bid(stack, {"lot_id": lot_id, "amount": "1000.00"}, headers={"Idempotency-Key": key}) == first
    drain(stack)
    assert bid_status(stack, bid_id)[1]["status"] == "ACCEPTED"
    status, answer = bid(stack, {"lot_id": lot_id, "amount": "1000.00"}, headers={"Idempotency-Key": key})
    assert (status, answer["status"], queued(stack)) == (202, "ACCEPTED", 0)
    # The same key for another amount is another bid.
    assert bid(stack, {"lot_id": lot_id, "amount": "2000.00"}, headers={"Idempotency-Key": key})[0] == 409


def test_the_deployments_cap_asks_even_within_ten_times(stack):
    lot_id = new_lot(stack, starting_price="1000.00")
    assert bid(stack, {"lot_id": lot_id, "amount": "5000.00"})[0] == 202
    lot_id = new_lot(stack, starting_price="1000.00")
    status, answer = bid(stack, {"lot_id": lot_id, "amount": "5000.01"})
    assert status == 422 and answer["error"]["code"] == "CONFIRMATION_REQUIRED"
    assert (answer["error"]["details"]["triggered_by"], answer["error"]["details"]["cap"]) == ("cap", "5000.00")
    assert bid(stack, {"lot_id": lot_id, "amount": "5000.01", "confirm": True})[0] == 202


def test_confirm_false_is_the_same_as_leaving_it_out(stack):
    lot_id = new_lot(stack)
    assert bid(stack, {"lot_id": lot_id, "amount": "1000.00", "confirm": False})[0] == 422
    assert bid(stack, {"lot_id": lot_id, "amount": "10.00", "confirm": False})[0] == 202
