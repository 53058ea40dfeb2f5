"""FanOutFunction: posts a lot's update to one page of its watchers, handed over by
BroadcastLotChangesFunction through the fan-out queue when the audience is larger than
one invocation should serve.

Powertools' batch processor walks the messages; a page whose posts raised (a throttled
Connections table, say) is reported as a partial batch failure and comes back from the
queue (after 3 receives, its DLQ). Posting a page again is harmless: the browser page
shows only a newer `lot.version`. A message that is not a page can never succeed, so it
is logged, counted and acknowledged."""

from __future__ import annotations

from functools import partial
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from bootstrap import SQS_MAX_BYTES, App, FanOutPage, app_for, logger, metrics, traced
from ledger.domain.wire import MalformedJson, parse_json_object

processor = BatchProcessor(event_type=EventType.SQS)


def page_in(record: SQSRecord) -> FanOutPage | None:
    try:
        return FanOutPage.model_validate(parse_json_object(record.body, max_bytes=SQS_MAX_BYTES))
    except MalformedJson as error:
        problem = error.message
    except ValidationError as error:
        problem = str(error.errors(include_url=False, include_input=False)[:3])
    logger.error("dropped a fan-out message that is not a page", extra={"message_id": record.message_id,
                                                                          "problem": problem})
    metrics.add_metric(name="FanOutMessagesDropped", unit=MetricUnit.Count, value=1)
    return None


def record_handler(record: SQSRecord, app: App) -> None:
    page = page_in(record)
    if page is None:
        return
    data = page.data()
    sent = app.post_all((connection_id, [data]) for connection_id in app.connections.watching_page(page.watchers()))
    # The broadcast's own metric: summed over both functions it is the whole audience reached.
    metrics.add_metric(name="BroadcastFanOut", unit=MetricUnit.Count, value=sent)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=partial(record_handler, app=app_for(samsold)),
                                    processor=processor, context=context)
