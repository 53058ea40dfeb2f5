"""LogMonitorFunction: the public log's monitor, every minute (its schedule).

Each run checks the newest checkpoint against the last one it accepted and the events in
storage (`ledger.service.public_log.monitor_once`; its state in LogMonitorTable). A mismatch
is logged at error level, one line each naming the lot and version, counted in the
`LogMonitorProblems` metric, and fails the invocation, so Lambda's Errors metric raises
LogMonitorAlarm; locally the error shows in `samsold dev`'s output and functions.log.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bootstrap import App, app_for, logger, metrics, traced
from ledger.service.public_log import monitor_once


class LogMismatch(RuntimeError):
    """The public log, or the events stored, are not what the last accepted checkpoint says."""


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> dict[str, Any]:
    app = app_for(samsold)
    run = monitor_once(app.public_log, app.log_monitor_state)  # None: nothing published yet
    problems = run.problems if run is not None else []
    metrics.add_metric(name="LogMonitorProblems", unit=MetricUnit.Count, value=len(problems))
    for problem in problems:
        logger.error("the public log monitor found a mismatch", extra={"problem": problem})
    if problems:
        raise LogMismatch("; ".join(problems))
    return {"size": run.size if run is not None else 0}
