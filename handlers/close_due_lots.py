"""CloseDueLotsFunction: every minute, queue a CloseLot for each open lot whose close
time plus the grace has passed, and arm a close timer (`handlers.close_timers`) for each
whose deadline enters the next `TIMER_LOOKAHEAD_S` (`ledger.domain.closing.sweep_timer_delay`), so
it is closed on time rather than at a later sweep. The grace is longer than PlaceBid's timeout, so every bid placed in
time is already ahead of the CloseLot in the lot's message group. The timers close lots
within seconds; this sweep is the safety net for a lot whose timer was lost or is too far."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.bootstrap import App, logger, metrics, serving
from ledger.domain.closing import TIMER_LOOKAHEAD_S, sweep_timer_delay
from ledger.domain.commands import CloseLot
from ledger.domain.values import format_time, utc_now


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> dict[str, int]:
    with serving(samsold) as app:
        now = utc_now()
        due_by = now - timedelta(seconds=app.close_grace_seconds)
        # One read serves both: the lots due now, and those due within the lookahead.
        listed = app.open_lots(closing_by=due_by + timedelta(seconds=TIMER_LOOKAHEAD_S))
        due = [lot for lot in listed.lots if lot.closes_at <= due_by]
        timers = [(lot.lot_id, lot.closes_at, delay_s) for lot in listed.lots if lot.closes_at > due_by
                  and (delay_s := sweep_timer_delay(lot.closes_at, now, app.close_grace_seconds)) is not None]
        for lot in due:
            app.command_queue.send_close(CloseLot(lot_id=lot.lot_id, requested_at=now), closes_at=lot.closes_at)
        if timers:
            app.close_timers.arm(timers)
    metrics.add_metric(name="CloseCommandsQueued", unit=MetricUnit.Count, value=len(due))
    metrics.add_metric(name="CloseTimersArmed", unit=MetricUnit.Count, value=len(timers))
    logger.info("sweep done", extra={"queued": len(due), "timers": len(timers), "due_by": format_time(due_by),
                                     "unreadable": listed.unreadable})
    return {"queued": len(due), "timers": len(timers), "unreadable": len(listed.unreadable)}
