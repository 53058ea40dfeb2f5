"""Puts close timers on the close-timer queue (SQS standard): one message per timer,
"lot X closing at T", delayed until the lot's close deadline (`ledger.domain.closing`). A standard
queue because only it delays each message on its own (DelaySeconds, up to 900 s); order and
exactly-once do not matter here: a timer only says when to look at the lot, and the CloseLot
it may lead to goes into the lot's FIFO message group with its deduplication id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ledger.domain.closing import MAX_TIMER_DELAY_S, CloseTimer

SQS_MAX_BATCH = 10  # SendMessageBatch's limit


class CloseTimerQueue:
    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self.sqs = sqs_client
        self.queue_url = queue_url

    def arm(self, timers: Sequence[tuple[str, datetime, int]]) -> None:
        """Queue a timer for each (lot id, close time, delay in seconds), up to 10 per request;
        raises if SQS refused any, so the caller's work is retried rather than a timer lost."""
        for start in range(0, len(timers), SQS_MAX_BATCH):
            chunk = timers[start : start + SQS_MAX_BATCH]
            entries = [
                {
                    "Id": str(index),
                    "MessageBody": CloseTimer(lot_id=lot_id, closes_at=closes_at).model_dump_json(),
                    "DelaySeconds": max(0, min(delay_s, MAX_TIMER_DELAY_S)),
                }
                for index, (lot_id, closes_at, delay_s) in enumerate(chunk)
            ]
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if response.get("Failed"):
                raise CloseTimersRefused(response["Failed"])


class CloseTimersRefused(Exception):
    """SQS refused some timers: the entries it named in `Failed`."""

    def __init__(self, failed: list[dict[str, Any]]) -> None:
        super().__init__(f"the close-timer queue refused {len(failed)} timers: {failed[:3]}")
        self.failed = failed
