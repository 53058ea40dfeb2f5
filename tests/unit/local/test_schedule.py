"""The local schedule (EventBridge's part): a scheduled invocation that fails is not raised
but logged as a warning naming the function and its error, which `samsold dev` prints (it
shows warnings): so a mismatch LogMonitorFunction finds shows in its output."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from local.lambda_.functions import FunctionError
from local.lambda_.schedule import Schedule
from local.sam.model import ScheduleEventSource


def test_a_failed_scheduled_invocation_is_logged_as_a_warning_naming_the_function_and_error(caplog) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(function: str, event: dict[str, Any]) -> Any:
        calls.append((function, event))
        raise FunctionError(function, "LogMismatch", "lot vase version 4: stored hash ab is not the logged cd")

    schedule = Schedule(ScheduleEventSource("LogMonitorFunction", 60.0), region="us-east-1", account_id="000000000000",
                        invoke=invoke, every_s=0.001)
    with caplog.at_level(logging.WARNING, logger="samsold.local.lambda_.schedule"):
        schedule.poll_once()
    assert [(function, event["detail-type"]) for function, event in calls] == [("LogMonitorFunction", "Scheduled Event")]
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == ("schedule:LogMonitorFunction: LogMonitorFunction: LogMismatch: "
                                   "lot vase version 4: stored hash ab is not the logged cd")


@pytest.fixture(autouse=True)
def _propagate() -> Any:
    """caplog hears the runtime's loggers however an earlier test configured logging."""
    logger = logging.getLogger("samsold.local")
    propagate, logger.propagate = logger.propagate, True
    yield
    logger.propagate = propagate
