"""Buy-it-now, decided in memory (`ledger.domain.rules.decide_buy_now`): offered until the first
accepted bid or until the reserve is met, never to the seller, never after the close; an
accepted purchase closes the lot SOLD to the buyer at the buy-now price; the lot's terms."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain import rules
from ledger.domain.commands import BuyNow, CancelLot, CloseLot
from ledger.domain.errors import InvalidCommand
from ledger.domain.events import BOUGHT, BidPlaced, BidRejected, LotClosed, LotCreated
from ledger.domain.lot import Lot
from ledger.domain.state import fold
from ledger.snapshot_item import snapshot_from_item, snapshot_to_item
from tests.unit.ledger.test_lot_rules import T0, bid, make_lot

_purchases = iter(range(1, 1_000_000))


def buy(lot: Lot, buyer: str, minutes: float = 2):
    command = BuyNow(bid_id=f"buy{next(_purchases)}", lot_id=lot.id, bidder=buyer,
                     amount=str(lot.state.buy_now_price or "1"), placed_at=T0 + timedelta(minutes=minutes))
    return lot.buy_now(command, now=T0, aliases=lot.__dict__.setdefault("known_aliases", {}))


def test_a_purchase_before_any_bid_closes_the_lot_sold_to_the_buyer_at_the_buy_now_price():
    lot = make_lot(buy_now_price="50.00")
    outcome = buy(lot, "bob")
    assert (outcome.status, outcome.reason, outcome.leading) == ("ACCEPTED", None, True)
    placed, closed = lot.collect_events()[-2:]
    assert isinstance(placed, BidPlaced) and placed.outcome == BOUGHT and placed.amount == Decimal("50.00")
    assert isinstance(closed, LotClosed) and closed.bought_now
    assert (closed.outcome, closed.winner, closed.price, closed.winning_bid_id) == ("SOLD", "bob", Decimal("50.00"), placed.bid_id)
    state = lot.state
    assert (state.status, state.outcome, state.leader, state.current_price) == ("CLOSED", "SOLD", "bob", Decimal("50.00"))
    assert state.leader_name == "Bidder 1" and state.closes_at == T0 + timedelta(hours=1)  # soft close does not apply


def test_first_bid_mode_is_no_longer_offered_after_an_accepted_bid():
    lot = make_lot(buy_now_price="50.00")
    assert bid(lot, "alice", "10.00").status == "ACCEPTED"
    outcome = buy(lot, "bob")
    assert (outcome.status, outcome.reason) == ("REJECTED", rules.BUY_NOW_NOT_OFFERED)
    rejected = lot.collect_events()[-1]
    assert isinstance(rejected, BidRejected) and rejected.buy_now and rejected.amount == "50.00"
    assert lot.state.status == "OPEN"


def test_a_rejected_bid_does_not_take_the_offer_away():
    lot = make_lot(buy_now_price="50.00")
    assert bid(lot, "alice", "5.00").reason == rules.BELOW_MINIMUM
    assert buy(lot, "bob").status == "ACCEPTED"


def test_reserve_met_mode_is_offered_until_the_reserve_is_met():
    lot = make_lot(reserve_price="30.00", buy_now_price="50.00", buy_now_until="reserve_met")
    bid(lot, "alice", "20.00")
    assert rules.buy_now_offered(lot.state, T0 + timedelta(minutes=2)) == Decimal("50.00")
    bid(lot, "carol", "30.00")  # reaches the reserve: the price rises to it
    assert rules.reserve_met(lot.state)
    assert buy(lot, "bob").reason == rules.BUY_NOW_NOT_OFFERED


def test_reserve_met_mode_lets_the_leader_below_the_reserve_buy():
    lot = make_lot(reserve_price="30.00", buy_now_price="50.00", buy_now_until="reserve_met")
    bid(lot, "alice", "20.00")
    assert buy(lot, "alice").status == "ACCEPTED"
    assert (lot.state.leader, lot.state.current_price, lot.state.outcome) == ("alice", Decimal("50.00"), "SOLD")


def test_reserve_met_mode_without_a_reserve_ends_with_the_first_bid():
    lot = make_lot(buy_now_price="50.00", buy_now_until="reserve_met")
    bid(lot, "alice", "10.00")
    assert buy(lot, "bob").reason == rules.BUY_NOW_NOT_OFFERED


def test_the_seller_cannot_buy():
    lot = make_lot(buy_now_price="50.00")
    assert buy(lot, "sam").reason == rules.SELLER_CANNOT_BID


def test_not_offered_without_a_buy_now_price():
    lot = make_lot()
    assert buy(lot, "bob").reason == rules.BUY_NOW_NOT_OFFERED
    assert rules.buy_now_offered(lot.state, T0) is None


@pytest.mark.parametrize(
    ("minutes", "reason"), [(-1, rules.LOT_NOT_OPEN), (60, rules.LOT_CLOSED), (61, rules.LOT_CLOSED)]
)
def test_only_while_the_lot_is_open_at_placed_at(minutes, reason):
    lot = make_lot(buy_now_price="50.00")
    assert buy(lot, "bob", minutes=minutes).reason == reason


def test_after_a_close_a_cancel_or_another_purchase():
    closed = make_lot(buy_now_price="50.00")
    closed.close(CloseLot(lot_id=closed.id, requested_at=T0 + timedelta(hours=2)))
    assert buy(closed, "bob").reason == rules.LOT_CLOSED
    cancelled = make_lot(buy_now_price="50.00")
    cancelled.cancel(CancelLot(lot_id=cancelled.id, cancelled_by="root", requested_at=T0), is_admin=True)
    assert buy(cancelled, "bob").reason == rules.LOT_CANCELLED
    bought = make_lot(buy_now_price="50.00")
    buy(bought, "bob")
    assert buy(bought, "carol").reason == rules.LOT_CLOSED
    assert bid(bought, "carol", "60.00").reason == rules.LOT_CLOSED  # a bid queued after the purchase
    assert [e.buy_now for e in bought.collect_events() if isinstance(e, BidRejected)] == [True, False]
    assert not bought.close(CloseLot(lot_id=bought.id, requested_at=T0 + timedelta(hours=2)))  # closed once


def test_the_fold_of_the_stored_events_gives_the_same_state():
    lot = make_lot(reserve_price="30.00", buy_now_price="50.00", buy_now_until="reserve_met")
    bid(lot, "alice", "20.00")
    buy(lot, "bob")
    replayed = fold(lot.collect_events())
    assert replayed is not None and snapshot_to_item(replayed) == snapshot_to_item(lot.state)


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"buy_now_price": "9.99"}, "buy_now_price"),  # below the starting price of 10.00
        ({"buy_now_price": "20.00", "reserve_price": "30.00"}, "buy_now_price"),
        ({"buy_now_price": "20.001"}, "buy_now_price"),
        ({"buy_now_until": "reserve_met"}, "buy_now_until"),  # without a buy-now price
    ],
)
def test_terms_that_disagree_are_refused(terms, field):
    with pytest.raises(InvalidCommand) as refused:
        make_lot(**terms)
    assert refused.value.details["field"] == field


def test_terms_at_the_edges_are_taken_and_recorded():
    lot = make_lot(reserve_price="30.00", buy_now_price="30.00", buy_now_until="reserve_met")
    created = lot.collect_events()[0]
    assert isinstance(created, LotCreated) and (created.buy_now_price, created.buy_now_until) == (Decimal("30.00"), "reserve_met")
    item = snapshot_to_item(lot.state)
    assert item["bn"] == "30.00R" and snapshot_from_item(lot.id, item) == lot.state  # one short attribute, read back
    first_bid = make_lot(buy_now_price="45.5").state
    assert snapshot_to_item(first_bid)["bn"] == "45.5" and snapshot_from_item("lot-1", snapshot_to_item(first_bid)) == first_bid
    plain = make_lot()
    assert {"bn", "buy_now_price", "buy_now_until"}.isdisjoint(snapshot_to_item(plain.state))
    # A lot without buy-now hashes as lots created before it did.
    assert {"buy_now_price", "buy_now_until"}.isdisjoint(plain.collect_events()[0].content())


@given(bids=st.lists(st.tuples(st.sampled_from(["alice", "carol", "dave"]), st.integers(1000, 6000)), max_size=6),
       until=st.sampled_from(["first_bid", "reserve_met"]))
def test_offered_exactly_while_no_bid_was_accepted_or_the_reserve_is_unmet(bids, until):
    lot = make_lot(reserve_price="40.00", buy_now_price="60.00", buy_now_until=until)
    for bidder, cents in bids:
        bid(lot, bidder, f"{cents // 100}.{cents % 100:02d}")
    expected = lot.state.bid_count == 0 if until == "first_bid" else not rules.reserve_met(lot.state)
    outcome = buy(lot, "bob")
    assert (outcome.status == "ACCEPTED") == expected
    assert lot.state.status == ("CLOSED" if expected else "OPEN")
