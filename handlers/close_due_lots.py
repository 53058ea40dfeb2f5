"""CloseDueLotsFunction: every minute, queue a CloseLot for each open lot whose close
time plus the grace has passed. The grace is longer than PlaceBid's timeout, so every
bid placed in time is already ahead of the CloseLot in the lot's message group."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.bootstrap import App, logger, metrics, serving
from ledger.commands import CloseLot
from ledger.values import format_time, utc_now


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> dict[str, int]:
    with serving(samsold) as app:
        now = utc_now()
        due_by = now - timedelta(seconds=app.close_grace_seconds)
        due = app.open_lots(closing_by=due_by)
        for lot in due.lots:
            app.command_queue.send_close(CloseLot(lot_id=lot.lot_id, requested_at=now), closes_at=lot.closes_at)
    metrics.add_metric(name="CloseCommandsQueued", unit=MetricUnit.Count, value=len(due.lots))
    logger.info("sweep done", extra={"queued": len(due.lots), "due_by": format_time(due_by), "unreadable": due.unreadable})
    return {"queued": len(due.lots), "unreadable": len(due.unreadable)}
