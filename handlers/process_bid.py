"""ProcessBidFunction: decides the queued commands of each lot, in order.

Powertools' FIFO processor walks the batch and, on a failure, skips only the rest of
that message group. The first record of a lot decides all of that lot's records in
the batch in one transaction; the others pick up their share of the result.
Deterministic failures never block a group: an unparseable message, one for a lot that
does not exist or cannot be read, or a bid or purchase that no bid-request record of the
API's matches (`ledger.domain.queued`: anyone allowed to send to the queue could have
written it) is parked and acknowledged; a bid that cannot win becomes BidRejected. Only transient errors fail records, which SQS redelivers
(and after 3 receives moves to the DLQ).

A bid far above the minimum is not checked for confirmation here: that was the API's
question to the bidder before queueing (`BidAdmission.admit_bid`), so a queued bid was
confirmed or needed none, and the lot's price may have moved since it was asked.
"""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from bootstrap import App, app_for, logger, metrics, traced
from ledger.domain.commands import CommandResult, LotCommandMessage
from ledger.domain.errors import LotNotFound, LotUnreadable
from ledger.domain.wire import MalformedJson, parse_json_object

processor = SqsFifoPartialProcessor(skip_group_on_error=True)


class LotBatch:
    """The records of one batch, grouped by lot, decided once per lot by `samsold`'s command loop."""

    def __init__(self, records: list[dict[str, Any]], samsold: App) -> None:
        self.samsold = samsold
        self.records_of: dict[str, list[SQSRecord]] = defaultdict(list)
        for raw in records:
            record = SQSRecord(raw)
            self.records_of[record.attributes.message_group_id or record.message_id].append(record)
        self.results: dict[str, CommandResult | None] = {}

    def result_for(self, record: SQSRecord) -> CommandResult | None:
        if record.message_id not in self.results:
            self._decide_group(record.attributes.message_group_id or record.message_id)
        return self.results[record.message_id]

    def _decide_group(self, group: str) -> None:
        parsed = []
        for record in self.records_of[group]:
            command = parse(record, self.samsold)
            if command is None:
                self.results[record.message_id] = None
            else:
                parsed.append((record, command))
        if not parsed:
            return
        lot_id = parsed[0][1].lot_id
        try:
            results = self.samsold.commands.decide_queued(lot_id, [command for _, command in parsed])
        except (LotNotFound, LotUnreadable) as error:
            # No such lot, or its stored state cannot be read: retrying can never decide
            # these, and three failures would only move them to the DLQ; keep them, with the
            # reason, for inspection. (Transient errors still fail the records: SQS retries.)
            for record, _ in parsed:
                park(record, str(error), self.samsold)
                self.results[record.message_id] = None
            return
        for (record, _), result in zip(parsed, results, strict=True):
            if result.parked is not None:
                # A bid the API never admitted (no bid-request record says so): never decided.
                metrics.add_metric(name="QueuedBidsUnmatched", unit=MetricUnit.Count, value=1)
                park(record, result.parked, self.samsold)
                self.results[record.message_id] = None
                continue
            self.results[record.message_id] = result
        metrics.add_metric(name="LotBatchSize", unit=MetricUnit.Count, value=len(parsed))


def parse(record: SQSRecord, samsold: App) -> Any:
    # The strict reader first: pydantic's own JSON parser would let a duplicate key's
    # last value win. Whatever it refuses can never be decided, so it is parked.
    try:
        message = LotCommandMessage.model_validate(parse_json_object(record.body))
    except MalformedJson as error:
        park(record, f"not a lot command: {error.message}", samsold)
        return None
    except ValidationError as error:
        park(record, f"not a lot command: {error.errors(include_url=False, include_input=False)[:3]}", samsold)
        return None
    if message.command.lot_id != record.attributes.message_group_id:
        park(record, "the message group is not the command's lot", samsold)
        return None
    return message.command


def park(record: SQSRecord, reason: str, samsold: App) -> None:
    logger.error("parked a message that can never be processed", extra={"message_id": record.message_id, "reason": reason})
    metrics.add_metric(name="MessagesParked", unit=MetricUnit.Count, value=1)
    samsold.commands.park(record.message_id, record.body, reason, dict(record.raw_event.get("attributes", {})))


def record_handler(record: SQSRecord, batch: LotBatch) -> None:
    result = batch.result_for(record)
    if result is not None and result.bid is not None and result.changed:
        bid = result.bid
        name = "BidsAccepted" if bid.status == "ACCEPTED" else f"BidsRejected_{bid.reason}"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> PartialItemFailureResponse:
    batch = LotBatch(event.get("Records", []), app_for(samsold))
    metrics.add_metric(name="BatchSize", unit=MetricUnit.Count, value=len(event.get("Records", [])))
    return process_partial_response(event=event, record_handler=partial(record_handler, batch=batch), processor=processor,
                                    context=context)
