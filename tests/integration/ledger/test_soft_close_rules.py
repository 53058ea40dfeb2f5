"""Soft-close rules per lot stored in DynamoDB Local: the rule is
written into LotCreated and the snapshot, replays and verifies; and a lot whose LotCreated
was stored before the rules existed still verifies, replays and keeps today's rule."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bootstrap import build
from ledger.domain.commands import CreateLot, PlaceBid
from ledger.dynamodb import event_key, lot_key
from projections.audit import fix, replay, verify
from tests.integration.conftest import Clock
from tests.support.app import execute_one

OLD_EVENT = Path(__file__).parents[2] / "fixtures" / "ledger" / "lot_created_before_soft_close_rules.json"
RULE_FIELDS = {"soft_close_mode", "soft_close_trigger", "max_extensions"}


def a_bid(lot_id: str, bidder: str, amount: str, at: datetime) -> PlaceBid:
    return PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot_id, bidder=bidder, amount=amount, placed_at=at)


def test_a_lot_with_its_own_rule_extends_by_it_and_replays(service, clock):
    closes = clock.now + timedelta(minutes=10)
    lot = service.lots.create_lot(
        CreateLot(lot_id=f"rule-{uuid.uuid4().hex[:10]}", title="Clock", currency="EUR", starting_price="10.00",
                  closes_at=closes, soft_close_mode="add_to_end", soft_close_trigger="leader_change", max_extensions=1),
        seller="sam",
    )
    service.commands.execute(lot.lot_id, [
        a_bid(lot.lot_id, "alice", "10.00", closes - timedelta(seconds=30)),  # takes the lead: +120 s
        a_bid(lot.lot_id, "bob", "12.00", closes + timedelta(seconds=30)),  # a change, but the one extension is used
    ])
    state = service.queries.get_lot(lot.lot_id)
    assert (state.leader, state.closes_at, state.extension_count) == ("bob", closes + timedelta(seconds=120), 1)
    stored = service.queries.stored_snapshot(lot.lot_id)
    assert stored is not None and stored["sc"] == "EL1" and not RULE_FIELDS & set(stored)
    assert verify(service.queries, lot.lot_id).ok and replay(service.queries, lot.lot_id).ok


def test_a_lot_created_before_the_rules_verifies_replays_and_keeps_todays_rule(ledger_env, dynamodb_client, bids_table):
    """Version 1 is the LotCreated stored by the code before these fields (the fixture's
    exact state, hash included), written into the table as that code wrote it."""
    doc = json.loads(OLD_EVENT.read_text())
    lot_id, opens_at = doc["originator_id"], datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    service = build(ledger_env, clock=Clock(opens_at - timedelta(hours=1)))
    service.lots.create_lot(
        CreateLot(lot_id=lot_id, title="Blue vase", currency="EUR", starting_price="10.00", opens_at=opens_at,
                  closes_at=opens_at + timedelta(hours=1), hard_close_at=opens_at + timedelta(hours=2)),
        seller="sam",
    )
    key = {"PK": {"S": lot_key(lot_id)}, "SK": {"S": event_key(1)}}
    item = dynamodb_client.get_item(TableName=bids_table, Key=key, ConsistentRead=True)["Item"]
    item["state"]["B"] = json.dumps(doc["state"], separators=(",", ":")).encode()
    dynamodb_client.put_item(TableName=bids_table, Item=item)
    # The snapshot follows its own event (its head hash and time): fixed as `replay --fix` would.
    fix(service.commands, replay(service.queries, lot_id))
    service = build(ledger_env, clock=Clock(opens_at))

    check = verify(service.queries, lot_id)
    assert check.ok, check.problem
    assert [e.hash for e in service.queries.lot_events(lot_id)] == [doc["state"]["hash"]]
    assert not {"sc", *RULE_FIELDS} & set(service.queries.stored_snapshot(lot_id) or {})
    # Today's rule: a bid 30 s before the close moves it to 120 s after the bid.
    placed = opens_at + timedelta(minutes=59, seconds=30)
    execute_one(service.commands, a_bid(lot_id, "alice", "10.00", placed))
    state = service.queries.get_lot(lot_id)
    assert (state.soft_close_mode, state.closes_at, state.extension_count) == ("from_bid", placed + timedelta(seconds=120), 1)
    assert verify(service.queries, lot_id).ok and replay(service.queries, lot_id).ok
