"""Fat-finger protection in the command service against DynamoDB Local: a bid far above
the minimum is refused before it is recorded unless confirmed, a retry of a confirmed bid
is the same bid, and the processor does not ask again."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from bootstrap import build
from ledger.domain import rules
from ledger.domain.commands import CreateLot, PlaceBid
from ledger.domain.errors import BidIdReused, ConfirmationRequired, InvalidCommand
from tests.support.app import execute_one


def new_lot(service, clock, **terms):
    terms = {"title": "Blue vase", "currency": "EUR", "starting_price": "10.00",
             "closes_at": clock.now + timedelta(minutes=30)} | terms
    return service.lots.create_lot(CreateLot(lot_id=f"lot-{uuid.uuid4().hex[:10]}", **terms), seller="sam")


def a_bid(lot_id, amount, at, bid_id=None, bidder="alice"):
    return PlaceBid(bid_id=bid_id or uuid.uuid4().hex, lot_id=lot_id, bidder=bidder, amount=amount, placed_at=at)


def test_a_bid_far_above_the_minimum_is_refused_and_nothing_is_recorded(service, clock):
    lot = new_lot(service, clock)
    bid = a_bid(lot.lot_id, "100.01", clock.now)
    with pytest.raises(ConfirmationRequired) as refused:
        service.admission.submit_bid(bid)
    assert refused.value.code == "CONFIRMATION_REQUIRED"
    assert refused.value.details == {
        "lot_id": lot.lot_id, "currency": "EUR", "amount": "100.01", "minimum_bid": "10.00",
        "triggered_by": "factor", "factor": 10, "factor_limit": "100.00", "cap": None,
    }
    assert "more than 10 times the minimum bid of 10.00 EUR" in refused.value.message
    assert service.admission.bid_status(bid.bid_id, "alice") is None
    # Exactly ten times needs no confirmation.
    assert service.admission.submit_bid(a_bid(lot.lot_id, "100.00", clock.now))[1] is True


def test_a_confirmed_bid_is_recorded_and_its_retry_needs_no_confirmation(service, clock):
    lot = new_lot(service, clock)
    bid = a_bid(lot.lot_id, "5000.00", clock.now)
    confirmed = bid.model_copy(update={"confirmed": True})  # recorded so: the queued bid must say so too
    assert service.admission.submit_bid(bid, confirmed=True) == (confirmed, True)
    assert service.admission.bid_status(bid.bid_id, "alice").status == "PENDING"
    # A retry of the same bid (a lost answer) without the flag: the recorded bid, not a question.
    retry = bid.model_copy(update={"placed_at": clock.advance(seconds=5)})
    assert service.admission.submit_bid(retry) == (confirmed, False)
    # The same id for another amount is another bid: refused as a reused key, as without confirmation.
    with pytest.raises(BidIdReused):
        service.admission.submit_bid(a_bid(lot.lot_id, "6000.00", clock.now, bid_id=bid.bid_id))


def test_a_refused_bid_sent_again_confirmed_is_recorded_under_its_id(service, clock):
    lot = new_lot(service, clock)
    bid = a_bid(lot.lot_id, "250.00", clock.now)
    with pytest.raises(ConfirmationRequired):
        service.admission.submit_bid(bid)
    assert service.admission.submit_bid(bid, confirmed=True) == (bid.model_copy(update={"confirmed": True}), True)


def test_the_currency_precision_is_checked_before_the_question(service, clock):
    lot = new_lot(service, clock)
    with pytest.raises(InvalidCommand) as refused:
        service.admission.submit_bid(a_bid(lot.lot_id, "1000.001", clock.now))
    assert refused.value.details["reason"] == rules.CURRENCY_PRECISION


def test_the_deployments_cap_for_the_lots_currency(ledger_env, clock):
    service = build(ledger_env | {"BID_CONFIRMATION_CAPS": "EUR=500,JPY=15000000"}, clock=clock)
    lot = new_lot(service, clock, starting_price="100.00")
    assert service.admission.submit_bid(a_bid(lot.lot_id, "500.00", clock.now))[1] is True
    with pytest.raises(ConfirmationRequired) as refused:
        service.admission.submit_bid(a_bid(lot.lot_id, "500.01", clock.now))
    details = refused.value.details
    assert (details["triggered_by"], details["cap"], details["factor_limit"]) == ("cap", "500.00", "1000.00")
    assert "above 500.00 EUR" in refused.value.message
    usd = new_lot(service, clock, currency="USD", starting_price="100.00")
    assert service.admission.submit_bid(a_bid(usd.lot_id, "900.00", clock.now))[1] is True


def test_the_processor_does_not_ask_again(service, clock):
    # The question was the API's; a queued bid was confirmed (or needed none) when it was asked.
    lot = new_lot(service, clock)
    outcome = execute_one(service.commands, a_bid(lot.lot_id, "5000.00", clock.now)).bid
    assert outcome is not None and outcome.status == "ACCEPTED"
