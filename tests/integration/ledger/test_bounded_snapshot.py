"""The lot snapshot stays small whatever the number of bidders, bids and extensions
(at most 2 KB, so each bid's write of it costs at most two write units), and the aliases
and bid history that used to grow inside it still work from items and queries of their own."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from bootstrap import build
from ledger.domain.commands import MAX_EXTENSIONS, CreateLot, CreateSale, PlaceBid
from ledger.domain.sellers import ListedAs
from ledger.domain.values import format_time
from ledger.dynamodb import lot_key
from projections.audit import replay, verify
from projections.views import lot_view
from tests.support.app import IN_MEMORY

# The longest each free or id field may be: a title of 200 characters of 4 bytes each,
# ids of 64 characters (lots and bids), users of 128, sale ids of 32.
LONGEST_TITLE = "\U0001d11e" * 200
LONGEST_LOT_ID = "L" * 64
LONGEST_USER = "u" * 128
LONGEST_SALE_ID = "S" * 32


def _bids(lot_id: str, bidders: list[str], start_cents: int, at, step_cents: int = 1) -> list[PlaceBid]:
    return [
        PlaceBid(bid_id=(uuid.uuid4().hex * 2)[:64], lot_id=lot_id, bidder=b, amount=f"{(start_cents + i * step_cents) // 100}.{(start_cents + i * step_cents) % 100:02d}", placed_at=at)
        for i, b in enumerate(bidders)
    ]


def test_the_snapshot_does_not_grow_with_bidders_or_bids(clock):
    service = build(IN_MEMORY, clock=clock)
    lot = service.lots.create_lot(
        CreateLot(lot_id="grows", title="Vase", currency="EUR", starting_price="1.00", increment="0.01",
                  closes_at=clock.now + timedelta(hours=1)),
        seller="sam",
    )
    service.commands.execute(lot.lot_id, _bids(lot.lot_id, [f"early-{i:04d}" for i in range(10)], 100, clock.now))
    after_ten = json.dumps(service.queries.stored_snapshot(lot.lot_id), default=str)
    service.commands.execute(lot.lot_id, _bids(lot.lot_id, [f"bidder-{i:04d}" for i in range(5_000)], 200, clock.now))
    after_5010 = json.dumps(service.queries.stored_snapshot(lot.lot_id), default=str)
    # Only numbers grow (counts, the price, the version): a few characters, not a map per bidder.
    assert len(after_5010) - len(after_ten) < 24
    state = service.queries.get_lot(lot.lot_id)
    assert (state.bidder_count, state.bid_count, state.leader_name) == (5_010, 5_010, "Bidder 5010")
    assert service.queries.bidder_aliases(lot.lot_id, ["early-0000", "bidder-4999"]) == {"early-0000": 1, "bidder-4999": 5_010}
    view = lot_view(service.queries, state, clock.now)
    assert len(view.recent_bids) == 20 and view.recent_bids[-1].bidder == "Bidder 5010"
    assert not replay(service.queries, lot.lot_id).drifted


def test_the_largest_snapshot_takes_at_most_two_write_units(ledger_env, clock, dynamodb_client, bids_table):
    """The largest fields there can be, after many extensions and bids: DynamoDB itself
    prices the stored item (a plain PutItem of a copy reports its write units: 1 per KB)."""
    service = build(ledger_env, clock=clock)
    lot_id = LONGEST_LOT_ID[: 64 - 8] + uuid.uuid4().hex[:8]
    terms = CreateLot(lot_id=lot_id, title=LONGEST_TITLE, currency="EUR", starting_price="99999999.99",
                      reserve_price="999999999999.99", opens_at=clock.now, closes_at=clock.now + timedelta(minutes=1),
                      soft_close_window_s=86_400, soft_close_extension_s=86_400, hard_close_at=clock.now + timedelta(days=900),
                      soft_close_mode="add_to_end", soft_close_trigger="leader_change", max_extensions=MAX_EXTENSIONS,
                      buy_now_price="999999999999.99", buy_now_until="reserve_met")
    # In a staggered sale with the longest sale id, which its snapshot names.
    sale_id = LONGEST_SALE_ID[: 32 - 8] + uuid.uuid4().hex[:8]
    service.sales.create_sale(
        CreateSale.model_validate({"sale_id": sale_id, "title": "Sale", "interval_s": 60,
                                   "first_closes_at": format_time(terms.closes_at),
                                   "lots": [terms.model_dump(mode="json", exclude={"closes_at", "registration"})]}),
        seller=LONGEST_USER, listed_as=ListedAs("s" * 24, any_lot_id=True),  # and the longest seller handle
    )
    # The longest soft-close rule there is; the first bid of a round adds a day to the close,
    # which takes the next round but one out of the window.
    for round_ in range(3):
        clock.advance(seconds=30)
        service.commands.execute(lot_id, _bids(lot_id, [f"{LONGEST_USER[:122]}{round_}-{i:04d}" for i in range(30)],
                                      10_000_000_000 + round_ * 3_000_000_000, clock.now, step_cents=100_000_000))
    state = service.queries.get_lot(lot_id)
    assert (state.bid_count, state.extension_count, len(state.leader or ""), state.sale_id) == (90, 2, 128, sale_id)
    assert state.seller_handle == "s" * 24
    key = {"PK": {"S": lot_key(lot_id)}, "SK": {"S": "SNAPSHOT"}}
    item = dynamodb_client.get_item(TableName=bids_table, Key=key, ConsistentRead=True)["Item"]
    assert item["sc"] == {"S": f"EL{MAX_EXTENSIONS}"}  # the longest soft-close rule is in it
    assert item["bn"] == {"S": "999999999999.99R"}  # and the longest buy-now terms
    # As the lot of a sale that needs approval holds it too (its bidders' aliases are paddles: no longer).
    copy = item | {"PK": {"S": lot_key(lot_id + "-copy")}, "registration": {"S": "approval"}}
    # DynamoDB counts 1 write unit per KB of item: the item is at most 2 KB (the index's own units apart).
    consumed = dynamodb_client.put_item(TableName=bids_table, Item=copy, ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    dynamodb_client.delete_item(TableName=bids_table, Key={"PK": copy["PK"], "SK": copy["SK"]})
    assert consumed["Table"]["CapacityUnits"] <= 2.0
    assert verify(service.queries, lot_id).ok and not replay(service.queries, lot_id).drifted


def test_a_snapshot_written_with_the_increment_as_a_map_still_reads_replays_clean_and_is_rewritten(
        ledger_env, clock, dynamodb_client, bids_table):
    """Snapshots stored before the increment rule became the short `inc` attribute hold it as
    a map under `increment`: they read the same, replay finds no drift, and the next write
    stores the short form."""
    service = build(ledger_env, clock=clock)
    lot_id = f"legacy-{uuid.uuid4().hex[:8]}"
    service.lots.create_lot(CreateLot(lot_id=lot_id, title="Vase", currency="EUR", starting_price="1.00",
                                 closes_at=clock.now + timedelta(hours=1)), seller="sam")
    key = {"PK": {"S": lot_key(lot_id)}, "SK": {"S": "SNAPSHOT"}}
    item = dynamodb_client.get_item(TableName=bids_table, Key=key, ConsistentRead=True)["Item"]
    assert item["inc"]["S"].startswith("B0.00:0.05 1.00:0.25 ")
    bands = [{"L": [{"S": start}, {"S": step}]} for start, step in (pair.split(":") for pair in item["inc"]["S"][1:].split(" "))]
    legacy = {k: v for k, v in item.items() if k != "inc"} | {"increment": {"M": {"type": {"S": "bands"}, "bands": {"L": bands}}}}
    dynamodb_client.put_item(TableName=bids_table, Item=legacy)

    fresh = build(ledger_env, clock=clock)  # no snapshot kept from the creation
    assert fresh.queries.get_lot(lot_id).increment == service.queries.get_lot(lot_id).increment
    assert not replay(fresh.queries, lot_id).drifted
    [result] = fresh.commands.execute(lot_id, _bids(lot_id, ["bob"], 100, clock.now))
    assert result.bid is not None and result.bid.status == "ACCEPTED"
    rewritten = dynamodb_client.get_item(TableName=bids_table, Key=key, ConsistentRead=True)["Item"]
    assert "increment" not in rewritten and rewritten["inc"] == item["inc"]
    assert not replay(fresh.queries, lot_id).drifted and verify(fresh.queries, lot_id).ok


def test_a_snapshot_whose_increment_attribute_is_garbled_is_unreadable_and_named(ledger_env, clock, dynamodb_client, bids_table):
    service = build(ledger_env, clock=clock)
    lot_id = f"garbled-{uuid.uuid4().hex[:8]}"
    service.lots.create_lot(CreateLot(lot_id=lot_id, title="Vase", currency="EUR", starting_price="1.00", increment="0.50",
                                 closes_at=clock.now + timedelta(hours=1)), seller="sam")
    key = {"PK": {"S": lot_key(lot_id)}, "SK": {"S": "SNAPSHOT"}}
    item = dynamodb_client.get_item(TableName=bids_table, Key=key, ConsistentRead=True)["Item"]
    assert item["inc"] == {"S": "S0.50"}
    dynamodb_client.put_item(TableName=bids_table, Item=item | {"inc": {"S": "S0.50 1.00:2"}})
    report = replay(build(ledger_env, clock=clock).queries, lot_id)
    assert report.unreadable is not None and "inc" in report.unreadable
