"""LogSequencerFunction: the public log's only writer and signer.

- Fed by the Bids table's stream (lot snapshots inserted or modified: every command's
  transaction writes its lot's snapshot with its events), it appends the changed lots' new
  events to the log, each lot's in version order (`ledger.service.public_log.PublicLog.sequence`).
  The mapping's batching window keeps an event's wait under a minute.
- Every minute (its schedule) it signs a checkpoint when the tree grew since the last one.
- Invoked directly with `{"lot_ids": [...], "publish": true}` (`samsold log checkpoint`
  against AWS), it sequences those lots' pending events and signs a checkpoint now.

While another invocation holds the log's lease it raises LogBusy: the stream retries the
batch, and the schedule's next minute covers a missed signature.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bootstrap import App, app_for, logger, metrics, traced


def _changed_lots(records: list[dict[str, Any]]) -> list[str]:
    lots = {record["dynamodb"]["Keys"]["PK"]["S"].removeprefix("LOT#") for record in records}
    return sorted(lots)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> dict[str, Any]:
    log = app_for(samsold).public_log
    if "Records" in event:
        appended = log.sequence(_changed_lots(event["Records"]))
        metrics.add_metric(name="LogLeavesAppended", unit=MetricUnit.Count, value=appended)
        return {"appended": appended}
    lot_ids = event.get("lot_ids") or []
    appended = log.sequence([str(lot) for lot in lot_ids]) if isinstance(lot_ids, list) else 0
    note = log.publish(force=bool(event.get("force")))
    if note is not None:
        logger.info("checkpoint", extra={"checkpoint": note.split("\n")[1]})
    return {"appended": appended, "checkpoint": note}
