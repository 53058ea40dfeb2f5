"""Retraction by an administrator on DynamoDB Local: the event, the new snapshot and the
bid's RETRACTION record in one transaction; a retraction that loses the race with the
processor is decided again on fresh state (the snapshot's version condition); replay and
verify stay clean; and the items it writes, priced by DynamoDB itself."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from bootstrap import build
from ledger.domain import rules
from ledger.domain.commands import CreateLot, PlaceBid, RetractBid
from ledger.domain.errors import BidAlreadyRetracted
from ledger.domain.events import BidRetracted
from ledger.dynamodb import event_key, lot_key
from projections.audit import replay, verify
from samsold_bench.capacity.rules import item_size
from tests.support.app import execute_one


def new_lot(service, clock, **terms):
    lot_id = f"lot-{uuid.uuid4().hex[:10]}"
    service.lots.create_lot(CreateLot(lot_id=lot_id, title="Blue vase", currency="EUR", starting_price="10.00",
                                 opens_at=clock.now, closes_at=clock.now + timedelta(minutes=30), soft_close_window_s=0,
                                 **terms), seller="sam")
    return lot_id


def place(service, lot_id, bidder, amount, at, bid_id=None):
    command = PlaceBid(bid_id=bid_id or uuid.uuid4().hex, lot_id=lot_id, bidder=bidder, amount=amount, placed_at=at)
    execute_one(service.commands, command)
    return command.bid_id


def retraction(lot_id, bid_id, at, reason="shill bidding"):
    return RetractBid(lot_id=lot_id, bid_id=bid_id, retracted_by="root", reason=reason, requested_at=at)


def test_a_retraction_writes_its_event_snapshot_and_record_together(service, clock):
    lot_id = new_lot(service, clock)
    place(service, lot_id, "alice", "30.00", clock.now)
    top = place(service, lot_id, "bob", "50.00", clock.now)
    clock.advance(seconds=10)
    result = service.commands.retract_bid(retraction(lot_id, top, clock.now), is_admin=True)
    assert (result.command, result.changed) == ("RetractBid", True)
    lot = service.queries.get_lot(lot_id)
    assert (lot.version, str(lot.current_price), lot.leader, lot.bid_count) == (4, "10.00", "alice", 1)
    outcome = service.admission.own_bid(top, "bob")
    assert (outcome.status, outcome.reason) == ("RETRACTED", "shill bidding")
    with pytest.raises(BidAlreadyRetracted):
        service.commands.retract_bid(retraction(lot_id, top, clock.now), is_admin=True)
    assert service.queries.get_lot(lot_id).version == 4
    assert verify(service.queries, lot_id).ok and replay(service.queries, lot_id).ok


def test_a_retraction_that_loses_the_race_is_decided_again_on_the_bids_that_won(service, clock, ledger_env):
    """The admin's service decides on the snapshot it kept; the processor (another instance)
    has since accepted a higher bid. The write's condition fails, and the retraction is
    decided again from the stored lot and its events: the standing includes the new bid."""
    lot_id = new_lot(service, clock)
    shill = place(service, lot_id, "mallory", "80.00", clock.now)
    place(service, lot_id, "alice", "30.00", clock.now)  # the admin's instance keeps the lot at version 3
    processor = build(ledger_env, clock=clock)
    place(processor, lot_id, "bob", "60.00", clock.now)  # version 4, written by the other instance
    service.commands.retract_bid(retraction(lot_id, shill, clock.now), is_admin=True)
    events = list(service.queries.lot_events(lot_id))
    retracted = events[-1]
    assert isinstance(retracted, BidRetracted) and retracted.originator_version == 5
    # Bob's 60.00 beats Alice's 30.00 once Mallory's 80.00 is gone: one increment above it.
    assert (retracted.leader, str(retracted.price), str(retracted.leader_maximum)) == ("bob", "31.00", "60.00")
    state = service.queries.get_lot(lot_id)
    bid = next(e for e in events if getattr(e, "bid_id", None) == shill)
    assert rules.standing_without(state, events[:-1], bid).price == state.current_price
    assert replay(service.queries, lot_id).ok and verify(service.queries, lot_id).ok


def test_the_retraction_items_are_priced_by_dynamodb(ledger_env, clock, dynamodb_client, bids_table):
    """The longest retraction there can be (ids of 64, users of 128, a reason of 500
    characters of 4 bytes): DynamoDB reports the write units of a copy of each item."""
    service = build(ledger_env, clock=clock)
    lot_id = new_lot(service, clock, reserve_price="999999999999.99")
    bidders = ["a" * 127 + str(i) for i in range(3)]
    bid_ids = [(uuid.uuid4().hex * 2)[:64] for _ in bidders]
    for bidder, bid_id, amount in zip(bidders, bid_ids, ("99999999.99", "199999999.99", "299999999.99"), strict=True):
        place(service, lot_id, bidder, amount, clock.now, bid_id)
    longest, typical = "\U0001d11e" * 500, "shill bidding: the bidder is the seller's account"
    service.commands.retract_bid(retraction(lot_id, bid_ids[2], clock.now, typical), is_admin=True)
    service.commands.retract_bid(retraction(lot_id, bid_ids[1], clock.now, longest).model_copy(update={"retracted_by": "r" * 128}),
                        is_admin=True)

    def units(pk, sk):
        item = dynamodb_client.get_item(TableName=bids_table, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True)["Item"]
        copy = item | {"PK": {"S": f"{pk}-copy"}}
        consumed = dynamodb_client.put_item(TableName=bids_table, Item=copy, ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
        dynamodb_client.delete_item(TableName=bids_table, Key={"PK": copy["PK"], "SK": copy["SK"]})
        # The item's own units; the event's entry in the bid history index is priced apart (docs/CAPACITY.md).
        table = consumed.get("Table", consumed)["CapacityUnits"]
        indexes = {name: index["CapacityUnits"] for name, index in consumed.get("GlobalSecondaryIndexes", {}).items()}
        print(pk, sk, item_size(item), "bytes", table, "units", indexes)  # noqa: T201  (CAPACITY.md's figures)
        return table

    # With the longest ids and users, a short reason: the event 2 write units (three users of
    # 128 bytes, two bid ids, two hashes), the record 1. The longest reason (2,000 bytes,
    # in both): the event 4, the record 3. Transactional writes cost twice that.
    assert units(lot_key(lot_id), event_key(5)) <= 2.0 and units(f"BID#{bid_ids[2]}", "RETRACTION") <= 1.0
    assert units(lot_key(lot_id), event_key(6)) <= 4.0 and units(f"BID#{bid_ids[1]}", "RETRACTION") <= 3.0
    assert replay(service.queries, lot_id).ok and verify(service.queries, lot_id).ok


def test_a_retraction_on_a_lot_of_a_thousand_bids_reads_them_all_and_the_fold_stays_constant(service, clock):
    """The retraction reads the lot's events (one Query page per 1,000); the fold of its event
    does not. The standing is that of the remaining bids, and replay agrees."""
    import time

    lot_id = new_lot(service, clock, increment="1.00")  # a fixed step: each bid below is the minimum next bid
    bidders = [f"bidder-{i % 50}" for i in range(1_000)]
    commands = [PlaceBid(bid_id=f"{lot_id}-b{i}", lot_id=lot_id, bidder=bidder, amount=f"{10 + i}.00", placed_at=clock.now)
                for i, bidder in enumerate(bidders)]
    for start in range(0, len(commands), 10):
        service.commands.execute(lot_id, commands[start : start + 10])
    top = commands[-1].bid_id  # bidder-49's 1009.00 leads
    started = time.perf_counter()
    service.commands.retract_bid(retraction(lot_id, top, clock.now), is_admin=True)
    elapsed = time.perf_counter() - started
    print(f"retraction on a lot of {len(commands)} bids: {elapsed * 1000:.0f} ms")  # noqa: T201  (the report's figure)
    lot = service.queries.get_lot(lot_id)
    # bidder-48's 1008.00 leads again, one step above bidder-47's 1007.00.
    assert (lot.leader, str(lot.current_price), lot.bid_count, lot.version) == ("bidder-48", "1008.00", 999, 1_002)
    assert replay(service.queries, lot_id).ok and verify(service.queries, lot_id).ok
