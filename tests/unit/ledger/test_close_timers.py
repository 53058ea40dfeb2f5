"""The close timer's rule (`ledger.domain.closing`): when a lot's timer
arrives, the lot's current snapshot decides whether to drop it, close now, re-arm at a new
deadline or leave the lot to the sweep; and which lots get a timer at all."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ledger.domain.closing import (
    FOLLOW_UP_S,
    MAX_TIMER_DELAY_S,
    REARM_WITHIN_S,
    SWEEP_ARMS_AFTER_S,
    SWEEP_JITTER_S,
    SWEEP_PERIOD_S,
    TIMER_LOOKAHEAD_S,
    on_timer,
    sweep_timer_delay,
    timer_delay,
)
from ledger.domain.commands import CancelLot, CloseLot, CreateLot, PlaceBid
from ledger.domain.lot import Lot

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CLOSES = T0 + timedelta(minutes=10)
GRACE = 8


def make_lot(**terms) -> Lot:
    terms = {"title": "Clock", "currency": "EUR", "starting_price": "10.00", "opens_at": T0, "closes_at": CLOSES,
             "soft_close_window_s": 120, "soft_close_extension_s": 120} | terms
    return Lot.create(CreateLot(lot_id="clock", **terms), seller="sam", now=T0)


def after_close(seconds: float) -> datetime:
    return CLOSES + timedelta(seconds=seconds)


def test_a_timer_for_a_lot_that_does_not_exist_is_dropped():
    assert on_timer(None, after_close(GRACE), GRACE).action == "drop"


def test_a_timer_for_a_closed_or_cancelled_lot_is_dropped():
    closed = make_lot()
    assert closed.close(CloseLot(lot_id="clock", requested_at=after_close(GRACE)))
    cancelled = make_lot()
    cancelled.cancel(CancelLot(lot_id="clock", cancelled_by="ada", requested_at=T0), is_admin=True)
    for lot in (closed, cancelled):
        assert on_timer(lot.state, after_close(GRACE), GRACE).action == "drop"


@pytest.mark.parametrize("late_s", [0, 0.001, 1, 3600])
def test_a_timer_at_or_after_the_deadline_closes_the_lot_now(late_s):
    decision = on_timer(make_lot().state, after_close(GRACE + late_s), GRACE)
    assert (decision.action, decision.deadline, decision.delay_s) == ("close", after_close(GRACE), FOLLOW_UP_S)


def test_a_timer_within_the_grace_does_not_close_it_yet():
    """Bids placed in time may still be on their way to the queue: the close waits for the grace."""
    decision = on_timer(make_lot().state, after_close(GRACE - 0.5), GRACE)
    assert (decision.action, decision.delay_s) == ("rearm", 1)


def test_a_lot_extended_by_a_late_bid_is_re_armed_at_its_new_deadline():
    lot = make_lot()
    placed = CLOSES - timedelta(seconds=30)
    outcome = lot.place_bid(PlaceBid(bid_id=uuid.uuid4().hex, lot_id="clock", bidder="bob", amount="10.00", placed_at=placed),
                            now=placed, aliases={})
    assert outcome.status == "ACCEPTED"
    new_closes = placed + timedelta(seconds=120)
    assert lot.state.closes_at == new_closes  # the rule the timer follows, not the closes_at it was armed for
    decision = on_timer(lot.state, after_close(GRACE), GRACE)
    assert decision.action == "rearm"
    assert decision.deadline == new_closes + timedelta(seconds=GRACE)
    assert decision.delay_s == (new_closes - CLOSES).total_seconds() == 90


def test_an_early_timer_rounds_its_new_delay_up_so_it_never_arrives_before_the_deadline():
    decision = on_timer(make_lot().state, after_close(GRACE - 2.4), GRACE)
    assert (decision.action, decision.delay_s) == ("rearm", 3)


def test_a_moved_deadline_too_far_for_a_timer_to_be_needed_is_left_to_the_sweep():
    """A timer re-arms only when the sweep might not arm the new deadline in time."""
    assert on_timer(make_lot().state, after_close(GRACE) - timedelta(seconds=REARM_WITHIN_S + 1), GRACE).action == "sweep"
    decision = on_timer(make_lot().state, after_close(GRACE) - timedelta(seconds=REARM_WITHIN_S), GRACE)
    assert (decision.action, decision.delay_s) == ("rearm", REARM_WITHIN_S)


def test_a_new_lot_gets_a_timer_for_any_deadline_within_the_lookahead():
    deadline = after_close(GRACE)
    assert timer_delay(CLOSES, deadline - timedelta(seconds=TIMER_LOOKAHEAD_S + 1), GRACE) is None  # the sweep's
    assert timer_delay(CLOSES, deadline - timedelta(seconds=TIMER_LOOKAHEAD_S), GRACE) == TIMER_LOOKAHEAD_S
    assert timer_delay(CLOSES, deadline - timedelta(seconds=9.5), GRACE) == 10
    assert timer_delay(CLOSES, deadline, GRACE) is None  # due now: the sweep sends its CloseLot itself
    assert timer_delay(CLOSES, deadline + timedelta(seconds=1), GRACE) is None


def test_the_sweep_arms_only_deadlines_entering_its_lookahead():
    deadline = after_close(GRACE)
    assert sweep_timer_delay(CLOSES, deadline - timedelta(seconds=TIMER_LOOKAHEAD_S + 1), GRACE) is None
    assert sweep_timer_delay(CLOSES, deadline - timedelta(seconds=TIMER_LOOKAHEAD_S), GRACE) == TIMER_LOOKAHEAD_S
    assert sweep_timer_delay(CLOSES, deadline - timedelta(seconds=SWEEP_ARMS_AFTER_S + 1), GRACE) == SWEEP_ARMS_AFTER_S + 1
    # Armed already: by the sweep before (it was in the band then), at creation, or by its own re-armed timer.
    assert sweep_timer_delay(CLOSES, deadline - timedelta(seconds=SWEEP_ARMS_AFTER_S), GRACE) is None
    assert sweep_timer_delay(CLOSES, deadline, GRACE) is None


@pytest.mark.parametrize("phase_s", [0, 7.5, 19, 33, 59.9])
@pytest.mark.parametrize("late_s", [0, SWEEP_JITTER_S])
def test_every_deadline_is_armed_by_one_or_two_sweeps_whatever_their_phase(phase_s, late_s):
    """Sweeps every period (each up to the jitter late) meet every deadline in their band once or twice."""
    deadline = after_close(GRACE)
    sweeps = [deadline - timedelta(seconds=1000 - phase_s - k * SWEEP_PERIOD_S - (late_s if k % 2 else 0)) for k in range(20)]
    armed = [at for at in sweeps if sweep_timer_delay(CLOSES, at, GRACE) is not None]
    assert 1 <= len(armed) <= 2


@pytest.mark.parametrize("moved_ahead_s", [REARM_WITHIN_S + 0.5, 200, 899, 5000])
def test_a_deadline_a_timer_leaves_to_the_sweep_is_armed_by_a_later_sweep(moved_ahead_s):
    """The next sweep comes within a period plus its jitter: the deadline is then still beyond the band's start."""
    left_at = after_close(GRACE) - timedelta(seconds=moved_ahead_s)
    assert on_timer(make_lot().state, left_at, GRACE).action == "sweep"
    for next_sweep_in in (0.1, 30, SWEEP_PERIOD_S + SWEEP_JITTER_S):
        sweeps = [left_at + timedelta(seconds=next_sweep_in + k * SWEEP_PERIOD_S) for k in range(100)]
        assert any(sweep_timer_delay(CLOSES, at, GRACE) is not None for at in sweeps)


def test_the_sweeps_band_is_wider_than_its_period_and_jitter():
    """(tests/integration/template checks the template's rate is SWEEP_PERIOD_S.)"""
    assert TIMER_LOOKAHEAD_S - SWEEP_ARMS_AFTER_S > SWEEP_PERIOD_S + SWEEP_JITTER_S
    assert TIMER_LOOKAHEAD_S <= MAX_TIMER_DELAY_S
