"""Retraction by an administrator: an accepted bid of an open lot is
withdrawn, and the lot falls back to the standing its remaining accepted bids give (the
proxy rule re-run over them, `ledger.domain.rules.standing_without`), carried by BidRetracted so
the fold stays constant-time. Examples on the Lot, then a property (hypothesis): retracting
a bid leaves the lot as if that bid had never been placed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.commands import CancelLot, CloseLot, CreateLot, PlaceBid, RetractBid
from ledger.domain.errors import BidAlreadyRetracted, BidNotAccepted, BidNotFound, LotNotOpen, NotAllowed
from ledger.domain.events import BidPlaced, BidRetracted
from ledger.domain.lot import Lot
from ledger.domain.state import fold

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)


def make_lot(**terms) -> Lot:
    terms.setdefault("title", "Lamp")
    terms.setdefault("currency", "EUR")
    terms.setdefault("starting_price", "10.00")
    terms.setdefault("opens_at", T0)
    terms.setdefault("closes_at", T0 + timedelta(hours=1))
    terms.setdefault("soft_close_window_s", 0)
    return Lot.create(CreateLot(lot_id="lamp", **terms), seller="sam", now=T0)


def bid(lot: Lot, bidder: str, amount: str, seconds: float = 60) -> str:
    bid_id = uuid.uuid4().hex
    command = PlaceBid(bid_id=bid_id, lot_id=lot.id, bidder=bidder, amount=amount, placed_at=T0 + timedelta(seconds=seconds))
    lot.place_bid(command, now=T0, aliases=lot.__dict__.setdefault("known_aliases", {}))
    return bid_id


def retract(lot: Lot, bid_id: str, *, is_admin: bool = True, at: datetime = NOW) -> BidRetracted:
    command = RetractBid(lot_id=lot.id, bid_id=bid_id, retracted_by="root", reason="shill bidding", requested_at=at)
    return lot.retract(command, is_admin, _events(lot))


def _events(lot: Lot) -> list:
    # The Lot keeps its pending events (never saved here): all of the lot's events, in order.
    return list(lot.pending_events)


def standing(lot: Lot) -> tuple:
    s = lot.state
    return (s.current_price, s.leader, s.leader_maximum, s.leader_alias, s.leader_placed_at, s.leading_bid_id)


def test_retracting_the_leaders_bid_falls_back_to_the_next_maximum():
    lot = make_lot()
    bid(lot, "alice", "50.00")
    bid(lot, "bob", "30.00")  # answered: 31.00
    top = bid(lot, "carol", "80.00", seconds=90)  # leads at 51.00
    assert (str(lot.state.current_price), lot.state.leader) == ("51.00", "carol")
    event = retract(lot, top)
    # Alice's 50.00 leads again, one increment above Bob's 30.00.
    assert (str(event.price), event.leader, str(event.leader_maximum), event.leader_alias) == ("31.00", "alice", "50.00", 1)
    assert (str(lot.state.current_price), lot.state.leader, lot.state.bid_count) == ("31.00", "alice", 2)
    assert event.bidder == "carol" and event.bidder_maximum is None and event.reserve_met
    assert lot.state.bidder_count == 3  # aliases stay: Carol is still "Bidder 3" if she bids again


def test_retracting_the_only_bid_leaves_no_price_and_no_leader():
    lot = make_lot(reserve_price="20.00")
    only = bid(lot, "alice", "25.00")
    assert str(lot.state.current_price) == "20.00"
    event = retract(lot, only)
    assert (event.price, event.leader, event.leader_maximum, event.bid_count, event.reserve_met) == (None, None, None, 0, False)
    assert standing(lot) == (None, None, None, None, None, None)


def test_retracting_an_answered_bid_lowers_the_price_the_leader_keeps_the_lead():
    lot = make_lot()
    bid(lot, "alice", "50.00")
    bob = bid(lot, "bob", "30.00")
    retract(lot, bob)
    assert (str(lot.state.current_price), lot.state.leader, str(lot.state.leader_maximum)) == ("10.00", "alice", "50.00")


def test_retracting_a_leaders_raise_falls_back_to_their_earlier_maximum():
    lot = make_lot()
    bid(lot, "alice", "20.00")
    raise_ = bid(lot, "alice", "90.00")
    bid(lot, "bob", "40.00")  # answered by Alice's 90.00: 41.00
    event = retract(lot, raise_)
    # Without the raise, Bob's 40.00 beats Alice's 20.00: he leads one increment (0.50 at 20.00) above it.
    assert (str(event.price), event.leader, str(event.bidder_maximum)) == ("20.50", "bob", "20.00")


def test_earlier_retractions_stay_left_out():
    lot = make_lot()
    first = bid(lot, "alice", "50.00")
    second = bid(lot, "bob", "40.00")
    bid(lot, "carol", "20.00")  # below the minimum (41.00 after Bob): rejected, and never part of a standing
    bid(lot, "carol", "45.00")
    retract(lot, first)
    assert (lot.state.leader, str(lot.state.current_price)) == ("carol", "41.00")
    retract(lot, second)
    assert (lot.state.leader, str(lot.state.current_price)) == ("carol", "10.00")


def test_refusals_name_what_is_wrong():
    lot = make_lot()
    accepted = bid(lot, "alice", "50.00")
    rejected = bid(lot, "bob", "5.00")
    with pytest.raises(NotAllowed):
        retract(lot, accepted, is_admin=False)
    with pytest.raises(BidNotAccepted):
        retract(lot, rejected)
    with pytest.raises(BidNotFound):
        retract(lot, "no-such-bid")
    retract(lot, accepted)
    with pytest.raises(BidAlreadyRetracted):
        retract(lot, accepted)
    with pytest.raises(LotNotOpen, match="SCHEDULED"):
        retract(lot, accepted, at=T0 - timedelta(minutes=1))
    with pytest.raises(LotNotOpen, match="CLOSING"):
        retract(lot, accepted, at=T0 + timedelta(hours=1))  # the close time passed, the sweep has not closed it


def test_a_closed_or_cancelled_lot_refuses_a_retraction_before_reading_events():
    closed = make_lot()
    first = bid(closed, "alice", "50.00")
    closed.close(CloseLot(lot_id=closed.id, requested_at=T0 + timedelta(hours=2)))
    cancelled = make_lot()
    second = bid(cancelled, "alice", "50.00")
    cancelled.cancel(CancelLot(lot_id=cancelled.id, cancelled_by="root", requested_at=NOW), is_admin=True)

    def no_events():
        raise AssertionError("events read for a lot that is not open")
        yield

    for lot, bid_id, status in ((closed, first, "CLOSED"), (cancelled, second, "CANCELLED")):
        command = RetractBid(lot_id=lot.id, bid_id=bid_id, retracted_by="root", reason="shill bidding", requested_at=NOW)
        with pytest.raises(LotNotOpen, match=status):
            lot.retract(command, True, no_events())


def test_a_retraction_does_not_move_the_close_back_and_the_fold_equals_the_writer():
    lot = make_lot(soft_close_window_s=120, soft_close_extension_s=120)
    late = bid(lot, "alice", "50.00", seconds=3590)  # in the last two minutes: the close moves
    extended = lot.state.closes_at
    assert extended > T0 + timedelta(hours=1)
    retract(lot, late, at=T0 + timedelta(seconds=3595))
    assert lot.state.closes_at == extended and lot.state.extension_count == 1
    assert fold(lot.pending_events) == lot.state


# --- the property: as if the bid had never been placed -------------------------------------

BIDDERS = ["ann", "ben", "cai", "dee"]
BIDS = st.lists(
    st.tuples(st.sampled_from(BIDDERS), st.integers(min_value=900, max_value=20_000), st.integers(min_value=1, max_value=40)),
    min_size=1, max_size=20,
)


def _amount(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@settings(max_examples=300, deadline=None)
@given(BIDS, st.sampled_from([None, "60.00"]), st.data())
def test_retracting_a_bid_gives_the_standing_as_if_it_had_never_been_placed(bids, reserve, data):
    lot = make_lot(reserve_price=reserve, increment="0.50" if reserve else None)
    placed = [(bid(lot, who, _amount(cents), seconds), who, cents, seconds) for who, cents, seconds in bids]
    accepted = [p for p in placed if any(isinstance(e, BidPlaced) and e.bid_id == p[0] for e in lot.pending_events)]
    if not accepted:
        return
    retracted = data.draw(st.lists(st.sampled_from(accepted), min_size=1, max_size=len(accepted), unique=True))
    for bid_id, *_ in retracted:
        retract(lot, bid_id)
    # The same lot with only the accepted bids that remain, placed in the same order: every
    # one of them is accepted again, and the lot stands exactly as after the retractions.
    other = make_lot(reserve_price=reserve, increment="0.50" if reserve else None)
    left_out = {bid_id for bid_id, *_ in retracted}
    for bid_id, who, cents, seconds in accepted:
        if bid_id not in left_out:
            bid(other, who, _amount(cents), seconds)
    assert all(isinstance(e, BidPlaced) for e in other.pending_events[1:])
    assert (lot.state.current_price, lot.state.leader, lot.state.leader_maximum, lot.state.leader_placed_at,
            lot.state.bid_count) == (other.state.current_price, other.state.leader, other.state.leader_maximum,
                                     other.state.leader_placed_at, other.state.bid_count)
    assert fold(lot.pending_events) == lot.state  # the fold of the events is the writer's state
