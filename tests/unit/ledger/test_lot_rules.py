"""The Lot's rules, decided in memory: every reason code, increments at the band
edges, currency precision, soft close and the hard-close limit, closing at the reserve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from ledger.domain import rules
from ledger.domain.commands import CancelLot, CloseLot, CreateLot, PlaceBid
from ledger.domain.errors import InvalidCommand, InvalidState, NotAllowed
from ledger.domain.events import BidPlaced, BidRejected, LotClosed
from ledger.domain.lot import Lot

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
_bid_counter = iter(range(1, 1_000_000))


def make_lot(**terms) -> Lot:
    terms.setdefault("title", "Blue vase")
    terms.setdefault("currency", "EUR")
    terms.setdefault("starting_price", "10.00")
    terms.setdefault("opens_at", T0)
    terms.setdefault("closes_at", T0 + timedelta(hours=1))
    return Lot.create(CreateLot(lot_id="lot-1", **terms), seller="sam", now=T0)


def bid(lot: Lot, bidder: str, amount: str, at: datetime | None = None):
    command = PlaceBid(
        bid_id=f"b{next(_bid_counter)}", lot_id=lot.id, bidder=bidder, amount=amount, placed_at=at or T0 + timedelta(minutes=1)
    )
    # The bidders' aliases the service would know: kept with the lot for the test.
    return lot.place_bid(command, now=T0, aliases=lot.__dict__.setdefault("known_aliases", {}))


def test_first_bid_at_starting_price_is_accepted_and_sets_leader():
    lot = make_lot()
    outcome = bid(lot, "alice", "10.00")
    assert outcome.status == "ACCEPTED" and outcome.reason is None
    assert lot.state.current_price == Decimal("10.00")
    assert lot.state.leader == "alice"
    assert lot.state.leader_name == "Bidder 1"


def test_aliases_number_bidders_by_first_accepted_bid_and_stay_stable():
    lot = make_lot()
    bid(lot, "alice", "10.00")
    bid(lot, "bob", "9.00")  # rejected: no alias for bob yet
    bid(lot, "bob", "20.00")
    bid(lot, "alice", "30.00")
    assert [e.alias for e in lot.pending_events if isinstance(e, BidPlaced)] == [1, 2, 1]
    assert (lot.state.bidder_count, lot.state.leader_name) == (2, "Bidder 1")


def test_a_bidder_the_caller_knows_keeps_their_alias():
    lot = make_lot()
    outcome = lot.place_bid(
        PlaceBid(bid_id="b-known", lot_id=lot.id, bidder="carol", amount="10.00", placed_at=T0 + timedelta(minutes=1)),
        now=T0,
        aliases={"carol": 7},
    )
    assert outcome.status == "ACCEPTED" and lot.state.leader_alias == 7


@pytest.mark.parametrize(
    ("setup", "bidder", "amount", "at", "reason"),
    [
        ("none", "alice", "10.00", T0 - timedelta(seconds=1), rules.LOT_NOT_OPEN),
        ("none", "alice", "10.00", T0 + timedelta(hours=1), rules.LOT_CLOSED),
        ("closed", "alice", "50.00", T0 + timedelta(minutes=30), rules.LOT_CLOSED),
        ("cancelled", "alice", "50.00", T0 + timedelta(minutes=30), rules.LOT_CANCELLED),
        ("none", "sam", "10.00", None, rules.SELLER_CANNOT_BID),
        ("alice_leads", "alice", "10.00", None, rules.BELOW_OWN_MAXIMUM),
        ("none", "alice", "9.99", None, rules.BELOW_MINIMUM),
        ("none", "alice", "10.005", None, rules.CURRENCY_PRECISION),
    ],
)
def test_every_reason_code(setup, bidder, amount, at, reason):
    lot = make_lot()
    if setup == "alice_leads":
        bid(lot, "alice", "10.00")
    if setup == "closed":
        lot.close(CloseLot(lot_id=lot.id, requested_at=T0 + timedelta(hours=2)))
    if setup == "cancelled":
        lot.cancel(CancelLot(lot_id=lot.id, cancelled_by="admin", requested_at=T0), is_admin=True)
    version_before = lot.version
    outcome = bid(lot, bidder, amount, at)
    assert (outcome.status, outcome.reason) == ("REJECTED", reason)
    [event] = lot.collect_events()[-1:]
    assert isinstance(event, BidRejected) and event.reason == reason
    assert lot.version == version_before + 1


def test_rejection_carries_the_numbers_that_decided_it():
    lot = make_lot()
    bid(lot, "alice", "10.00")
    outcome = bid(lot, "bob", "10.25")
    assert outcome.reason == rules.BELOW_MINIMUM
    assert outcome.minimum == Decimal("10.50") and outcome.current_price == Decimal("10.00")
    event = lot.collect_events()[-1]
    assert (event.minimum, event.current_price, event.amount) == (Decimal("10.50"), Decimal("10.00"), "10.25")


@pytest.mark.parametrize(
    ("price", "step"),
    [
        ("0.01", "0.05"), ("0.99", "0.05"), ("1.00", "0.25"), ("4.99", "0.25"), ("5.00", "0.50"),
        ("24.99", "0.50"), ("25.00", "1.00"), ("99.99", "1.00"), ("100.00", "2.50"), ("249.99", "2.50"),
        ("250.00", "5.00"), ("499.99", "5.00"), ("500.00", "10.00"), ("999.99", "10.00"), ("1000.00", "25.00"),
        ("2499.99", "25.00"), ("2500.00", "50.00"), ("4999.99", "50.00"), ("5000.00", "100.00"), ("99999.00", "100.00"),
    ],
)
def test_increment_bands_at_their_edges(price, step):
    lot = make_lot(starting_price=price)
    bid(lot, "alice", price)
    expected_minimum = Decimal(price) + Decimal(step)
    assert rules.minimum_bid(lot.state) == expected_minimum
    assert bid(lot, "bob", str(expected_minimum - Decimal("0.01"))).reason == rules.BELOW_MINIMUM
    assert bid(lot, "bob", str(expected_minimum)).status == "ACCEPTED"


def test_fixed_increment_replaces_the_band_table():
    lot = make_lot(increment="3.00")
    bid(lot, "alice", "10.00")
    assert rules.minimum_bid(lot.state) == Decimal("13.00")


def test_jpy_has_no_decimals():
    lot = make_lot(currency="JPY", starting_price="1000")
    assert bid(lot, "alice", "1000.5").reason == rules.CURRENCY_PRECISION
    assert bid(lot, "alice", "1000").status == "ACCEPTED"
    # The band table is in minor units: 1,000 yen is in the 500..2,499 band of step 50.
    assert rules.minimum_bid(lot.state) == Decimal("1050")
    assert bid(lot, "bob", "1049").reason == rules.BELOW_MINIMUM


def test_accepted_amount_is_written_with_the_currency_digits():
    lot = make_lot()
    bid(lot, "alice", "12.5")
    assert str(lot.state.leader_maximum) == "12.50" and str(lot.pending_events[-1].amount) == "12.50"


def test_bid_in_soft_close_window_extends_close_time():
    lot = make_lot()
    closes = lot.state.closes_at
    at = closes - timedelta(seconds=30)
    bid(lot, "alice", "10.00", at)
    assert lot.state.closes_at == at + timedelta(seconds=120)
    assert lot.state.extension_count == 1
    # A bid before the window leaves the close time alone.
    lot2 = make_lot()
    bid(lot2, "alice", "10.00", closes - timedelta(seconds=121))
    assert lot2.state.closes_at == closes


def test_window_edge_is_inclusive():
    lot = make_lot(soft_close_extension_s=180)
    closes = lot.state.closes_at
    bid(lot, "alice", "10.00", closes - timedelta(seconds=120))
    assert lot.state.closes_at == closes + timedelta(seconds=60)
    lot2 = make_lot(soft_close_extension_s=180)
    bid(lot2, "alice", "10.00", closes - timedelta(seconds=120, milliseconds=1))
    assert lot2.state.closes_at == closes


def test_hard_close_limits_extensions():
    lot = make_lot(hard_close_at=T0 + timedelta(hours=1, seconds=90))
    closes = lot.state.closes_at
    bid(lot, "alice", "10.00", closes - timedelta(seconds=10))
    assert lot.state.closes_at == T0 + timedelta(hours=1, seconds=90)
    # Past the hard close nothing is accepted.
    assert bid(lot, "bob", "20.00", T0 + timedelta(hours=1, seconds=90)).reason == rules.LOT_CLOSED


def test_extension_is_not_shortened_by_a_later_bid_with_smaller_extension():
    lot = make_lot(soft_close_extension_s=300)
    closes = lot.state.closes_at
    bid(lot, "alice", "10.00", closes - timedelta(seconds=100))  # -> closes + 200 s
    extended = lot.state.closes_at
    bid(lot, "bob", "10.50", closes - timedelta(seconds=99))  # -> closes + 201 s
    assert lot.state.closes_at >= extended


@pytest.mark.parametrize(("amount", "outcome"), [("99.99", "UNSOLD"), ("100.00", "SOLD"), ("100.01", "SOLD")])
def test_sold_only_when_leading_bid_meets_the_reserve(amount, outcome):
    lot = make_lot(starting_price="50.00", reserve_price="100.00", increment="0.01")
    bid(lot, "alice", "50.00")
    bid(lot, "bob", amount)
    assert lot.close(CloseLot(lot_id=lot.id, requested_at=T0 + timedelta(hours=1)))
    closed = lot.collect_events()[-1]
    assert isinstance(closed, LotClosed) and closed.outcome == outcome
    assert (closed.winner == "bob") == (outcome == "SOLD")


def test_no_bids_closes_unsold_and_closing_is_idempotent():
    lot = make_lot()
    at = T0 + timedelta(hours=1)
    assert lot.close(CloseLot(lot_id=lot.id, requested_at=at))
    assert lot.state.outcome == "UNSOLD"
    assert not lot.close(CloseLot(lot_id=lot.id, requested_at=at))


def test_close_waits_for_an_extended_close_time():
    lot = make_lot()
    closes = lot.state.closes_at
    bid(lot, "alice", "10.00", closes - timedelta(seconds=10))
    assert not lot.close(CloseLot(lot_id=lot.id, requested_at=closes))
    assert lot.state.status == "OPEN"
    assert lot.close(CloseLot(lot_id=lot.id, requested_at=lot.state.closes_at))


def test_cancel_rules():
    lot = make_lot()
    command = CancelLot(lot_id=lot.id, cancelled_by="mallory", requested_at=T0)
    with pytest.raises(NotAllowed):
        lot.cancel(command, is_admin=False)
    assert lot.cancel(command, is_admin=True)
    assert not lot.cancel(command, is_admin=True)
    closed = make_lot()
    closed.close(CloseLot(lot_id=closed.id, requested_at=T0 + timedelta(hours=2)))
    with pytest.raises(InvalidState):
        closed.cancel(command, is_admin=True)


def test_events_form_a_hash_chain_that_notices_edits():
    lot = make_lot()
    bid(lot, "alice", "10.00")
    bid(lot, "bob", "11.00")
    events = lot.collect_events()
    for previous, event in zip(events, events[1:], strict=False):
        assert event.prev_hash == previous.hash
        assert event.compute_hash() == event.hash
    placed = events[1]
    assert isinstance(placed, BidPlaced)
    object.__setattr__(placed, "price", Decimal("1.00"))
    assert placed.compute_hash() != placed.hash
    # A committed field (the maximum) is hashed as its commitment: an edited commitment is noticed.
    object.__setattr__(placed, "price", Decimal("10.00"))
    assert placed.sealed is not None and placed.compute_hash() == placed.hash
    object.__setattr__(placed, "sealed", placed.sealed | {"amount": "another commitment"})
    assert placed.compute_hash() != placed.hash


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"currency": "XYZ"}, "unknown ISO 4217"),
        ({"starting_price": "-1"}, "decimal string"),
        ({"starting_price": "0"}, "greater than zero"),
        ({"starting_price": "1e3"}, "decimal string"),
        ({"starting_price": "NaN"}, "decimal string"),
        ({"starting_price": 10}, "decimal string"),
        ({"seller": "x"}, "Extra inputs"),
        ({"title": ""}, "at least 1 character"),
    ],
)
def test_invalid_terms_are_refused_with_a_clear_message(change, message):
    terms = {"title": "Vase", "currency": "EUR", "starting_price": "10.00", "opens_at": T0, "closes_at": T0 + timedelta(hours=1)} | change
    with pytest.raises(ValidationError, match=message):
        CreateLot(**terms)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"starting_price": "10.001"}, "more decimals"),
        ({"reserve_price": "5.00"}, "reserve_price"),
        ({"closes_at": T0 - timedelta(hours=1)}, "closes_at must be after opens_at"),
        ({"hard_close_at": T0}, "hard_close_at"),
    ],
)
def test_terms_that_disagree_are_refused_by_the_lot_rule(change, message):
    # Each field is valid on its own, so the model takes them; the lot refuses the mix (422, not 400).
    terms = {"title": "Vase", "currency": "EUR", "starting_price": "10.00", "opens_at": T0, "closes_at": T0 + timedelta(hours=1)} | change
    with pytest.raises(InvalidCommand, match=message):
        Lot.create(CreateLot(**terms), seller="sam", now=T0 - timedelta(hours=2))


def test_lot_must_close_in_the_future():
    with pytest.raises(InvalidCommand, match="future"):
        Lot.create(CreateLot(title="x", currency="EUR", starting_price="1.00", closes_at=T0), seller="sam", now=T0 + timedelta(seconds=1))


@pytest.mark.parametrize("amount", ["0", "-5", "1e3", "NaN", "Infinity", " 10", "10.", ".5", "", "0x10"])
def test_malformed_bid_amounts_are_refused(amount):
    with pytest.raises(ValidationError):
        PlaceBid(bid_id="b", lot_id="l", bidder="alice", amount=amount, placed_at=T0)
