"""One unreadable item never breaks more than itself.

Corrupt snapshot and event items are written straight into DynamoDB Local, as a bug or
a hand edit could leave them: the list and the sweep skip them (logged, counted), the
lot's own routes and WebSocket connect answer LOT_UNREADABLE for that lot only, its
queued commands are parked with the reason instead of failing into the DLQ, and
`verify` / `replay` name the lot, the version and the problem, for one lot and --all.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from bootstrap import App, build
from ledger.domain.commands import CloseLot, CreateLot, LotCommandMessage, PlaceBid
from ledger.domain.errors import LotUnreadable
from ledger.domain.values import format_time, utc_now
from ledger.dynamodb import event_key, lot_key
from projections.audit import for_each_lot, replay, verify
from samsold_cli.main import app as samsold_app
from tests.integration.handlers.test_handlers import ALICE, drain, queued, stack, wait_until_due  # noqa: F401
from tests.support.app import execute_one
from tests.support.events import FakeContext
from tests.support.rest_calls import api, call, create_lot

# Ways a stored snapshot can be unreadable: a year-999 time as `strftime("%Y")`
# once wrote it (unpadded), a missing attribute, a value of the wrong type.
BAD_SNAPSHOTS = {
    "unpadded year": {"opens_at": {"S": "999-01-01T00:00:00.000Z"}},
    "missing attribute": {"currency": None},
    "wrong type": {"bid_count": {"S": "many"}},
}
# Ways a stored event can be unreadable: state that is not JSON, no state at all, a topic
# naming no class.
BAD_EVENTS = {
    "not JSON": {"state": {"B": b"\x00not json"}},
    "missing attribute": {"state": None},
    "unknown topic": {"topic": {"S": "ledger.domain.events:NoSuchEvent"}},
}


@pytest.fixture(scope="module")
def bids_table(dynamodb_endpoint) -> str:
    """A table of this module's own: its corrupt lots stay out of every other test's way."""
    name = f"bids-unreadable-{uuid.uuid4().hex[:8]}"
    build({"BIDS_TABLE": name, "CREATE_TABLE": "y", "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint})
    return name


def corrupt(client, table: str, lot_id: str, sort_key: str, changes: dict) -> None:
    """Rewrite one stored item with some attributes replaced (or, given None, removed)."""
    key = {"PK": {"S": lot_key(lot_id)}, "SK": {"S": sort_key}}
    item = client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    for name, value in changes.items():
        if value is None:
            item.pop(name)
        else:
            item[name] = value
    client.put_item(TableName=table, Item=item)


def lot_closing_in(seconds: float, **terms) -> dict:
    return create_lot(closes_at=format_time(utc_now() + timedelta(seconds=seconds)), **terms)


def lot_path(lot_id: str, suffix: str = "") -> dict:
    return {"resource": "/lots/{lot_id}" + suffix, "path_parameters": {"lot_id": lot_id}}


def parked_items(client, table: str) -> list[dict]:
    # Every page: a Scan filters after reading at most 1 MB.
    pages = client.get_paginator("scan").paginate(TableName=table, FilterExpression="begins_with(PK, :p)",
                                                  ExpressionAttributeValues={":p": {"S": "PARKED#"}}, ConsistentRead=True)
    items = [item for page in pages for item in page["Items"]]
    return [{"body": i["body"]["S"], "error": i["error"]["S"]} for i in items]


def dead_letters(stack) -> int:  # noqa: F811
    attributes = stack["sqs"].get_queue_attributes(QueueUrl=stack["dlq"], AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


# --- the open-lots list and the sweep -----------------------------------------------------


@pytest.mark.parametrize("damage", BAD_SNAPSHOTS.values(), ids=BAD_SNAPSHOTS.keys())
def test_the_public_list_skips_an_unreadable_snapshot_and_keeps_the_rest_in_order(stack, dynamodb_client, bids_table, damage, caplog):  # noqa: F811
    # Closing sooner than any other open lot of this table, so all three are on the first page.
    lots = [lot_closing_in(60 + i)["lot_id"] for i in range(3)]
    corrupt(dynamodb_client, bids_table, lots[1], "SNAPSHOT", damage)
    status, listing = api("GET", "/lots", query={"status": "open", "limit": "100"})
    assert status == 200, listing
    listed = [lot["lot_id"] for lot in listing["items"]]
    assert [lot_id for lot_id in listed if lot_id in lots] == [lots[0], lots[2]]
    assert lot_key(lots[1]) in caplog.text  # logged with its key


def test_the_service_lists_the_keys_it_skipped(service, clock, dynamodb_client, bids_table):
    ids = [f"lot-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    for offset, lot_id in enumerate(ids):
        service.lots.create_lot(CreateLot(lot_id=lot_id, title="Vase", currency="EUR", starting_price="1.00",
                                     closes_at=clock.now + timedelta(seconds=30 + offset)), seller="sam")
    corrupt(dynamodb_client, bids_table, ids[0], "SNAPSHOT", BAD_SNAPSHOTS["unpadded year"])
    page = service.queries.open_lots(closing_by=clock.now + timedelta(seconds=40))
    assert [lot.lot_id for lot in page.lots if lot.lot_id in ids] == ids[1:]
    assert lot_key(ids[0]) in page.unreadable


def test_the_sweep_skips_an_unreadable_lot_and_closes_the_others(stack, dynamodb_client, bids_table):  # noqa: F811
    from handlers import close_due_lots

    # 3 s: time to create both before they close on a loaded machine.
    good, bad = lot_closing_in(3, soft_close_window_s=0), lot_closing_in(3, soft_close_window_s=0)
    corrupt(dynamodb_client, bids_table, bad["lot_id"], "SNAPSHOT", BAD_SNAPSHOTS["unpadded year"])
    wait_until_due(bad)  # past closes_at and the 1 s grace
    swept = close_due_lots.handler({}, FakeContext(), stack["app"])
    assert swept["unreadable"] >= 1
    assert all(response["batchItemFailures"] == [] for response in drain(stack))
    status, view = api("GET", f"/lots/{good['lot_id']}", **lot_path(good["lot_id"]))
    assert (status, view["status"]) == (200, "CLOSED")
    assert dead_letters(stack) == 0


# --- one lot's routes -----------------------------------------------------------------------


def test_an_unreadable_lot_answers_lot_unreadable_for_that_lot_only(stack, dynamodb_client, bids_table):  # noqa: F811
    bad, good = create_lot(), create_lot()
    corrupt(dynamodb_client, bids_table, bad["lot_id"], "SNAPSHOT", BAD_SNAPSHOTS["unpadded year"])
    status, body = api("GET", f"/lots/{bad['lot_id']}", **lot_path(bad["lot_id"]))
    assert status == 500, body
    assert body["error"] == {"code": "LOT_UNREADABLE", "message": f"the snapshot of lot {bad['lot_id']!r} cannot be read",
                             "details": {"lot_id": bad["lot_id"], "version": 1}}
    before = queued(stack)
    status, body = api("POST", "/bid", body={"lot_id": bad["lot_id"], "amount": "10.00"}, claims=ALICE)
    assert (status, body["error"]["code"]) == (500, "LOT_UNREADABLE")
    assert queued(stack) == before  # nothing queued for a lot that cannot be read
    assert api("GET", f"/lots/{good['lot_id']}", **lot_path(good["lot_id"]))[0] == 200
    assert api("GET", "/lots", query={"status": "open"})[0] == 200


def test_the_error_does_not_tell_the_public_what_the_item_holds(stack, dynamodb_client, bids_table):  # noqa: F811
    """What is wrong may quote the item (a hidden reserve, a bidder): that is for the logs."""
    lot = create_lot(reserve_price="500.00")
    corrupt(dynamodb_client, bids_table, lot["lot_id"], "SNAPSHOT", {"reserve_price": {"S": "secret-reserve-500"}})
    status, body = api("GET", f"/lots/{lot['lot_id']}", **lot_path(lot["lot_id"]))
    assert (status, body["error"]["code"]) == (500, "LOT_UNREADABLE")
    assert "secret" not in json.dumps(body) and "reserve" not in json.dumps(body)


def test_websocket_connect_to_an_unreadable_lot_is_refused_in_the_api_error_shape(stack, dynamodb_client, bids_table):  # noqa: F811
    from handlers import connect

    lot = create_lot()
    corrupt(dynamodb_client, bids_table, lot["lot_id"], "SNAPSHOT", BAD_SNAPSHOTS["missing attribute"])
    event = {"requestContext": {"routeKey": "$connect", "connectionId": "conn-unreadable"},
             "queryStringParameters": {"lot_id": lot["lot_id"]}}
    status, body = call(connect, event)
    assert status == 500 and body["error"]["code"] == "LOT_UNREADABLE"
    assert set(body["error"]) == {"code", "message", "details"}


def test_the_broadcaster_skips_an_unreadable_snapshot_image_and_pushes_the_others(stack, dynamodb_client, bids_table):  # noqa: F811
    from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

    from handlers import broadcast

    good, bad = create_lot(), create_lot()
    corrupt(dynamodb_client, bids_table, bad["lot_id"], "SNAPSHOT", BAD_SNAPSHOTS["wrong type"])

    def record(lot_id):
        key = {"PK": {"S": lot_key(lot_id)}, "SK": {"S": "SNAPSHOT"}}
        image = dynamodb_client.get_item(TableName=bids_table, Key=key, ConsistentRead=True)["Item"]
        return {"eventName": "MODIFY", "dynamodb": {"Keys": key, "NewImage": image, "OldImage": image}}

    changes = broadcast.changes_in(DynamoDBStreamEvent({"Records": [record(bad["lot_id"]), record(good["lot_id"])]}))
    assert list(changes) == [good["lot_id"]]


# --- the processor --------------------------------------------------------------------------


def test_commands_for_an_unreadable_lot_are_parked_with_the_reason_not_sent_to_the_dlq(stack, dynamodb_client, bids_table):  # noqa: F811
    lot = create_lot()
    bid = api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.00"}, claims=ALICE)[1]
    corrupt(dynamodb_client, bids_table, lot["lot_id"], "SNAPSHOT", BAD_SNAPSHOTS["unpadded year"])
    close = LotCommandMessage(command=CloseLot(lot_id=lot["lot_id"], requested_at=utc_now())).model_dump_json()
    stack["sqs"].send_message(QueueUrl=stack["queue"], MessageBody=close, MessageGroupId=lot["lot_id"],
                              MessageDeduplicationId=f"close-{lot['lot_id']}")
    responses = drain(stack)
    assert responses and all(response["batchItemFailures"] == [] for response in responses)
    assert queued(stack) == 0 and dead_letters(stack) == 0
    parked = [p for p in parked_items(dynamodb_client, bids_table) if lot["lot_id"] in p["body"]]
    assert len(parked) == 2 and {bid["bid_id"] in p["body"] for p in parked} == {True, False}
    assert all("cannot be read" in p["error"] and "opens_at" in p["error"] for p in parked)


def test_a_transient_failure_still_goes_back_to_the_queue(stack, monkeypatch, dynamodb_client, bids_table):  # noqa: F811
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
    from eventsourcing.persistence import OperationalError

    lot = create_lot()
    api("POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "10.00"}, claims=ALICE)
    parked_items_of = lambda lot_id: [p for p in parked_items(dynamodb_client, bids_table) if lot_id in p["body"]]  # noqa: E731

    def throttled(*_args, **_kwargs):
        raise OperationalError("get_snapshot: ThrottlingException: slow down")

    # Reads and writes both throttled (a warm container decides on the snapshot it keeps
    # and writes first; the failed write makes it read).
    monkeypatch.setattr(stack["app"].commands.store, "get_snapshot", throttled)
    monkeypatch.setattr(stack["app"].commands.store, "insert_events", throttled)
    with pytest.raises(BatchProcessingError):  # every record failed: Lambda hands the batch back to SQS
        drain(stack, max_rounds=1)
    assert parked_items_of(lot["lot_id"]) == [] and queued(stack) == 1
    monkeypatch.undo()
    for message in stack["received"]:  # the visibility timeout runs out: the batch comes back
        stack["sqs"].change_message_visibility(QueueUrl=stack["queue"], ReceiptHandle=message["ReceiptHandle"],
                                               VisibilityTimeout=0)
    assert all(r["batchItemFailures"] == [] for r in drain(stack))
    assert queued(stack) == 0


# --- verify and replay ----------------------------------------------------------------------


def lot_with_bids(service: App, clock) -> str:
    lot_id = f"lot-{uuid.uuid4().hex[:10]}"
    service.lots.create_lot(CreateLot(lot_id=lot_id, title="Vase", currency="EUR", starting_price="10.00", increment="1.00",
                                 closes_at=clock.now + timedelta(minutes=30)), seller="sam")
    for amount, bidder in (("10.00", "alice"), ("11.00", "bob")):
        execute_one(service.commands, PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot_id, bidder=bidder, amount=amount, placed_at=clock.now))
    assert verify(service.queries, lot_id).ok and replay(service.queries, lot_id).ok
    return lot_id  # events at versions 1..3


@pytest.mark.parametrize("damage", BAD_SNAPSHOTS.values(), ids=BAD_SNAPSHOTS.keys())
def test_verify_and_replay_name_an_unreadable_snapshot(service, clock, dynamodb_client, bids_table, damage):
    lot_id = lot_with_bids(service, clock)
    corrupt(dynamodb_client, bids_table, lot_id, "SNAPSHOT", damage)
    checked = verify(service.queries, lot_id)
    assert not checked.ok and checked.first_bad_version == 3
    assert "snapshot" in checked.problem and lot_id in checked.problem
    replayed = replay(service.queries, lot_id)
    assert not replayed.ok and replayed.unreadable_version == 3 and "snapshot" in replayed.unreadable
    with pytest.raises(LotUnreadable):
        service.queries.get_lot(lot_id)


@pytest.mark.parametrize("damage", BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_verify_and_replay_name_an_unreadable_event(service, clock, dynamodb_client, bids_table, damage):
    lot_id = lot_with_bids(service, clock)
    corrupt(dynamodb_client, bids_table, lot_id, event_key(2), damage)
    checked = verify(service.queries, lot_id)
    assert (checked.ok, checked.first_bad_version) == (False, 2) and "cannot be read" in checked.problem
    replayed = replay(service.queries, lot_id)
    assert not replayed.ok and replayed.unreadable_version == 2 and "cannot be read" in replayed.unreadable
    with pytest.raises(LotUnreadable) as raised:
        list(service.queries.lot_events(lot_id))
    assert raised.value.details["version"] == 2


def test_checking_every_lot_names_each_unreadable_one_and_finishes(service, clock, dynamodb_client, bids_table):
    good, bad_snapshot, bad_event = (lot_with_bids(service, clock) for _ in range(3))
    corrupt(dynamodb_client, bids_table, bad_snapshot, "SNAPSHOT", BAD_SNAPSHOTS["wrong type"])
    corrupt(dynamodb_client, bids_table, bad_event, event_key(3), BAD_EVENTS["missing attribute"])
    lots = [good, bad_snapshot, bad_event]
    verified = {r.lot_id: r for r in for_each_lot(service.queries, verify, lots)}
    assert (verified[good].ok, verified[bad_snapshot].first_bad_version, verified[bad_event].first_bad_version) == (True, 3, 3)
    replayed = {r.lot_id: r for r in for_each_lot(service.queries, replay, lots)}
    assert [replayed[lot_id].ok for lot_id in lots] == [True, False, False]


def test_the_cli_names_unreadable_lots_for_one_lot_and_for_all(service, clock, dynamodb_client, bids_table, dynamodb_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    lot_id = lot_with_bids(service, clock)
    corrupt(dynamodb_client, bids_table, lot_id, "SNAPSHOT", BAD_SNAPSHOTS["unpadded year"])
    runner = CliRunner(env={"COLUMNS": "250"})
    where = ["--bids-table", bids_table, "--data-dir", str(tmp_path)]
    for command in (["verify", lot_id], ["verify", "--all"], ["replay", lot_id], ["replay", "--all"]):
        result = runner.invoke(samsold_app, [*command, *where], catch_exceptions=False)
        assert result.exit_code == 1, result.output
        line = next(line for line in result.output.splitlines() if f"lot {lot_id}" in line)
        assert "version 3" in line and "opens_at" in result.output, result.output
        assert command[0] != "replay" or "unreadable" in line


def test_the_cli_reading_one_lot_says_which_item_is_unreadable(service, clock, dynamodb_client, bids_table, dynamodb_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    lot_id = lot_with_bids(service, clock)
    corrupt(dynamodb_client, bids_table, lot_id, event_key(2), BAD_EVENTS["not JSON"])
    runner = CliRunner(env={"COLUMNS": "250"})
    where = ["--bids-table", bids_table, "--data-dir", str(tmp_path)]
    for command in (["history", lot_id], ["as-of", lot_id, "--version", "3"]):
        result = runner.invoke(samsold_app, [*command, *where])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output  # an exit, not a traceback
        assert f"the event 2 of lot '{lot_id}' cannot be read" in result.output
