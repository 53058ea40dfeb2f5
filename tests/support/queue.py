"""The SQS calls the application makes, kept in memory for unit tests: one FIFO queue
with message groups and deduplication ids, enough for `adapters.command_queue.CommandQueue`
and for handing the processor SQS-shaped batches (no Java, no server)."""

from __future__ import annotations

import itertools
from typing import Any

from tests.support.events import sqs_event

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/commands.fifo"
QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:commands.fifo"


class InMemorySqs:
    def __init__(self) -> None:
        self.waiting: list[dict[str, Any]] = []
        self._deduplicated: dict[str, str] = {}
        self._ids = itertools.count(1)

    def send_message(self, *, QueueUrl: str, MessageBody: str, MessageGroupId: str,  # noqa: N803 - boto3's names
                     MessageDeduplicationId: str, MessageAttributes: dict[str, Any] | None = None) -> dict[str, str]:
        assert QueueUrl == QUEUE_URL
        if MessageDeduplicationId in self._deduplicated:  # as SQS FIFO does within its 5-minute window
            return {"MessageId": self._deduplicated[MessageDeduplicationId]}
        message_id = f"m-{next(self._ids)}"
        self._deduplicated[MessageDeduplicationId] = message_id
        self.waiting.append({
            "MessageId": message_id,
            "ReceiptHandle": f"r-{message_id}",
            "Body": MessageBody,
            "Attributes": {"MessageGroupId": MessageGroupId, "MessageDeduplicationId": MessageDeduplicationId,
                           "ApproximateReceiveCount": "1"},
        })
        return {"MessageId": message_id}

    def next_batch(self, size: int = 10) -> dict[str, Any] | None:
        """The next up-to-`size` messages as the event source mapping hands them to the
        processor, or None when nothing waits. They leave the queue; `redeliver` puts a
        batch back as SQS does when a consumer never acknowledged it."""
        if not self.waiting:
            return None
        batch, self.waiting = self.waiting[:size], self.waiting[size:]
        return sqs_event(batch, QUEUE_ARN)

    def redeliver(self, event: dict[str, Any]) -> None:
        self.waiting[:0] = [
            {"MessageId": r["messageId"], "ReceiptHandle": r["receiptHandle"], "Body": r["body"],
             "Attributes": r["attributes"] | {"ApproximateReceiveCount": "2"}}
            for r in event["Records"]
        ]


TIMER_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/close-timers"
TIMER_QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:close-timers"


class InMemoryTimerSqs:
    """A standard queue of close timers, kept in memory: what was sent with which delay.
    Tests hand the timers to CloseTimerFunction when they choose (time is theirs to pass)."""

    def __init__(self) -> None:
        self.waiting: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's names
        assert QueueUrl == TIMER_QUEUE_URL and 1 <= len(Entries) <= 10
        for entry in Entries:
            assert 0 <= entry["DelaySeconds"] <= 900
            message_id = f"t-{next(self._ids)}"
            self.waiting.append({"MessageId": message_id, "ReceiptHandle": f"r-{message_id}", "Body": entry["MessageBody"],
                                 "DelaySeconds": entry["DelaySeconds"]})
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}

    def take_all(self) -> dict[str, Any]:
        """Every waiting timer as one SQS event (their delays taken as passed)."""
        taken, self.waiting = self.waiting, []
        return sqs_event(taken, TIMER_QUEUE_ARN)
