"""CloseDueLotsFunction: every minute, queue a CloseLot for each open lot whose close
time plus the grace has passed, and arm a close timer (`handlers.close_timers`) for each
whose deadline enters the next `TIMER_LOOKAHEAD_S`, so it is closed on time rather than at a
later sweep (the rule: `ledger.domain.closing.sweep`). The grace is longer than PlaceBid's
timeout, so every bid placed in time is already ahead of the CloseLot in the lot's message
group. The timers close lots within seconds; this sweep is the safety net for a lot whose
timer was lost or is too far."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bootstrap import App, app_for, logger, metrics, traced
from ledger.domain.closing import sweep, sweep_reads_until
from ledger.domain.commands import CloseLot
from ledger.domain.values import format_time, utc_now


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> dict[str, int]:
    app = app_for(samsold)
    now = utc_now()
    # One read serves both: the lots due now, and those due within the lookahead.
    listed = app.open_lots(closing_by=sweep_reads_until(now, app.close_grace_seconds))
    plan = sweep(listed.lots, now, app.close_grace_seconds)
    for lot in plan.due:
        app.command_queue.send_close(CloseLot(lot_id=lot.lot_id, requested_at=now), closes_at=lot.closes_at)
    if plan.timers:
        app.close_timers.arm(plan.timers)
    metrics.add_metric(name="CloseCommandsQueued", unit=MetricUnit.Count, value=len(plan.due))
    metrics.add_metric(name="CloseTimersArmed", unit=MetricUnit.Count, value=len(plan.timers))
    logger.info("sweep done", extra={"queued": len(plan.due), "timers": len(plan.timers), "due_by": format_time(plan.due_by),
                                     "unreadable": listed.unreadable})
    return {"queued": len(plan.due), "timers": len(plan.timers), "unreadable": len(listed.unreadable)}
