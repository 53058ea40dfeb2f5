"""When a lot's CloseLot is sent: the close timer's rule (issue 13, "closing on time").

A lot is due to be closed once its current `closes_at` plus the close grace has passed (its
*deadline*): the grace is longer than PlaceBid's timeout, so every bid placed in time is
already ahead of the CloseLot in the lot's message group. A close timer is a message
"lot X is due at D" on a queue that delays each message until D; when it arrives, the lot's
current snapshot decides (`on_timer`): a lot that ended needs nothing, a lot past its
deadline is closed now, and a lot whose close time moved later (soft close) gets a new timer
at its new deadline, as long as the queue can delay that long; a later one is left to the
every-minute sweep, which arms timers for the lots whose deadline falls within
`TIMER_LOOKAHEAD_S` (longer than its period, so no lot falls between two sweeps).

Timers only say when to look: the processor still closes only a lot whose current close time
has passed (`rules.may_close`), and the command queue drops a repeated CloseLot for the same
close time, so a duplicate or early timer is harmless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from ledger.state import LotSnapshot

# The longest an SQS message can be delayed (DelaySeconds).
MAX_TIMER_DELAY_S = 900
# The sweep arms timers for deadlines this close; longer than its period (rate(1 minute)).
TIMER_LOOKAHEAD_S = 120

TimerAction = Literal["drop", "close", "rearm", "sweep"]


@dataclass(frozen=True)
class TimerDecision:
    """What a close timer that arrived does: `drop` (the lot ended or does not exist),
    `close` (send CloseLot now), `rearm` (a new timer `delay_s` from now, at the lot's new
    `deadline`), or `sweep` (the new deadline is beyond what a timer can wait for)."""

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
        return TimerDecision("close", deadline)
    if delay_s <= MAX_TIMER_DELAY_S:
        return TimerDecision("rearm", deadline, delay_s)
    return TimerDecision("sweep", deadline)


def timer_delay(closes_at: datetime, now: datetime, grace_s: int, lookahead_s: int = TIMER_LOOKAHEAD_S) -> int | None:
    """The delay of a timer to arm now for a lot closing at `closes_at`: its deadline is still
    ahead and within `lookahead_s` (a later one is the sweep's to arm); None otherwise."""
    deadline = close_deadline(closes_at, grace_s)
    if deadline <= now or deadline - now > timedelta(seconds=min(lookahead_s, MAX_TIMER_DELAY_S)):
        return None
    return seconds_until(deadline, now)
