"""The Lambda handlers called directly with API Gateway and SQS events, against
DynamoDB Local and the local SQS queue: what the API answers, what it queues and
writes, and how the processor decides and parks. What the API accepts as input (shapes
refused before any storage is read) is in tests/unit/handlers/test_input_shapes.py."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import boto3
import pytest

from bootstrap import build
from ledger.domain.commands import caller_bid_id
from ledger.domain.listing import LIST_CURSOR_PATTERN
from ledger.domain.values import format_time, parse_time, utc_now
from ledger.dynamodb import lot_key
from local.sam.template import LocalEndpoints, SamTemplate
from local.sqs.server import LocalSqs
from tests.conftest import REPO
from tests.support.events import FakeContext, sqs_event
from tests.support.rest_calls import APP, SELLER, api, create_lot

ALICE = {"sub": "alice", "cognito:username": "alice"}
BOB = {"sub": "bob", "cognito:username": "bob"}
ADMIN = {"sub": "root", "cognito:username": "root", "cognito:groups": "admin"}


# The App of the module's stack: the helpers below pass it to every handler they call.


@pytest.fixture(scope="module")
def stack(tmp_path_factory, dynamodb_endpoint, bids_table):
    """The application wired as template.yaml's environment wires the functions, pointed at local services."""
    with LocalSqs(tmp_path_factory.mktemp("sqs")) as sqs_server:
        sqs = boto3.client("sqs", endpoint_url=sqs_server.endpoint_url)
        dlq = sqs.create_queue(QueueName="dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        queue = sqs.create_queue(
            QueueName="commands.fifo",
            Attributes={
                "FifoQueue": "true",
                # Longer than any batch takes, however loaded the machine: a message comes
                # back only when a test makes it visible again.
                "VisibilityTimeout": "120",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": sqs_server.queue_arn("dlq.fifo"), "maxReceiveCount": 3}),
            },
        )["QueueUrl"]
        # Close timers: a standard queue, each message delayed on its own.
        timers = sqs.create_queue(QueueName="close-timers")["QueueUrl"]
        # The Connections table exactly as template.yaml declares it, under a name of its own.
        connections_table = f"conn-{uuid.uuid4().hex[:8]}"
        app = SamTemplate.load(REPO / "template.yaml").resolve(LocalEndpoints.placeholder("us-east-1", "000000000000"))
        declared = next(t for t in app.tables if t.logical_id == "ConnectionsTable").create_table_kwargs
        boto3.client("dynamodb", endpoint_url=dynamodb_endpoint).create_table(**(declared | {"TableName": connections_table}))
        app = build({
            "BIDS_TABLE": bids_table,
            "CONNECTIONS_TABLE": connections_table,
            "PROCESS_BID_QUEUE_URL": queue,
            "CLOSE_TIMER_QUEUE_URL": timers,
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
            "AWS_ENDPOINT_URL_SQS": sqs_server.endpoint_url,
            "CLOSE_GRACE_SECONDS": "1",
        })
        APP["app"] = app
        yield {"sqs": sqs, "queue": queue, "dlq": dlq, "queue_arn": sqs_server.queue_arn("commands.fifo"), "app": app,
               "timers": timers, "timers_arn": sqs_server.queue_arn("close-timers")}
        APP.clear()


def drain(stack, max_rounds=10):
    """Receive what is queued and run the processor on it, like the event source mapping."""
    from handlers import process_bid

    responses = []
    for _ in range(max_rounds):
        messages = stack["sqs"].receive_message(
            QueueUrl=stack["queue"], MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            break
        stack["received"] = messages  # what the last round took, for a test to hand back
        response = process_bid.handler(sqs_event(messages, stack["queue_arn"]), FakeContext(), stack["app"])
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        done = [m for m in messages if m["MessageId"] not in failed]
        for m in done:
            stack["sqs"].delete_message(QueueUrl=stack["queue"], ReceiptHandle=m["ReceiptHandle"])
        responses.append(response)
    return responses


def queued(stack) -> int:
    attributes = stack["sqs"].get_queue_attributes(QueueUrl=stack["queue"], AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_bid_is_queued_then_decided_and_reported_to_its_bidder_only(stack):
    lot = create_lot()
    status, body = api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.00"}, claims=ALICE)
    assert status == 202 and body["status"] == "PENDING"
    bid_id = body["bid_id"]
    assert body["status_url"] == f"/bids/{bid_id}"
    assert api("GET", f"/bids/{bid_id}", resource="/bids/{bid_id}", path_parameters={"bid_id": bid_id}, claims=ALICE)[1]["status"] == "PENDING"
    drain(stack)
    status, outcome = api("GET", f"/bids/{bid_id}", resource="/bids/{bid_id}", path_parameters={"bid_id": bid_id}, claims=ALICE)
    assert (status, outcome["status"], outcome["reason"], outcome["amount"]) == (200, "ACCEPTED", None, "10.00")
    status, _ = api("GET", f"/bids/{bid_id}", resource="/bids/{bid_id}", path_parameters={"bid_id": bid_id}, claims=BOB)
    assert status == 404


def test_same_idempotency_key_twice_makes_one_bid(stack):
    lot = create_lot()
    key = uuid.uuid4().hex
    before = queued(stack)
    first = api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.00"}, claims=ALICE, headers={"Idempotency-Key": key})
    second = api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.00"}, claims=ALICE, headers={"Idempotency-Key": key})
    assert first == second and first[1]["bid_id"] == caller_bid_id("alice", key)
    assert queued(stack) == before + 1
    drain(stack)
    third = api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.00"}, claims=ALICE, headers={"Idempotency-Key": key})
    assert third[1]["status"] == "ACCEPTED" and queued(stack) == 0
    reused = api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "99.00"}, claims=ALICE, headers={"Idempotency-Key": key})
    assert reused[0] == 409



def test_poison_message_is_parked_and_does_not_block_its_lot(stack, dynamodb_client, bids_table):
    lot = create_lot()
    stack["sqs"].send_message(
        QueueUrl=stack["queue"], MessageBody="{this is not a command", MessageGroupId=lot["lot_id"], MessageDeduplicationId="poison-1"
    )
    status, body = api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.00"}, claims=ALICE)
    responses = drain(stack)
    assert all(r["batchItemFailures"] == [] for r in responses)
    outcome = api("GET", f"/bids/{body['bid_id']}", resource="/bids/{bid_id}", path_parameters={"bid_id": body["bid_id"]}, claims=ALICE)[1]
    assert outcome["status"] == "ACCEPTED"
    assert len(parked_with_body(dynamodb_client, bids_table, "{this is not a command")) == 1


def parked_with_body(dynamodb_client, bids_table: str, body: str) -> list[dict]:
    # Every page: a Scan filters after reading at most 1 MB, and the session's table grows.
    pages = dynamodb_client.get_paginator("scan").paginate(
        TableName=bids_table, FilterExpression="begins_with(PK, :p) AND body = :b",
        ExpressionAttributeValues={":p": {"S": "PARKED#"}, ":b": {"S": body}}, ConsistentRead=True,
    )
    return [item for page in pages for item in page["Items"]]


def test_rejection_reason_and_lot_view_with_aliases(stack):
    lot = create_lot(reserve_price="100.00")
    ok = api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.00"}, claims=ALICE)[1]
    low = api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.25"}, claims=BOB)[1]
    drain(stack)
    rejected = api("GET", f"/bids/{low['bid_id']}", resource="/bids/{bid_id}", path_parameters={"bid_id": low["bid_id"]}, claims=BOB)[1]
    assert (rejected["status"], rejected["reason"], rejected["minimum"]) == ("REJECTED", "BELOW_MINIMUM", "10.50")
    status, view = api("GET", f"/lots/{lot['lot_id']}", resource="/lots/{lot_id}", path_parameters={"lot_id": lot["lot_id"]})
    assert status == 200 and view["leader"] == "Bidder 1" and view["current_price"] == "10.00"
    assert "alice" not in json.dumps(view) and "100.00" not in json.dumps(view)
    assert ok["status"] == "PENDING"


def test_time_travel_and_admin_event_log(stack):
    lot = create_lot()
    api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.00"}, claims=ALICE)
    drain(stack)
    path = {"lot_id": lot["lot_id"]}
    status, then = api("GET", f"/lots/{lot['lot_id']}", resource="/lots/{lot_id}", path_parameters=path, query={"as_of_version": "1"})
    assert (status, then["version"], then["current_price"]) == (200, 1, None)
    assert api("GET", f"/lots/{lot['lot_id']}", resource="/lots/{lot_id}", path_parameters=path, query={"as_of_version": "x"})[0] == 400
    events_path = f"/lots/{lot['lot_id']}/events"
    assert api("GET", events_path, resource="/lots/{lot_id}/events", path_parameters=path, claims=ALICE)[0] == 403
    status, page = api("GET", events_path, resource="/lots/{lot_id}/events", path_parameters=path, claims=ADMIN, query={"limit": "1"})
    assert status == 200 and [e["type"] for e in page["items"]] == ["LotCreated"] and page["next"] == "1"
    status, page = api("GET", events_path, resource="/lots/{lot_id}/events", path_parameters=path, claims=ADMIN, query={"cursor": page["next"]})
    assert [e["type"] for e in page["items"]] == ["BidPlaced"] and page["items"][0]["prev_hash"] == page["items"][0]["prev_hash"]
    assert page["next"] is None
    # The names before items and next, kept for one release.
    assert (page["events"], page["next_after_version"]) == (page["items"], None)


def test_cancel_is_for_admins(stack):
    lot = create_lot()
    path = {"lot_id": lot["lot_id"]}
    assert api("POST", f"/lots/{lot['lot_id']}/cancel", resource="/lots/{lot_id}/cancel", path_parameters=path, claims=SELLER)[0] == 403
    status, view = api("POST", f"/lots/{lot['lot_id']}/cancel", resource="/lots/{lot_id}/cancel", path_parameters=path, claims=ADMIN, body={"reason": "fake"})
    assert (status, view["status"]) == (200, "CANCELLED")


def wait_until_due(lot) -> None:
    """Until the lot's close time and the 1 s grace have passed by the wall clock."""
    import time

    while utc_now() <= parse_time(lot["closes_at"]) + timedelta(seconds=1):
        time.sleep(0.05)


def test_sweep_queues_close_for_due_lots_and_processor_closes(stack):
    from handlers import close_due_lots

    # 3 s: time for the bid before the close on a loaded machine.
    lot = create_lot(closes_at=format_time(utc_now() + timedelta(seconds=3)), soft_close_window_s=0)
    api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.00"}, claims=ALICE)
    drain(stack)
    wait_until_due(lot)
    assert close_due_lots.handler({}, FakeContext(), stack["app"])["queued"] >= 1
    drain(stack)
    status, view = api("GET", f"/lots/{lot['lot_id']}", resource="/lots/{lot_id}", path_parameters={"lot_id": lot["lot_id"]})
    assert (view["status"], view["outcome"]) == ("CLOSED", "SOLD")


def test_a_short_lots_timer_waits_on_the_queue_until_its_deadline_then_closes_it(stack):
    """POST /lots arms the timer on the local SQS with its delay; it is not received before
    the lot's close time plus the grace (1 s here), and CloseTimerFunction then queues the
    CloseLot that the processor decides."""
    from handlers import close_timers

    lot = create_lot(closes_at=format_time(utc_now() + timedelta(seconds=3)), soft_close_window_s=0)
    deadline = parse_time(lot["closes_at"]) + timedelta(seconds=1)
    received: list[dict[str, Any]] = []
    while not received:
        answer = stack["sqs"].receive_message(QueueUrl=stack["timers"], MaxNumberOfMessages=10, WaitTimeSeconds=1)
        received = [m for m in answer.get("Messages", []) if json.loads(m["Body"])["lot_id"] == lot["lot_id"]]
        assert utc_now() < deadline + timedelta(seconds=30), "the timer never arrived"
    # Not before the deadline (the lot's closes_at has milliseconds, the delay whole seconds rounded up).
    assert utc_now() >= deadline
    response = close_timers.handler(sqs_event(received, stack["timers_arn"]), FakeContext(), stack["app"])
    assert response["batchItemFailures"] == []
    drain(stack)
    status, view = api("GET", f"/lots/{lot['lot_id']}", resource="/lots/{lot_id}", path_parameters={"lot_id": lot["lot_id"]})
    assert (view["status"], view["outcome"]) == ("CLOSED", "UNSOLD")


def test_list_open_lots(stack):
    lot = create_lot()
    listed, query = set(), {"status": "open", "limit": "100"}
    while True:  # the table is shared: other tests' lots may close sooner and fill the first page
        status, listing = api("GET", "/lots", query=query)
        assert status == 200
        listed |= {summary["lot_id"] for summary in listing["items"]}
        if listing["next"] is None:
            break
        query = {"status": "open", "limit": "100", "cursor": listing["next"]}
    assert lot["lot_id"] in listed
    assert lot_key("x") == "LOT#x"


def test_the_list_pages_on_with_its_cursor_in_close_time_order(stack):
    mine = {create_lot()["lot_id"] for _ in range(5)}
    seen: list[dict] = []
    query = {"status": "open", "limit": "2"}
    while True:
        status, page = api("GET", "/lots", query=query)
        assert status == 200 and len(page["items"]) <= 2
        assert "recent_bids" not in (page["items"] or [{}])[0]  # a list shows summaries
        seen += page["items"]
        if page["next"] is None:
            break
        query = {"status": "open", "limit": "2", "cursor": page["next"]}
    ids = [lot["lot_id"] for lot in seen]
    assert mine <= set(ids) and len(ids) == len(set(ids))  # every lot once
    assert [(lot["closes_at"], lot["lot_id"]) for lot in seen] == sorted((lot["closes_at"], lot["lot_id"]) for lot in seen)
    status, refused = api("GET", "/lots", query={"status": "open", "cursor": "not a cursor"})
    assert status == 400 and refused["error"]["code"] == "INVALID_REQUEST"


def test_the_list_shows_ended_lots_newest_first_and_all_lots_with_one_cursor(stack):
    cancelled = [create_lot()["lot_id"] for _ in range(3)]
    for lot_id in cancelled:
        status, _ = api("POST", f"/lots/{lot_id}/cancel", resource="/lots/{lot_id}/cancel",
                        path_parameters={"lot_id": lot_id}, claims=ADMIN)
        assert status == 200
    still_open = create_lot()["lot_id"]

    def every(status_name, limit="2"):
        seen, query = [], {"status": status_name, "limit": limit}
        while True:
            status, page = api("GET", "/lots", query=query)
            assert status == 200 and len(page["items"]) <= int(limit)
            seen += page["items"]
            if page["next"] is None:
                return seen
            query = {"status": status_name, "limit": limit, "cursor": page["next"]}

    ended = every("closed")
    ids = [lot["lot_id"] for lot in ended]
    assert set(cancelled) <= set(ids) and still_open not in ids and len(ids) == len(set(ids))
    assert {lot["status"] for lot in ended} <= {"CLOSED", "CANCELLED"}
    positions = [(lot["ended_at"], lot["lot_id"]) for lot in ended]
    assert positions == sorted(positions, reverse=True)  # most recently ended first
    everything = every("all", limit="3")
    all_ids = [lot["lot_id"] for lot in everything]
    assert len(all_ids) == len(set(all_ids)) and still_open in all_ids and set(cancelled) <= set(all_ids)
    first_ended = next(i for i, lot in enumerate(everything) if lot["status"] in ("CLOSED", "CANCELLED"))
    assert all(lot["status"] in ("OPEN", "SCHEDULED") for lot in everything[:first_ended])  # open ones first
    assert all(lot["status"] in ("CLOSED", "CANCELLED") for lot in everything[first_ended:])

    # Any cursor of the documented pattern is a position, whatever the status asked.
    for status_name in ("open", "closed", "all"):
        for cursor in ("OPEN#2999-12-31T23:59:59.999Z#zzz", "ENDED#2000-01-01T00:00:00.000Z#a"):
            status, page = api("GET", "/lots", query={"status": status_name, "cursor": cursor})
            assert status == 200, (status_name, cursor, page)
    for refused in ("2030-01-01T00:00:00.000Z#lot-1", "OPEN#2030-01-01T00:00:00Z#lot-1", "CLOSED#2030-01-01T00:00:00.000Z#x"):
        status, answer = api("GET", "/lots", query={"status": "closed", "cursor": refused})
        assert status == 400 and answer["error"]["code"] == "INVALID_REQUEST", refused
    status, answer = api("GET", "/lots", query={"status": "sold"})
    assert status == 400

    status, document = api("GET", "/openapi.json")
    parameters = {p["name"]: p["schema"] for p in document["paths"]["/lots"]["get"]["parameters"]}
    assert parameters["status"]["enum"] == ["open", "closed", "all"]
    cursor_schema = parameters["cursor"].get("anyOf", [parameters["cursor"]])[0]
    assert cursor_schema["pattern"] == LIST_CURSOR_PATTERN



def test_a_crash_between_write_and_acknowledge_decides_nothing_twice(stack, dynamodb_client, bids_table):
    """The processor writes, then dies before SQS hears back: the messages come back after
    their visibility timeout, and the second run finds the receipts and writes nothing."""
    from handlers import process_bid

    lot = create_lot()
    bids = [api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": amount}, claims=claims)[1]
            for amount, claims in (("10.00", ALICE), ("10.50", BOB))]
    first = stack["sqs"].receive_message(QueueUrl=stack["queue"], MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert process_bid.handler(sqs_event(first, stack["queue_arn"]), FakeContext(), stack["app"])["batchItemFailures"] == []
    events_after_first = dynamodb_client.query(
        TableName=bids_table, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": lot_key(lot["lot_id"])}},
        Select="COUNT", ConsistentRead=True,
    )["Count"]
    for m in first:  # the visibility timeout runs out: the unacknowledged messages come back
        stack["sqs"].change_message_visibility(QueueUrl=stack["queue"], ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    again = stack["sqs"].receive_message(QueueUrl=stack["queue"], MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert {m["MessageId"] for m in again} == {m["MessageId"] for m in first}
    assert all(m["Attributes"]["ApproximateReceiveCount"] == "2" for m in again)
    assert process_bid.handler(sqs_event(again, stack["queue_arn"]), FakeContext(), stack["app"])["batchItemFailures"] == []
    events_after_second = dynamodb_client.query(
        TableName=bids_table, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": lot_key(lot["lot_id"])}},
        Select="COUNT", ConsistentRead=True,
    )["Count"]
    assert events_after_first == events_after_second == 1 + 2 + 2 + 1  # events, the bids' disclosures, and the snapshot
    for bid, claims in zip(bids, (ALICE, BOB), strict=True):
        status = api("GET", f"/bids/{bid['bid_id']}", resource="/bids/{bid_id}", path_parameters={"bid_id": bid["bid_id"]}, claims=claims)[1]
        assert status["status"] == "ACCEPTED"
    for m in again:
        stack["sqs"].delete_message(QueueUrl=stack["queue"], ReceiptHandle=m["ReceiptHandle"])


# -- strict input: a queue message not exactly a command is parked, not decided




def test_queue_messages_not_exactly_a_command_are_parked_not_decided(stack, dynamodb_client, bids_table):
    lot = create_lot()
    good = json.dumps({"command": {"type": "PlaceBid", "bid_id": "BID", "lot_id": lot["lot_id"], "bidder": "alice",
                                   "amount": "10.00", "placed_at": format_time(utc_now())}})
    bodies = [
        good.replace('"amount": "10.00"', '"amount": "10.00", "amount": "99.00"').replace("BID", uuid.uuid4().hex),
        good.replace('"amount": "10.00"', '"amount": "10.00\\n"').replace("BID", uuid.uuid4().hex),
        "[" + good.replace("BID", uuid.uuid4().hex) + "]",
        good.replace('"bidder": "alice"', '"bidder": "alice", "extra": 1').replace("BID", uuid.uuid4().hex),
    ]
    for n, body in enumerate(bodies):
        stack["sqs"].send_message(QueueUrl=stack["queue"], MessageBody=body, MessageGroupId=lot["lot_id"],
                                  MessageDeduplicationId=f"strict-{lot['lot_id']}-{n}")
    responses = drain(stack)
    assert all(r["batchItemFailures"] == [] for r in responses)
    status, view = api("GET", f"/lots/{lot['lot_id']}", resource="/lots/{lot_id}", path_parameters={"lot_id": lot["lot_id"]})
    assert (status, view["version"], view["bid_count"]) == (200, 1, 0)
    for body in bodies:
        assert len(parked_with_body(dynamodb_client, bids_table, body)) == 1, body




# -- the queue is not a back door: a command the API never admitted is parked, not decided


def test_commands_sent_straight_to_the_queue_are_parked_or_capped_not_decided(stack, dynamodb_client, bids_table):
    """As any principal allowed to send to the queue could: bob "bids" 99,999.00 with no bid
    request behind it, and a close "requested" in 2099 tries to end the lot early."""
    lot = create_lot()
    forged = json.dumps({"command": {"type": "PlaceBid", "bid_id": uuid.uuid4().hex, "lot_id": lot["lot_id"], "bidder": "bob",
                                     "amount": "99999.00", "placed_at": format_time(utc_now())}})
    early_close = json.dumps({"command": {"type": "CloseLot", "lot_id": lot["lot_id"], "requested_at": "2099-01-01T00:00:00.000Z"}})
    for n, body in enumerate([forged, early_close]):
        stack["sqs"].send_message(QueueUrl=stack["queue"], MessageBody=body, MessageGroupId=lot["lot_id"],
                                  MessageDeduplicationId=f"forged-{lot['lot_id']}-{n}")
    honest = api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.00"}, claims=ALICE)[1]
    assert all(r["batchItemFailures"] == [] for r in drain(stack))
    [parked] = parked_with_body(dynamodb_client, bids_table, forged)
    assert parked["error"]["S"] == "NO_MATCHING_REQUEST"
    status, view = api("GET", f"/lots/{lot['lot_id']}", resource="/lots/{lot_id}", path_parameters={"lot_id": lot["lot_id"]})
    assert (status, view["status"], view["bid_count"], view["current_price"]) == (200, "OPEN", 1, "10.00")
    outcome = api("GET", f"/bids/{honest['bid_id']}", resource="/bids/{bid_id}", path_parameters={"bid_id": honest["bid_id"]},
                  claims=ALICE)[1]
    assert outcome["status"] == "ACCEPTED"
