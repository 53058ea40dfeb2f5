"""The command service against DynamoDB Local: transactions, idempotency, batches,
typed errors, the open-lots index, replay, verification and time travel."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from pydantic import ValidationError

from bootstrap import build
from ledger.domain import rules
from ledger.domain.commands import CancelLot, CloseLot, CreateLot, PlaceBid
from ledger.domain.errors import (
    InvalidCommand,
    LotAlreadyExists,
    LotNotFound,
    NotAllowed,
    SnapshotChanged,
    TransientError,
)
from ledger.dynamodb import event_key, lot_key, to_item
from projections.audit import fix, replay, verify
from projections.views import lot_view
from tests.support.app import execute_one


def new_lot(service, clock, **terms):
    terms.setdefault("title", "Blue vase")
    terms.setdefault("currency", "EUR")
    terms.setdefault("starting_price", "10.00")
    terms.setdefault("closes_at", clock.now + timedelta(minutes=30))
    return service.lots.create_lot(CreateLot(lot_id=f"lot-{uuid.uuid4().hex[:10]}", **terms), seller="sam")


def a_bid(lot_id, bidder, amount, at, bid_id=None):
    return PlaceBid(bid_id=bid_id or uuid.uuid4().hex, lot_id=lot_id, bidder=bidder, amount=amount, placed_at=at)


def count_items(client, table, pk, prefix):
    response = client.query(
        TableName=table,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :p)",
        ExpressionAttributeValues={":pk": {"S": pk}, ":p": {"S": prefix}},
        Select="COUNT",
        ConsistentRead=True,
    )
    return response["Count"]


def test_create_writes_event_and_snapshot_together(service, clock, dynamodb_client, bids_table):
    lot = new_lot(service, clock)
    assert count_items(dynamodb_client, bids_table, lot_key(lot.lot_id), "EVENT#") == 1
    stored = service.queries.get_lot(lot.lot_id)
    assert stored.version == 1 and stored.status == "OPEN" and stored.seller == "sam"
    assert stored.head_hash == next(service.queries.lot_events(lot.lot_id)).hash


def test_duplicate_lot_id_is_refused(service, clock):
    lot = new_lot(service, clock)
    with pytest.raises(LotAlreadyExists):
        service.lots.create_lot(
            CreateLot(lot_id=lot.lot_id, title="x", currency="EUR", starting_price="1.00", closes_at=clock.now + timedelta(hours=1)),
            seller="eve",
        )
    assert service.queries.get_lot(lot.lot_id).title == "Blue vase"


def test_unknown_lot_raises_lot_not_found(service, clock):
    with pytest.raises(LotNotFound):
        execute_one(service.commands, a_bid("no-such-lot", "alice", "10.00", clock.now))


def test_malformed_amount_is_a_typed_error_before_anything_is_written(service, clock):
    with pytest.raises(ValidationError):
        a_bid("lot", "alice", "ten", clock.now)


def test_admit_bid_refuses_over_precise_amounts(service, clock):
    lot = new_lot(service, clock, currency="JPY", starting_price="1000")
    with pytest.raises(InvalidCommand) as refused:
        service.admission.admit_bid(a_bid(lot.lot_id, "alice", "1000.5", clock.now))
    assert refused.value.details["reason"] == rules.CURRENCY_PRECISION
    assert service.admission.admit_bid(a_bid(lot.lot_id, "alice", "1000", clock.now)).lot_id == lot.lot_id


def test_second_delivery_of_a_bid_returns_first_outcome_and_writes_nothing(service, clock, dynamodb_client, bids_table):
    lot = new_lot(service, clock)
    command = a_bid(lot.lot_id, "alice", "10.00", clock.now)
    first = execute_one(service.commands, command)
    again = execute_one(service.commands, command)
    assert first.bid.status == "ACCEPTED" and not first.duplicate
    assert again.duplicate and again.bid == first.bid
    assert count_items(dynamodb_client, bids_table, lot_key(lot.lot_id), "EVENT#") == 2
    assert service.queries.get_lot(lot.lot_id).version == 2
    assert service.queries.get_bid_outcome(command.bid_id).status == "ACCEPTED"


def test_batch_decides_in_order_in_one_transaction_and_dedups_within_it(service, clock):
    lot = new_lot(service, clock)
    bids = [
        a_bid(lot.lot_id, "alice", "10.00", clock.now),
        a_bid(lot.lot_id, "bob", "10.25", clock.now),  # below the 10.50 minimum
        a_bid(lot.lot_id, "bob", "10.50", clock.now),
    ]
    results = service.commands.execute(lot.lot_id, [*bids, bids[0]])
    assert [r.bid.status for r in results] == ["ACCEPTED", "REJECTED", "ACCEPTED", "ACCEPTED"]
    assert results[1].bid.reason == rules.BELOW_MINIMUM
    assert results[3].duplicate and results[3].bid == results[0].bid
    state = service.queries.get_lot(lot.lot_id)
    assert (state.version, state.leader, str(state.current_price)) == (4, "bob", "10.50")


def test_batches_larger_than_a_transaction_are_split(service, clock):
    lot = new_lot(service, clock, increment="0.01")
    bidders = ["alice", "bob"]
    bids = [a_bid(lot.lot_id, bidders[i % 2], f"{10 + i / 100:.2f}", clock.now) for i in range(120)]
    results = service.commands.execute(lot.lot_id, bids)
    assert all(r.bid.status == "ACCEPTED" for r in results)
    assert service.queries.get_lot(lot.lot_id).version == 121
    assert not replay(service.queries, lot.lot_id).drifted


def test_cancel_needs_an_admin_and_writes_nothing_otherwise(service, clock):
    lot = new_lot(service, clock)
    command = CancelLot(lot_id=lot.lot_id, cancelled_by="eve", requested_at=clock.now)
    with pytest.raises(NotAllowed):
        service.commands.cancel_lot(command, is_admin=False)
    assert service.queries.get_lot(lot.lot_id).version == 1
    assert service.commands.cancel_lot(command, is_admin=True).changed
    assert execute_one(service.commands, a_bid(lot.lot_id, "alice", "10.00", clock.now)).bid.reason == rules.LOT_CANCELLED


def test_open_lots_index_lists_only_open_lots_due_by_a_time(service, clock):
    due = new_lot(service, clock, closes_at=clock.now + timedelta(seconds=5))
    later = new_lot(service, clock, closes_at=clock.now + timedelta(days=3))
    closed = new_lot(service, clock, closes_at=clock.now + timedelta(seconds=5))
    clock.advance(seconds=10)
    execute_one(service.commands, CloseLot(lot_id=closed.lot_id, requested_at=clock.now))
    due_ids = {lot.lot_id for lot in service.queries.open_lots(closing_by=clock.now).lots}
    assert due.lot_id in due_ids and later.lot_id not in due_ids and closed.lot_id not in due_ids


def every_ended_lot(service) -> list[str]:
    listed, cursor = [], None
    while True:
        page = service.queries.list_lots("closed", 100, cursor)
        listed += [lot.lot_id for lot in page.lots]
        if (cursor := page.next_cursor) is None:
            return listed


class IndexUnits:
    """A boto3 client proxy that asks DynamoDB for the index units of each transaction
    (ReturnConsumedCapacity=INDEXES) and keeps them: the writes still go to DynamoDB Local."""

    def __init__(self, client) -> None:
        self._client = client
        self.by_index: list[dict[str, float]] = []

    def __getattr__(self, name):
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs):
        answer = self._client.transact_write_items(**kwargs, ReturnConsumedCapacity="INDEXES")
        units: dict[str, float] = {}
        for consumed in answer.get("ConsumedCapacity", []):
            for index, capacity in consumed.get("GlobalSecondaryIndexes", {}).items():
                units[index] = units.get(index, 0.0) + capacity["CapacityUnits"]
        self.by_index.append(units)
        return answer


def test_an_ended_lot_is_listed_once_and_a_late_bid_writes_nothing_to_the_index(service, clock, dynamodb_client, bids_table):
    lot = new_lot(service, clock, closes_at=clock.now + timedelta(seconds=5), soft_close_window_s=0)
    execute_one(service.commands, a_bid(lot.lot_id, "alice", "10.00", clock.now))
    clock.advance(seconds=10)
    service.commands.store.client = index_units = IndexUnits(service.commands.store.client)
    execute_one(service.commands, CloseLot(lot_id=lot.lot_id, requested_at=clock.now))
    key = {"PK": {"S": lot_key(lot.lot_id)}, "SK": {"S": "SNAPSHOT"}}
    closed_item = dynamodb_client.get_item(TableName=bids_table, Key=key, ConsistentRead=True)["Item"]
    assert closed_item["ended_shard"]["S"].startswith("ENDED#") and "open_shard" not in closed_item
    assert closed_item["ended_at"] == closed_item["closed_at"]

    late = execute_one(service.commands, a_bid(lot.lot_id, "bob", "20.00", clock.now))  # rejected: the lot closed
    assert late.bid.reason == rules.LOT_CLOSED
    rewritten = dynamodb_client.get_item(TableName=bids_table, Key=key, ConsistentRead=True)["Item"]
    assert rewritten["version"] != closed_item["version"]
    assert (rewritten["ended_shard"], rewritten["ended_at"]) == (closed_item["ended_shard"], closed_item["ended_at"])
    closing, rejecting = index_units.by_index
    # The close moves the lot from one index to the other; the late bid writes neither.
    assert closing.get("EndedLotsByTime", 0) > 0 and closing.get("OpenLotsByCloseTimeSharded", 0) > 0
    assert rejecting.get("EndedLotsByTime", 0) == 0 and rejecting.get("OpenLotsByCloseTimeSharded", 0) == 0

    listed = every_ended_lot(service)  # every ended lot in the shared table, page by page: this one exactly once
    assert listed.count(lot.lot_id) == 1 and len(listed) == len(set(listed))
    assert lot.lot_id not in {open_lot.lot_id for open_lot in service.queries.list_lots("open", 100).lots}


def test_replay_fix_adds_the_index_keys_a_snapshot_from_before_the_index_lacks(service, clock, dynamodb_client, bids_table):
    lot = new_lot(service, clock)
    service.commands.cancel_lot(CancelLot(lot_id=lot.lot_id, cancelled_by="root", requested_at=clock.now), is_admin=True)
    assert lot.lot_id in every_ended_lot(service)
    # As a stack deployed before EndedLotsByTime wrote it: the same snapshot without its keys.
    dynamodb_client.update_item(TableName=bids_table, Key={"PK": {"S": lot_key(lot.lot_id)}, "SK": {"S": "SNAPSHOT"}},
                                UpdateExpression="REMOVE ended_shard, ended_at")
    assert lot.lot_id not in every_ended_lot(service)
    report = replay(service.queries, lot.lot_id)
    assert [d.field for d in report.differences] == ["(index key ended_shard)", "(index key ended_at)"]
    fix(service.commands, report)
    assert replay(service.queries, lot.lot_id).ok
    assert lot.lot_id in every_ended_lot(service)


def test_time_travel_by_version_and_time(service, clock):
    lot = new_lot(service, clock)
    execute_one(service.commands, a_bid(lot.lot_id, "alice", "10.00", clock.now))
    middle = clock.now
    clock.advance(seconds=1)
    time.sleep(0.002)  # events are stamped when recorded, to the millisecond: keep the two apart
    execute_one(service.commands, a_bid(lot.lot_id, "bob", "12.00", clock.now))
    v2 = service.queries.lot_as_of(lot.lot_id, version=2)
    assert (v2.version, v2.leader, str(v2.current_price)) == (2, "alice", "10.00")
    events = list(service.queries.lot_events(lot.lot_id))
    at_middle = service.queries.lot_as_of(lot.lot_id, at=events[1].timestamp)
    assert at_middle.version == 2
    with pytest.raises(LotNotFound, match="did not exist then"):
        service.queries.lot_as_of(lot.lot_id, at=events[0].timestamp - timedelta(seconds=1))
    assert middle  # the clock moved between bids


def test_replay_finds_a_changed_snapshot_field_and_fix_repairs_it(service, clock, dynamodb_client, bids_table):
    lot = new_lot(service, clock)
    execute_one(service.commands, a_bid(lot.lot_id, "alice", "10.00", clock.now))
    assert not replay(service.queries, lot.lot_id).drifted
    dynamodb_client.update_item(
        TableName=bids_table,
        Key={"PK": {"S": lot_key(lot.lot_id)}, "SK": {"S": "SNAPSHOT"}},
        UpdateExpression="SET current_price = :p, bid_count = :n",
        ExpressionAttributeValues={":p": {"S": "99.00"}, ":n": {"N": "7"}},
    )
    report = replay(service.queries, lot.lot_id)
    assert {d.field for d in report.differences} == {"current_price", "bid_count"}
    assert {(d.field, d.stored, d.folded) for d in report.differences} == {
        ("current_price", "99.00", "10.00"),
        ("bid_count", 7, 1),
    }
    fix(service.commands, report)
    assert not replay(service.queries, lot.lot_id).drifted
    assert str(service.queries.get_lot(lot.lot_id).current_price) == "10.00"


def test_fix_never_overwrites_a_writer_that_moved_on(service, clock, dynamodb_client, bids_table):
    lot = new_lot(service, clock)
    dynamodb_client.update_item(
        TableName=bids_table,
        Key={"PK": {"S": lot_key(lot.lot_id)}, "SK": {"S": "SNAPSHOT"}},
        UpdateExpression="SET title = :t",
        ExpressionAttributeValues={":t": {"S": "tampered"}},
    )
    report = replay(service.queries, lot.lot_id)
    execute_one(service.commands, a_bid(lot.lot_id, "alice", "10.00", clock.now))  # the live writer moves to version 2
    with pytest.raises(SnapshotChanged, match="changed since"):
        fix(service.commands, report)
    assert service.queries.get_lot(lot.lot_id).version == 2


def _lot_with_events(service, clock):
    lot = new_lot(service, clock, increment="1.00")
    for i, bidder in enumerate(["alice", "bob", "alice", "bob"]):
        execute_one(service.commands, a_bid(lot.lot_id, bidder, f"{10 + i}.00", clock.now))
    assert verify(service.queries, lot.lot_id).ok
    return lot.lot_id  # events at versions 1..5


def _event_item(client, table, lot_id, version):
    return client.get_item(TableName=table, Key={"PK": {"S": lot_key(lot_id)}, "SK": {"S": event_key(version)}})["Item"]


def test_verify_finds_a_changed_event(service, clock, dynamodb_client, bids_table):
    lot_id = _lot_with_events(service, clock)
    item = _event_item(dynamodb_client, bids_table, lot_id, 3)
    item["state"]["B"] = item["state"]["B"].replace(b'"11.00"', b'"1.00"')
    dynamodb_client.put_item(TableName=bids_table, Item=item)
    report = verify(service.queries, lot_id)
    assert (report.ok, report.first_bad_version) == (False, 3)
    assert "content" in report.problem


def test_verify_finds_a_deleted_event(service, clock, dynamodb_client, bids_table):
    lot_id = _lot_with_events(service, clock)
    dynamodb_client.delete_item(TableName=bids_table, Key={"PK": {"S": lot_key(lot_id)}, "SK": {"S": event_key(4)}})
    report = verify(service.queries, lot_id)
    assert (report.ok, report.first_bad_version) == (False, 4)


def test_verify_finds_a_deleted_last_event(service, clock, dynamodb_client, bids_table):
    lot_id = _lot_with_events(service, clock)
    dynamodb_client.delete_item(TableName=bids_table, Key={"PK": {"S": lot_key(lot_id)}, "SK": {"S": event_key(5)}})
    report = verify(service.queries, lot_id)
    assert (report.ok, report.first_bad_version) == (False, 5)


def test_verify_finds_swapped_events(service, clock, dynamodb_client, bids_table):
    lot_id = _lot_with_events(service, clock)
    three = _event_item(dynamodb_client, bids_table, lot_id, 3)
    four = _event_item(dynamodb_client, bids_table, lot_id, 4)
    three["SK"], four["SK"] = four["SK"], three["SK"]
    dynamodb_client.put_item(TableName=bids_table, Item=three)
    dynamodb_client.put_item(TableName=bids_table, Item=four)
    report = verify(service.queries, lot_id)
    assert (report.ok, report.first_bad_version) == (False, 3)


def test_concurrent_writers_lose_no_bid_and_decide_none_twice(ledger_env, clock, dynamodb_client, bids_table):
    setup = build(ledger_env, clock=clock)
    lot = new_lot(setup, clock, increment="0.01")
    bids = [a_bid(lot.lot_id, f"bidder-{i % 7}", f"{10 + i / 100:.2f}", clock.now) for i in range(60)]
    deliveries = bids + bids[::3]  # a third of them delivered twice, to other writers

    def deliver(worker: int) -> list:
        service = build(ledger_env, clock=clock)
        results = []
        for command in deliveries[worker::6]:
            while True:  # as SQS redelivers what a processor gave up on
                try:
                    results.append(execute_one(service.commands, command))
                    break
                except TransientError:
                    continue
        return results

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = [r for batch in pool.map(deliver, range(6)) for r in batch]

    by_bid: dict[str, set] = {}
    for result in results:
        by_bid.setdefault(result.bid.bid_id, set()).add(result.bid.model_dump_json())
    assert set(by_bid) == {b.bid_id for b in bids}
    assert all(len(outcomes) == 1 for outcomes in by_bid.values()), "a bid was decided twice"
    events = list(setup.queries.lot_events(lot.lot_id))
    decided = [e.bid_id for e in events[1:]]
    assert sorted(decided) == sorted(b.bid_id for b in bids)
    receipts = setup.queries.bid_receipts([b.bid_id for b in bids])
    assert len(receipts) == len(bids)
    for event in events[1:]:
        assert receipts[event.bid_id]["version"] == event.originator_version
    assert not replay(setup.queries, lot.lot_id).drifted
    assert verify(setup.queries, lot.lot_id).ok


def test_public_view_shows_aliases_not_bidders(service, clock):
    lot = new_lot(service, clock, reserve_price="50.00")
    execute_one(service.commands, a_bid(lot.lot_id, "alice@example.com", "10.00", clock.now))
    execute_one(service.commands, a_bid(lot.lot_id, "bob@example.com", "11.00", clock.now))
    view = lot_view(service.queries, service.queries.get_lot(lot.lot_id), clock.now).model_dump(mode="json")
    text = str(view)
    assert "alice" not in text and "bob" not in text and "50.00" not in text
    assert view["leader"] == "Bidder 2"
    assert [b["bidder"] for b in view["recent_bids"]] == ["Bidder 1", "Bidder 2"]
    # Bob's maximum (11.00) is his own: the price is one increment above Alice's 10.00.
    assert view["minimum_bid"] == "11.00" and view["current_price"] == "10.50"
    assert [b["amount"] for b in view["recent_bids"]] == ["10.00", "10.50"]
    assert view["reserve_met"] is False and view["status"] == "OPEN"


def test_item_serialisation_round_trips(service, clock):
    lot = new_lot(service, clock)
    assert to_item({"a": 1, "b": None, "c": ["x"], "d": {"e": "f"}})["b"] == {"NULL": True}
    assert service.queries.find_lot(lot.lot_id) == service.queries.get_lot(lot.lot_id)
