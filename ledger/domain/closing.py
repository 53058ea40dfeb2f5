"""When a lot's CloseLot is sent, so that a lot closes on time: the close timers' rules and the sweep's.

A lot is due to be closed once its current `closes_at` plus the close grace has passed (its
*deadline*): the grace is longer than PlaceBid's timeout, so every bid placed in time is
already ahead of the CloseLot in the lot's message group. A close timer is a message
"lot X is due at D" on a queue that delays each message until D; when it arrives, the lot's
current snapshot decides (`on_timer`): a lot that ended needs nothing, a lot past its
deadline is closed now, and a lot whose close time moved later (soft close) gets a new timer
at its new deadline when that is near, or is left to the every-minute sweep otherwise.

Who arms timers, so that each lot has few (a timer holds no state we could look up, so
duplicates are avoided by timing): POST /lots for a lot due within `TIMER_LOOKAHEAD_S`; the
sweep for lots whose deadline is between `SWEEP_ARMS_AFTER_S` and `TIMER_LOOKAHEAD_S` away
(a band wider than its period plus its jitter, so each deadline is in it at one or two
sweeps); an arriving timer for a moved deadline only when it is within `REARM_WITHIN_S`,
too near for the band to be sure to catch it (a farther one reaches the band at a later
sweep). A timer that closes a lot arms one more, `FOLLOW_UP_S` later: a bid placed in time
may still wait in a deep queue ahead of that CloseLot and extend the lot, which makes the
CloseLot do nothing; the follow-up finds the lot still open and closes it or re-arms at its
new deadline, instead of leaving it to the next sweep (up to a minute late). So a lot never
extended has at most four timers (the follow-up is dropped: one read), and an extension adds
one to three.

Timers only say when to look: the processor still closes only a lot whose current close time
has passed (`rules.may_close`), and the command queue drops a repeated CloseLot for the same
close time, so a duplicate or early timer is harmless. A lost timer costs at most a sweep
period: the sweep still queues the CloseLot of every lot past its deadline itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ledger.domain.commands import Identifier
from ledger.domain.state import LotSnapshot
from ledger.domain.values import UtcTime

# The longest an SQS message can be delayed (DelaySeconds).
MAX_TIMER_DELAY_S = 900
# The sweep's period: template.yaml's rate(1 minute) for CloseDueLotsFunction.
SWEEP_PERIOD_S = 60
# How late a scheduled run may start (EventBridge starts a rate schedule within seconds).
SWEEP_JITTER_S = 10
# Deadlines the sweep arms timers for: more than SWEEP_ARMS_AFTER_S and at most
# TIMER_LOOKAHEAD_S away; POST /lots arms any deadline within TIMER_LOOKAHEAD_S.
TIMER_LOOKAHEAD_S = 120
SWEEP_ARMS_AFTER_S = 40
# A timer whose lot's deadline moved re-arms itself when the new one is this near: a
# farther one is still more than SWEEP_ARMS_AFTER_S away at the next sweep, which arms it.
REARM_WITHIN_S = SWEEP_ARMS_AFTER_S + SWEEP_PERIOD_S + SWEEP_JITTER_S
# After a timer queues a lot's CloseLot, the next look at the lot (see the module's docstring):
# long enough for the CloseLot to be decided when the queue keeps up, short against the sweep.
FOLLOW_UP_S = 10

# A timer's message is far smaller than SQS's limit; a body larger than this is not a timer.
MAX_TIMER_BYTES = 1024


class CloseTimer(BaseModel):
    """A timer's message: the lot, and the close time it was armed for (for the logs: the
    lot's current close time decides when it arrives)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    lot_id: Identifier
    closes_at: UtcTime


TimerAction = Literal["drop", "close", "rearm", "sweep"]


@dataclass(frozen=True)
class TimerDecision:
    """What a close timer that arrived does: `drop` (the lot ended or does not exist),
    `close` (send CloseLot now, and a follow-up timer `delay_s` from now), `rearm` (a new timer `delay_s` from now, at the lot's new
    `deadline`), or `sweep` (the new deadline is far enough for the sweep to arm it)."""

    action: TimerAction
    deadline: datetime | None = None
    delay_s: int = 0


def close_deadline(closes_at: datetime, grace_s: int) -> datetime:
    """When a lot closing at `closes_at` is due to be closed: every bid placed in time is queued by then."""
    return closes_at + timedelta(seconds=grace_s)


def seconds_until(deadline: datetime, now: datetime) -> int:
    """Whole seconds from `now` to `deadline`, rounded up so a timer never arrives early (0 when past)."""
    return max(0, math.ceil((deadline - now).total_seconds()))


def on_timer(lot: LotSnapshot | None, now: datetime, grace_s: int) -> TimerDecision:
    """The decision when a lot's close timer arrives at `now`, from the lot's current snapshot."""
    if lot is None or lot.status != "OPEN":
        return TimerDecision("drop")
    deadline = close_deadline(lot.closes_at, grace_s)
    delay_s = seconds_until(deadline, now)
    if delay_s == 0:
        return TimerDecision("close", deadline, FOLLOW_UP_S)
    if delay_s <= REARM_WITHIN_S:
        return TimerDecision("rearm", deadline, delay_s)
    return TimerDecision("sweep", deadline)


def timer_delay(closes_at: datetime, now: datetime, grace_s: int) -> int | None:
    """The delay of the timer POST /lots arms for a new lot closing at `closes_at`: its
    deadline is ahead and within TIMER_LOOKAHEAD_S (a later one is the sweep's); None otherwise."""
    return _delay_within(closes_at, now, grace_s, 0, TIMER_LOOKAHEAD_S)


def sweep_timer_delay(closes_at: datetime, now: datetime, grace_s: int) -> int | None:
    """The delay of the timer the sweep arms for an open lot closing at `closes_at`: its
    deadline is in the sweep's band (see the module's docstring); None otherwise."""
    return _delay_within(closes_at, now, grace_s, SWEEP_ARMS_AFTER_S, TIMER_LOOKAHEAD_S)


def _delay_within(closes_at: datetime, now: datetime, grace_s: int, after_s: int, within_s: int) -> int | None:
    ahead = close_deadline(closes_at, grace_s) - now
    if not timedelta(seconds=after_s) < ahead <= timedelta(seconds=within_s):
        return None
    return seconds_until(now + ahead, now)


@dataclass(frozen=True)
class SweepPlan:
    """What one sweep does: queue the CloseLot of each lot in `due` (past its deadline, as
    of `due_by` = now less the grace), and arm `timers` (lot id, close time, delay in seconds)
    for the lots whose deadline is in the sweep's band."""

    due_by: datetime
    due: list[LotSnapshot]
    timers: list[tuple[str, datetime, int]]


def sweep_reads_until(now: datetime, grace_s: int) -> datetime:
    """The latest close time the sweep lists open lots up to: one read serves both the lots
    due now and those due within the lookahead."""
    return now - timedelta(seconds=grace_s) + timedelta(seconds=TIMER_LOOKAHEAD_S)


def sweep(lots: Sequence[LotSnapshot], now: datetime, grace_s: int) -> SweepPlan:
    """Of the open `lots` (listed up to `sweep_reads_until`), those to close now and those
    that get a timer (`sweep_timer_delay`)."""
    due_by = now - timedelta(seconds=grace_s)
    due = [lot for lot in lots if lot.closes_at <= due_by]
    timers = [(lot.lot_id, lot.closes_at, delay_s) for lot in lots if lot.closes_at > due_by
              and (delay_s := sweep_timer_delay(lot.closes_at, now, grace_s)) is not None]
    return SweepPlan(due_by, due, timers)
