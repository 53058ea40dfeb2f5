"""Admitting bids on a lot read for an earlier bid (`BidAdmission.admit_bid`, the
PlaceBid function's path), on the in-memory recorder: one read serves the bids of
ADMISSION_SNAPSHOT_MAX_AGE_S, an unknown lot is read (and refused) every time, and a
remembered minimum that has risen since never refuses a bid the lot as stored admits,
nor admits one it refuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bootstrap import App
from ledger.domain import rules
from ledger.domain.commands import CreateLot, PlaceBid, RetractBid
from ledger.domain.errors import BelowMinimum, ConfirmationRequired, InvalidCommand, LotNotFound
from ledger.service.cache import LruCache
from tests.support.app import build_test_app, execute_one

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class ReadCounter:
    """Counts the service's reads of lot snapshots (the real recorder still answers)."""

    def __init__(self, service: App) -> None:
        self.reads = 0
        read = service.commands.store.get_snapshot

        def counted(lot_id: str):  # type: ignore[no-untyped-def]
            self.reads += 1
            return read(lot_id)

        service.commands.store.get_snapshot = counted  # type: ignore[method-assign]


@pytest.fixture
def service() -> App:
    return build_test_app(clock=lambda: START + timedelta(minutes=1))


def new_lot(service: App, lot_id: str | None = None) -> str:
    lot_id = lot_id or f"lot-{uuid.uuid4().hex[:10]}"
    service.lots.create_lot(CreateLot(lot_id=lot_id, title="Vase", currency="EUR", starting_price="10.00",
                                 opens_at=START, closes_at=START + timedelta(minutes=10)), seller="sam")
    return lot_id


def a_bid(lot_id: str, amount: str, bidder: str = "alice") -> PlaceBid:
    return PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot_id, bidder=bidder, amount=amount,
                    placed_at=START + timedelta(minutes=1))


def raise_the_price_to_50(service: App, lot_id: str) -> None:
    """Two maximum bids through the processor: the price (and the minimum next bid) rises."""
    execute_one(service.commands, a_bid(lot_id, "50.00", bidder="bob"))
    execute_one(service.commands, a_bid(lot_id, "60.00", bidder="carol"))
    assert service.queries.get_lot(lot_id).current_price >= 50


def test_one_read_of_the_lot_admits_the_bids_that_follow(service):
    lot_id = new_lot(service)
    counter = ReadCounter(service)
    for amount in ("10.00", "11.00", "12.00"):
        assert service.admission.submit_bid(a_bid(lot_id, amount))[1] is True
    assert counter.reads == 1


def test_an_unknown_lot_is_read_and_refused_every_time_and_admitted_once_it_exists(service):
    lot_id = f"lot-{uuid.uuid4().hex[:10]}"
    counter = ReadCounter(service)
    for _ in range(2):
        with pytest.raises(LotNotFound):
            service.admission.submit_bid(a_bid(lot_id, "10.00"))
    assert counter.reads == 2
    new_lot(service, lot_id)
    assert service.admission.submit_bid(a_bid(lot_id, "10.00"))[1] is True


def test_a_remembered_lot_still_refuses_an_amount_its_currency_cannot_have(service):
    lot_id = new_lot(service)
    service.admission.submit_bid(a_bid(lot_id, "10.00"))
    with pytest.raises(InvalidCommand):
        service.admission.submit_bid(a_bid(lot_id, "10.001"))


def test_a_risen_minimum_admits_what_the_remembered_one_would_ask_to_confirm(service):
    lot_id = new_lot(service)
    service.admission.submit_bid(a_bid(lot_id, "10.00"))  # remembers the minimum 10.00: at most 100.00 unconfirmed
    raise_the_price_to_50(service, lot_id)
    counter = ReadCounter(service)
    # 150.00 is far above the remembered minimum, not above ten times the one stored now.
    assert service.admission.submit_bid(a_bid(lot_id, "150.00"))[1] is True
    assert counter.reads == 1


def test_a_bid_far_above_the_minimum_stored_now_is_still_refused(service):
    lot_id = new_lot(service)
    service.admission.submit_bid(a_bid(lot_id, "10.00"))
    raise_the_price_to_50(service, lot_id)
    with pytest.raises(ConfirmationRequired) as refused:
        service.admission.submit_bid(a_bid(lot_id, "5000.00"))
    assert refused.value.details["minimum_bid"] != "10.00"  # asked on the lot as stored now
    assert service.admission.submit_bid(a_bid(lot_id, "5000.00"), confirmed=True)[1] is True


def test_a_bid_below_the_minimum_is_refused_with_it_and_neither_recorded_nor_queued(service):
    lot_id = new_lot(service)
    raise_the_price_to_50(service, lot_id)
    minimum = rules.minimum_bid(service.queries.get_lot(lot_id))
    low = a_bid(lot_id, "12.00", bidder="mallory")
    with pytest.raises(BelowMinimum) as refused:
        service.admission.submit_bid(low)
    assert refused.value.details["minimum_bid"] == f"{minimum:.2f}"
    assert service.commands.store.get_bid_request(low.bid_id) is None
    # The leader may still raise their maximum by less than an increment; the seller's bid
    # and a bid outside the lot's open time are the processor's to reject, with their reasons.
    assert service.admission.submit_bid(a_bid(lot_id, "60.50", bidder="carol"))[1] is True
    assert service.admission.submit_bid(a_bid(lot_id, "12.00", bidder="sam"))[1] is True
    late = a_bid(lot_id, "12.00", bidder="dave").model_copy(update={"placed_at": START + timedelta(minutes=11)})
    assert service.admission.submit_bid(late)[1] is True


def test_a_minimum_that_fell_since_it_was_remembered_refuses_nothing_the_lot_takes_now(service):
    """A retraction lowers the price: a bid below the remembered minimum is asked again of the lot as stored."""
    lot_id = new_lot(service)
    execute_one(service.commands, first := a_bid(lot_id, "20.00", bidder="bob"))
    execute_one(service.commands, second := a_bid(lot_id, "60.00", bidder="carol"))
    with pytest.raises(BelowMinimum):
        service.admission.submit_bid(a_bid(lot_id, "15.00"))  # remembers the lot at 21.00
    service.commands.retract_bid(RetractBid(lot_id=lot_id, bid_id=second.bid_id, retracted_by="root", reason="shill",
                                            requested_at=START + timedelta(minutes=1)), is_admin=True)
    assert first.bid_id and service.admission.submit_bid(a_bid(lot_id, "15.00"))[1] is True


def test_a_remembered_lot_is_read_again_once_older_than_the_bound():
    now = [0.0]
    snapshots = LruCache(size=2, max_age_s=5.0, clock=lambda: now[0])
    service = build_test_app()
    lot = service.queries.get_lot(new_lot(service))
    snapshots.put(lot.lot_id, lot)
    now[0] = 5.0
    assert snapshots.get(lot.lot_id) is lot
    now[0] = 5.01
    assert snapshots.get(lot.lot_id) is None


def test_remembered_lots_are_bounded_and_none_are_kept_with_no_age_allowed():
    service = build_test_app()
    lots = [service.queries.get_lot(new_lot(service)) for _ in range(3)]
    snapshots = LruCache(size=2, max_age_s=5.0)
    for lot in lots:
        snapshots.put(lot.lot_id, lot)
    assert [snapshots.get(lot.lot_id) is not None for lot in lots] == [False, True, True]
    never = LruCache(size=4096, max_age_s=0)
    never.put(lots[0].lot_id, lots[0])
    assert never.get(lots[0].lot_id) is None

