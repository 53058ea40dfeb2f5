"""CloseTimerFunction: a lot's close timer arrived (the close-timer queue held it until the
lot's deadline). One read of the lot's snapshot, then `ledger.domain.closing.on_timer` decides:
drop it, queue the lot's CloseLot into its FIFO message group now (with a follow-up timer, in
case a bid still queued ahead of it extends the lot), arm a new timer at the
lot's new deadline (soft close moved it), or leave the lot to the every-minute sweep.

Powertools' batch processor walks the messages; a timer whose read or send failed is
reported as a partial batch failure and comes back from the queue (after 3 receives, its
DLQ; the sweep still closes the lot). A message that is not a timer can never succeed, so
it is logged, counted and acknowledged."""

from __future__ import annotations

from functools import partial
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from bootstrap import App, app_for, count_unreadable, logger, metrics, traced
from ledger.domain.closing import MAX_TIMER_BYTES, CloseTimer, on_timer
from ledger.domain.commands import CloseLot
from ledger.domain.errors import LotUnreadable
from ledger.domain.values import format_time, utc_now
from ledger.domain.wire import MalformedJson, parse_json_object

processor = BatchProcessor(event_type=EventType.SQS)

METRIC_OF_ACTION = {"drop": "CloseTimersDropped", "close": "CloseCommandsQueued",
                    "rearm": "CloseTimersRearmed", "sweep": "CloseTimersLeftToSweep"}


def timer_in(record: SQSRecord) -> CloseTimer | None:
    try:
        return CloseTimer.model_validate(parse_json_object(record.body, max_bytes=MAX_TIMER_BYTES))
    except MalformedJson as error:
        problem = error.message
    except ValidationError as error:
        problem = str(error.errors(include_url=False, include_input=False)[:3])
    logger.error("dropped a close-timer message that is not a timer", extra={"message_id": record.message_id,
                                                                             "problem": problem})
    metrics.add_metric(name="CloseTimerMessagesDropped", unit=MetricUnit.Count, value=1)
    return None


def record_handler(record: SQSRecord, app: App) -> None:
    timer = timer_in(record)
    if timer is None:
        return
    now = utc_now()
    try:
        lot = app.queries.find_lot(timer.lot_id)
    except LotUnreadable:
        # Logged with its key by the ledger; no later read of this timer can do better.
        count_unreadable([timer.lot_id])
        return
    decision = on_timer(lot, now, app.close_grace_seconds)
    if lot is not None and decision.action == "close":
        app.command_queue.send_close(CloseLot(lot_id=lot.lot_id, requested_at=now), closes_at=lot.closes_at)
        app.close_timers.arm([(lot.lot_id, lot.closes_at, decision.delay_s)])
    elif lot is not None and decision.action == "rearm":
        app.close_timers.arm([(lot.lot_id, lot.closes_at, decision.delay_s)])
    metrics.add_metric(name=METRIC_OF_ACTION[decision.action], unit=MetricUnit.Count, value=1)
    logger.info("close timer", extra={"lot_id": timer.lot_id, "armed_for": format_time(timer.closes_at),
                                      "action": decision.action, "delay_s": decision.delay_s,
                                      "deadline": None if decision.deadline is None else format_time(decision.deadline)})


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=partial(record_handler, app=app_for(samsold)),
                                    processor=processor, context=context)
