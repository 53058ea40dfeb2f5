"""One DynamoDB call per batch in the common case, and every fallback.

The service decides on the snapshot it last wrote or read for a lot and writes at once;
the transaction's conditions say whether that was right. These tests run the fallbacks on
real storage (DynamoDB Local, or the in-memory recorder with `--ledger-backend=memory`):
a stale cached snapshot (another service instance wrote in between), a duplicate delivery
of a bid decided already (cached snapshot current), a competing writer mid-batch. The
call counts go through a counting proxy at the boto3 boundary: every call still reaches
DynamoDB Local."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from bootstrap import App, build
from ledger.domain import rules
from ledger.domain.commands import CancelLot, CloseLot, CreateLot, PlaceBid
from ledger.dynamodb import DynamoDBRecorder, lot_key
from projections.audit import replay, verify
from tests.support.app import IN_MEMORY, execute_one
from tests.support.counting import CountingClient


def new_lot(service, clock, **terms):
    terms.setdefault("title", "Blue vase")
    terms.setdefault("currency", "EUR")
    terms.setdefault("starting_price", "10.00")
    terms.setdefault("closes_at", clock.now + timedelta(minutes=30))
    return service.lots.create_lot(CreateLot(lot_id=f"lot-{uuid.uuid4().hex[:10]}", **terms), seller="sam")


def a_bid(lot_id, bidder, amount, at):
    return PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot_id, bidder=bidder, amount=amount, placed_at=at)


@pytest.fixture
def other(request, service, clock) -> App:
    """A second service instance (another Lambda container) on the same storage, with its own cache."""
    if request.config.getoption("ledger_backend") == "memory":
        return build(IN_MEMORY, clock=clock, recorder=service.commands.store)
    return build(request.getfixturevalue("ledger_env"), clock=clock)


def counting(service: App) -> CountingClient | None:
    """Count the service's DynamoDB calls (None on the in-memory recorder)."""
    store = service.commands.store
    if not isinstance(store, DynamoDBRecorder):
        return None
    store.client = CountingClient(store.client)
    return store.client


def assert_calls(counter: CountingClient | None, **expected: int) -> None:
    if counter is not None:
        assert dict(counter.calls) == expected
        counter.reset()


def assert_consistent(service: App, lot_id: str) -> None:
    fresh = build(IN_MEMORY, clock=service.commands.clock, recorder=service.commands.store)
    assert not replay(fresh.queries, lot_id).drifted
    assert verify(fresh.queries, lot_id).ok


def test_a_common_case_batch_is_one_dynamodb_call(ledger_env, clock):
    service = build(ledger_env, clock=clock)
    lot = new_lot(service, clock, increment="0.01")
    calls = counting(service)
    assert calls is not None
    batch = [a_bid(lot.lot_id, f"bidder-{i % 3}", f"{10 + i / 100:.2f}", clock.now) for i in range(10)]
    results = service.commands.execute(lot.lot_id, batch)
    assert [r.bid.status for r in results] == ["ACCEPTED"] * 10
    assert dict(calls.calls) == {"TransactWriteItems": 1}
    calls.reset()
    results = service.commands.execute(lot.lot_id, [a_bid(lot.lot_id, f"bidder-{5 + i % 2}", f"{11 + i / 100:.2f}", clock.now) for i in range(10)])
    assert [(r.bid.status, r.bid.version) for r in results] == [("ACCEPTED", v) for v in range(12, 22)]
    assert dict(calls.calls) == {"TransactWriteItems": 1}

    # A new container knows no snapshot: its first batch reads (snapshot, receipts, aliases) in one call, the next reads nothing.
    cold = build(ledger_env, clock=clock)
    cold_calls = counting(cold)
    assert cold_calls is not None
    execute_one(cold.commands, a_bid(lot.lot_id, "bidder-1", "12.00", clock.now))
    assert dict(cold_calls.calls) == {"BatchGetItem": 1, "TransactWriteItems": 1}
    cold_calls.reset()
    # It knows 1 of the lot's 5 bidders: another bidder's alias is read first (one call more).
    execute_one(cold.commands, a_bid(lot.lot_id, "bidder-2", "12.01", clock.now))
    assert dict(cold_calls.calls) == {"BatchGetItem": 1, "TransactWriteItems": 1}
    cold_calls.reset()
    execute_one(cold.commands, a_bid(lot.lot_id, "bidder-1", "12.02", clock.now))
    assert dict(cold_calls.calls) == {"TransactWriteItems": 1}
    state = service.queries.get_lot(lot.lot_id)
    assert (state.version, state.bid_count, state.leader) == (24, 23, "bidder-1")
    assert_consistent(service, lot.lot_id)


def test_a_stale_cached_snapshot_is_reloaded_and_the_batch_decided_again(service, other, clock):
    lot = new_lot(service, clock)  # the service keeps version 1
    calls = counting(service)
    assert execute_one(other.commands, a_bid(lot.lot_id, "alice", "10.00", clock.now)).bid.status == "ACCEPTED"  # version 2
    # On the cached version 1, 10.00 would be accepted; on the stored version 2 it is below the minimum.
    result = execute_one(service.commands, a_bid(lot.lot_id, "bob", "10.00", clock.now))
    assert (result.bid.status, result.bid.reason, result.bid.version) == ("REJECTED", rules.BELOW_MINIMUM, 3)
    assert_calls(calls, TransactWriteItems=2, BatchGetItem=1)
    # The reloaded snapshot is kept: the next batch is one call again.
    assert execute_one(service.commands, a_bid(lot.lot_id, "bob", "10.50", clock.now)).bid.status == "ACCEPTED"
    assert_calls(calls, TransactWriteItems=1)
    state = other.queries.get_lot(lot.lot_id)
    assert (state.version, state.leader, state.rejected_count) == (4, "bob", 1)
    assert [e.originator_version for e in other.queries.lot_events(lot.lot_id)] == [1, 2, 3, 4]
    assert_consistent(service, lot.lot_id)


def test_a_returning_bidder_this_instance_never_saw_keeps_their_alias(service, other, clock):
    lot = new_lot(service, clock)
    assert execute_one(other.commands, a_bid(lot.lot_id, "alice", "10.00", clock.now)).bid.status == "ACCEPTED"  # Bidder 1
    # The service reloads the moved lot for bob's bid: it reads bob's alias (none), not alice's.
    assert execute_one(service.commands, a_bid(lot.lot_id, "bob", "10.50", clock.now)).bid.status == "ACCEPTED"  # Bidder 2
    calls = counting(service)
    # The lot has 2 bidders and this instance knows 1: alice's alias is read before deciding.
    assert execute_one(service.commands, a_bid(lot.lot_id, "alice", "11.00", clock.now)).bid.status == "ACCEPTED"
    assert_calls(calls, TransactWriteItems=1, BatchGetItem=1)
    # Now it knows them all: one call, and carol is new without asking.
    assert execute_one(service.commands, a_bid(lot.lot_id, "carol", "11.50", clock.now)).bid.status == "ACCEPTED"
    assert_calls(calls, TransactWriteItems=1)
    assert execute_one(service.commands, a_bid(lot.lot_id, "bob", "12.00", clock.now)).bid.status == "ACCEPTED"
    assert_calls(calls, TransactWriteItems=1)
    aliases = [(e.bidder, e.alias) for e in service.queries.recent_bids(lot.lot_id).events]
    assert aliases == [("alice", 1), ("bob", 2), ("alice", 1), ("carol", 3), ("bob", 2)]
    state = service.queries.get_lot(lot.lot_id)
    assert (state.bidder_count, state.leader_name) == (3, "Bidder 2")
    assert service.queries.bidder_aliases(lot.lot_id, ["alice", "bob", "carol", "dave"]) == {"alice": 1, "bob": 2, "carol": 3}
    assert_consistent(service, lot.lot_id)


def test_a_duplicate_delivery_with_a_current_cached_snapshot_answers_the_first_outcome(service, clock):
    lot = new_lot(service, clock)
    first = a_bid(lot.lot_id, "alice", "10.00", clock.now)
    decided = execute_one(service.commands, first)
    calls = counting(service)
    # Redelivered with a new bid: the receipt's condition fails, the receipt is read, the new bid decided.
    second = a_bid(lot.lot_id, "bob", "10.50", clock.now)
    again, new = service.commands.execute(lot.lot_id, [first, second])
    assert again.duplicate and not again.changed and again.bid == decided.bid
    assert (new.bid.status, new.bid.version, new.duplicate) == ("ACCEPTED", 3, False)
    assert_calls(calls, TransactWriteItems=2, BatchGetItem=1)
    # Redelivered alone: one failed write, one read, nothing written.
    alone = execute_one(service.commands, first)
    assert alone.duplicate and alone.bid == decided.bid
    assert_calls(calls, TransactWriteItems=1, BatchGetItem=1)
    assert service.queries.get_lot(lot.lot_id).version == 3
    assert [e.originator_version for e in service.queries.lot_events(lot.lot_id)] == [1, 2, 3]
    receipts = service.queries.bid_receipts([first.bid_id, second.bid_id])
    assert (receipts[first.bid_id]["version"], receipts[second.bid_id]["version"]) == (2, 3)
    assert_consistent(service, lot.lot_id)


def test_a_competing_writer_mid_batch_wins_and_the_batch_is_decided_again(ledger_env, clock):
    service = build(ledger_env, clock=clock)
    competitor = build(ledger_env, clock=clock)
    lot = new_lot(service, clock, increment="0.01")
    batch = [a_bid(lot.lot_id, name, amount, clock.now) for name, amount in [("alice", "10.00"), ("bob", "10.01"), ("carol", "10.02")]]
    calls = counting(service)
    assert calls is not None
    won: list = []

    def competing_writer(operation: str) -> None:
        # Between the service's decision and its write, another container decides bob's bid
        # (the same message delivered to it) and one of its own.
        if operation == "TransactWriteItems" and not won:
            won.extend(competitor.commands.execute(lot.lot_id, [batch[1], a_bid(lot.lot_id, "dave", "10.05", clock.now)]))

    calls.before = competing_writer
    results = service.commands.execute(lot.lot_id, batch)
    calls.before = None
    assert [r.bid.status for r in won] == ["ACCEPTED", "ACCEPTED"]
    assert results[1].duplicate and results[1].bid == won[0].bid
    # alice and carol are decided on the stored state (dave leads at 10.02): below the minimum.
    assert [(r.bid.status, r.bid.version) for r in (results[0], results[2])] == [("REJECTED", 4), ("REJECTED", 5)]
    assert dict(calls.calls) == {"TransactWriteItems": 2, "BatchGetItem": 1}
    state = service.queries.get_lot(lot.lot_id)
    # Dave's maximum 10.05 beat Bob's 10.01 by one increment: the price is 10.02.
    assert (state.version, state.leader, str(state.current_price)) == (5, "dave", "10.02")
    receipts = service.queries.bid_receipts([b.bid_id for b in batch])
    assert [receipts[b.bid_id]["version"] for b in batch] == [4, 2, 5]
    assert_consistent(service, lot.lot_id)


def test_a_snapshot_changed_in_place_is_never_overwritten_from_the_cache(ledger_env, clock, dynamodb_client, bids_table):
    service = build(ledger_env, clock=clock)
    lot = new_lot(service, clock)
    execute_one(service.commands, a_bid(lot.lot_id, "alice", "10.00", clock.now))
    key = {"PK": {"S": lot_key(lot.lot_id)}, "SK": {"S": "SNAPSHOT"}}
    item = dynamodb_client.get_item(TableName=bids_table, Key=key, ConsistentRead=True)["Item"]
    dynamodb_client.put_item(TableName=bids_table, Item=item | {"title": {"S": "Changed in place"}})  # same version
    calls = counting(service)
    assert calls is not None
    execute_one(service.commands, a_bid(lot.lot_id, "bob", "10.50", clock.now))
    # The write conditional on the cached item failed: the stored item was read and decided on.
    assert dict(calls.calls) == {"TransactWriteItems": 2, "BatchGetItem": 1}
    assert service.queries.get_lot(lot.lot_id).title == "Changed in place"


def test_a_decision_that_writes_nothing_is_made_on_the_stored_snapshot(service, other, clock):
    lot = new_lot(service, clock)  # the service keeps it OPEN
    other.commands.cancel_lot(CancelLot(lot_id=lot.lot_id, cancelled_by="root", requested_at=clock.now), is_admin=True)
    clock.advance(hours=1)
    # On the cached snapshot the close would be due; the stored lot is cancelled: nothing to close.
    result = execute_one(service.commands, CloseLot(lot_id=lot.lot_id, requested_at=clock.now))
    assert not result.changed
    state = other.queries.get_lot(lot.lot_id)
    assert (state.status, state.version) == ("CANCELLED", 2)
