"""Lambda's schedule (an EventBridge rule): `Schedule` invokes its function with a
"Scheduled Event" every period (or with the template's Input)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from local.lambda_.polling import PollerThread
from local.sam.model import Invoke, ScheduleEventSource

log = logging.getLogger("samsold.local.lambda_.schedule")



class Schedule(PollerThread):
    def __init__(
        self, source: ScheduleEventSource, *, region: str, account_id: str, invoke: Invoke,
        every_s: float | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.source = source
        self.name = f"schedule:{source.function}"
        self._region = region
        self._account_id = account_id
        self._invoke = invoke
        self._period_s = every_s or source.rate_s
        self._clock = clock

    def poll_once(self) -> None:
        if self._stopping.wait(self._period_s):
            return
        try:
            self._invoke(self.source.function, self.event())
        except Exception as error:  # an asynchronous invocation: the error is logged, not raised
            log.warning("%s: %s", self.name, error)

    def event(self) -> dict[str, Any]:
        if self.source.input is not None:
            return self.source.input
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self._account_id,
            "time": self._clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [f"arn:aws:events:{self._region}:{self._account_id}:rule/{self.source.function}-schedule"],
            "detail": {},
        }
