"""Fat-finger protection, decided in memory: when a bid needs the bidder's confirmation
(more than 10 times the minimum next bid, or above the deployment's cap for the lot's
currency), and how strictly the caps' setting is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bootstrap import build
from ledger.domain import rules
from ledger.domain.commands import CreateLot, PlaceBid
from ledger.domain.lot import Lot
from ledger.domain.state import LotSnapshot
from tests.support.app import IN_MEMORY

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NO_CAPS: dict[str, Decimal] = {}


def a_lot(currency: str = "EUR", starting_price: str = "10.00", first_bid: str | None = None) -> LotSnapshot:
    lot = Lot.create(
        CreateLot(lot_id="lot-1", title="Blue vase", currency=currency, starting_price=starting_price,
                  opens_at=T0, closes_at=T0 + timedelta(hours=1)),
        seller="sam",
        now=T0,
    )
    if first_bid is not None:
        bid = PlaceBid(bid_id="b1", lot_id=lot.id, bidder="alice", amount=first_bid, placed_at=T0 + timedelta(minutes=1))
        assert lot.place_bid(bid, now=T0, aliases={}).status == "ACCEPTED"
    return lot.state


def question(lot: LotSnapshot, amount: str, caps: dict[str, Decimal] = NO_CAPS, confirmed: bool = False):
    return rules.needs_confirmation(lot, Decimal(amount), confirmed, caps)


def test_before_the_first_bid_the_starting_price_is_the_measure():
    lot = a_lot(starting_price="10.00")
    assert rules.minimum_bid(lot) == Decimal("10.00")
    assert question(lot, "100.00") is None  # exactly 10 times is fine
    asked = question(lot, "100.01")
    assert asked == rules.ConfirmationQuestion(
        triggered_by=rules.CONFIRMATION_BY_FACTOR, minimum=Decimal("10.00"), factor_limit=Decimal("100.00"), cap=None
    )


def test_after_a_bid_the_minimum_next_bid_is_the_measure():
    lot = a_lot(starting_price="10.00", first_bid="10.00")
    minimum = rules.minimum_bid(lot)
    assert minimum > Decimal("10.00")  # the price plus its band's increment
    limit = minimum * 10
    assert question(lot, str(limit)) is None
    asked = question(lot, str(limit + Decimal("0.01")))
    assert asked is not None and (asked.minimum, asked.factor_limit) == (minimum, limit)


def test_a_confirmed_bid_is_never_asked_about():
    lot = a_lot()
    assert question(lot, "999999999.00", {"EUR": Decimal("50.00")}, confirmed=True) is None


def test_the_cap_of_the_lots_currency_asks_above_it():
    lot = a_lot(starting_price="10.00")
    caps = {"EUR": Decimal("50.00")}
    assert question(lot, "50.00", caps) is None  # at the cap is fine
    asked = question(lot, "50.01", caps)
    assert asked is not None and (asked.triggered_by, asked.cap) == (rules.CONFIRMATION_BY_CAP, Decimal("50.00"))
    # Past both, the factor is named first (the page asks about the minimum bid).
    assert question(lot, "100.01", caps).triggered_by == rules.CONFIRMATION_BY_FACTOR


def test_another_currencys_cap_does_not_apply():
    lot = a_lot(starting_price="10.00")
    assert question(lot, "60.00", {"USD": Decimal("50.00")}) is None


def test_a_currency_without_minor_units_keeps_its_own_digits():
    lot = a_lot(currency="JPY", starting_price="1000")
    caps = {"JPY": Decimal("5000")}
    assert question(lot, "5000", caps) is None
    assert question(lot, "5001", caps).cap == Decimal("5000")
    asked = question(lot, "10001")
    assert asked is not None and str(asked.factor_limit) == "10000" and str(asked.minimum) == "1000"


def test_caps_are_read_per_currency_in_its_digits():
    assert rules.parse_confirmation_caps("") == {}
    caps = rules.parse_confirmation_caps("EUR=100000,USD=100000.5,JPY=15000000,KWD=1.25")
    assert {code: str(cap) for code, cap in caps.items()} == {
        "EUR": "100000.00", "USD": "100000.50", "JPY": "15000000", "KWD": "1.250",
    }


@pytest.mark.parametrize(
    "setting",
    [
        "EUR", "EUR=", "=100", "EUR=100,", ",EUR=100", "EUR=100 ", " EUR=100", "EUR=100, USD=100", "EUR = 100",
        "eur=100", "XXX=100", "EURO=100", "EUR=100,EUR=200", "EUR=0", "EUR=0.00", "EUR=-1", "EUR=1e5",
        "EUR=01", "EUR=1.001", "JPY=1.5", "EUR=100;USD=100", "EUR=100=1",
    ],
)
def test_a_wrong_caps_setting_is_refused(setting):
    with pytest.raises(ValueError):
        rules.parse_confirmation_caps(setting)


def test_a_wrong_caps_setting_stops_the_application_at_start_up():
    with pytest.raises(ValueError, match="BID_CONFIRMATION_CAPS='EUR=ten': .*decimal"):
        build(IN_MEMORY | {"BID_CONFIRMATION_CAPS": "EUR=ten"})
    assert build(IN_MEMORY | {"BID_CONFIRMATION_CAPS": "JPY=15000000"}).admission.confirmation_caps == {"JPY": Decimal(15000000)}
