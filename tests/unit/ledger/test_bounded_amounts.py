"""No bid can leave a lot with a minimum next bid the API cannot take: the rule
(`rules.amount_too_large`), the processor's AMOUNT_TOO_LARGE, and a property over any
bids that every accepted one leaves a minimum the API's amount pattern takes."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain import rules
from ledger.domain.values import DECIMAL_PATTERN, format_decimal
from tests.unit.ledger.test_lot_rules import bid, make_lot

LARGEST_TEXT = re.compile(DECIMAL_PATTERN)


def takes(amount: Decimal) -> bool:
    """Whether the API's amount pattern takes the amount."""
    return LARGEST_TEXT.fullmatch(format_decimal(amount)) is not None


def test_the_largest_maximum_allowed_leaves_a_minimum_the_api_takes_and_one_unit_more_does_not():
    for terms in ({"currency": "EUR"}, {"currency": "JPY", "starting_price": "1000"}, {"currency": "EUR", "increment": "0.01"},
                  {"currency": "KWD", "starting_price": "1.000"}):
        lot = make_lot(**terms).state
        largest = rules.largest_bid_allowed(lot)
        assert not rules.amount_too_large(lot, largest) and takes(rules.one_increment_above(lot, largest))
        unit = Decimal(1).scaleb(largest.as_tuple().exponent)
        assert rules.amount_too_large(lot, largest + unit)


def test_the_processor_rejects_a_maximum_whose_next_step_the_api_could_not_take():
    lot = make_lot()
    outcome = bid(lot, "alice", "999999999999999999.99")
    assert (outcome.status, outcome.reason) == ("REJECTED", rules.AMOUNT_TOO_LARGE)
    assert lot.state.current_price is None and lot.state.leader is None
    # The largest allowed is accepted, and the lot can still be bid on.
    largest = format_decimal(rules.largest_bid_allowed(lot.state))
    assert bid(lot, "alice", largest).status == "ACCEPTED"
    assert takes(rules.minimum_bid(lot.state))
    assert bid(lot, "bob", format_decimal(rules.minimum_bid(lot.state))).status == "ACCEPTED"


def test_a_leader_cannot_raise_past_the_bound_either():
    lot = make_lot()
    bid(lot, "alice", "20.00")
    outcome = bid(lot, "alice", "999999999999999950.00")
    assert (outcome.status, outcome.reason) == ("REJECTED", rules.AMOUNT_TOO_LARGE)


amounts = st.one_of(
    st.decimals(min_value=Decimal("10.00"), max_value=Decimal("999999999999999999.99"), places=2),
    st.decimals(min_value=Decimal("999999999999990000.00"), max_value=Decimal("999999999999999999.99"), places=2),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["alice", "bob", "carol"]), amounts), min_size=1, max_size=6))
def test_after_any_bids_the_minimum_next_bid_is_an_amount_the_api_takes(bids):
    lot = make_lot()
    for bidder, amount in bids:
        bid(lot, bidder, format_decimal(amount))
        assert takes(rules.minimum_bid(lot.state))
        if lot.state.leader_maximum is not None:
            assert takes(rules.one_increment_above(lot.state, lot.state.leader_maximum))
