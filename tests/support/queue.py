"""The SQS calls the application makes, kept in memory for unit tests: one FIFO queue
with message groups and deduplication ids, enough for `ledger.command_queue.CommandQueue`
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
