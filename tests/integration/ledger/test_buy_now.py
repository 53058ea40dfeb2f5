"""Buy-it-now on DynamoDB Local: a purchase and the close it makes are written in the
batch's one transaction with its receipt and the buyer's alias; a bid behind it in the
batch finds the lot closed; replay and verify agree; the largest batch still fits one
transaction (a purchase writes one item more than a bid)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from bootstrap import build
from ledger.domain import rules
from ledger.domain.commands import BuyNow, PlaceBid
from ledger.domain.events import BOUGHT, BidPlaced, LotClosed
from ledger.dynamodb import bids_table_definition, lot_key
from ledger.service.commands import COMMANDS_PER_TRANSACTION
from projections.audit import replay, verify
from projections.views import lot_view
from samsold_bench.capacity.observer import CapacityObserver
from samsold_bench.capacity.rules import TableShape
from tests.integration.ledger.test_service import a_bid, count_items, new_lot


def a_purchase(lot_id: str, buyer: str, at, price: str = "50.00", bid_id: str | None = None) -> BuyNow:
    return BuyNow(bid_id=bid_id or uuid.uuid4().hex, lot_id=lot_id, bidder=buyer, amount=price, placed_at=at)


def test_a_purchase_closes_the_lot_and_a_bid_behind_it_is_rejected(service, clock, dynamodb_client, bids_table):
    lot = new_lot(service, clock, buy_now_price="50.00")
    purchase = a_purchase(lot.lot_id, "bob", clock.now)
    late = a_bid(lot.lot_id, "alice", "70.00", clock.now)
    bought, rejected = service.commands.execute(lot.lot_id, [purchase, late])
    assert bought.bid is not None and (bought.command, bought.bid.status) == ("BuyNow", "ACCEPTED")
    assert rejected.bid is not None and rejected.bid.reason == rules.LOT_CLOSED
    assert count_items(dynamodb_client, bids_table, lot_key(lot.lot_id), "EVENT#") == 4  # created, bought, closed, rejected
    state = service.queries.get_lot(lot.lot_id)
    assert (state.status, state.outcome, state.leader, state.current_price) == ("CLOSED", "SOLD", "bob", Decimal("50.00"))
    assert service.queries.bidder_aliases(lot.lot_id, ["bob"]) == {"bob": 1}
    events = list(service.queries.lot_events(lot.lot_id))
    assert isinstance(events[1], BidPlaced) and events[1].outcome == BOUGHT
    assert isinstance(events[2], LotClosed) and (events[2].winner, events[2].bought_now) == ("bob", True)
    assert service.queries.get_bid_outcome(purchase.bid_id) == bought.bid
    # Delivered again: decided once.
    (again,) = service.commands.execute(lot.lot_id, [purchase])
    assert again.duplicate and again.bid == bought.bid
    assert verify(service.queries, lot.lot_id).ok and not replay(service.queries, lot.lot_id).drifted
    view = lot_view(service.queries, state, clock.now)
    assert view.buy_now_price is None and view.recent_bids[-1].bidder == "Bidder 1"


def test_the_queue_order_decides_a_race_with_a_bid(service, clock):
    lot = new_lot(service, clock, buy_now_price="50.00")
    assert lot_view(service.queries, service.queries.get_lot(lot.lot_id), clock.now).buy_now_price == Decimal("50.00")
    first, purchase = service.commands.execute(lot.lot_id, [a_bid(lot.lot_id, "alice", "12.00", clock.now),
                                                   a_purchase(lot.lot_id, "bob", clock.now)])
    assert first.bid is not None and first.bid.status == "ACCEPTED"
    assert purchase.bid is not None and purchase.bid.reason == rules.BUY_NOW_NOT_OFFERED
    assert service.queries.get_lot(lot.lot_id).status == "OPEN"


def test_the_fullest_batch_with_a_purchase_fits_one_transaction(service, clock):
    # Each bid is a new bidder's (event, receipt, alias) below the reserve, and the purchase
    # last also brings the close: the most items a batch can write.
    lot = new_lot(service, clock, reserve_price="1000.00", buy_now_price="1000.00", buy_now_until="reserve_met")
    bids: list[PlaceBid | BuyNow] = [
        a_bid(lot.lot_id, f"bidder-{i}", f"{20 + i}.00", clock.now) for i in range(COMMANDS_PER_TRANSACTION - 1)
    ]
    results = service.commands.execute(lot.lot_id, [*bids, a_purchase(lot.lot_id, "buyer", clock.now, price="1000.00")])
    assert all(r.bid is not None and r.bid.status == "ACCEPTED" for r in results)
    state = service.queries.get_lot(lot.lot_id)
    assert (state.outcome, state.leader, state.bidder_count) == ("SOLD", "buyer", COMMANDS_PER_TRANSACTION)


def test_a_purchase_costs_a_new_bidder_s_bid_and_a_close_in_one_transaction(ledger_env, clock, bids_table):
    """Priced by the capacity model's observer from the items written (docs/CAPACITY.md,
    "Buy it now"): the close is one event more and the lot's move from the open index to the
    ended one, as for any close."""
    service = build(ledger_env, clock=clock)
    shapes = {bids_table: TableShape.from_definition(bids_table_definition(bids_table))}
    observer = CapacityObserver(service.commands.store.client, shapes).attach()
    try:
        costs = {}
        for kind in ("bid", "purchase"):
            lot = new_lot(service, clock, buy_now_price="50.00")
            observer.take()
            command = a_bid(lot.lot_id, "newcomer", "10.00", clock.now) if kind == "bid" else a_purchase(lot.lot_id, "newcomer", clock.now)
            service.commands.execute(lot.lot_id, [command])
            (call,) = observer.take()
            costs[kind] = (call.operation, len(call.writes), call.table_write_units, call.index_write_units)
    finally:
        observer.detach()
    # Event, its disclosures, receipt, alias, the bidder's record of the lot (new in the lot's bidders'
    # index), the check of the bidder's standing (not blocked), snapshot; the event in the bid history index.
    assert costs["bid"] == ("TransactWriteItems", 7, 14, 4)
    # And the close with its disclosures; the snapshot leaves the open index.
    assert costs["purchase"] == ("TransactWriteItems", 9, 18, 8)
