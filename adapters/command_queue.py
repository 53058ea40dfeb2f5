"""Puts lot commands on the SQS FIFO queue: one message group per lot keeps each
lot's commands in order; the deduplication id drops a re-sent command."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.domain.commands import BuyNow, CloseLot, LotCommandMessage, PlaceBid
from ledger.domain.values import format_time


class CommandQueue:
    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self.sqs = sqs_client
        self.queue_url = queue_url

    def send_bid(self, command: PlaceBid | BuyNow, correlation_id: str | None = None) -> str:
        return self._send(command, f"bid-{command.bid_id}", correlation_id)

    def send_close(self, command: CloseLot, closes_at: datetime, correlation_id: str | None = None) -> str:
        # One close per close time: the sweep may ask every minute until the lot closes,
        # and a close time moved by soft close makes a new command.
        return self._send(command, f"close-{command.lot_id}-{format_time(closes_at)}"[:128], correlation_id)

    def _send(self, command: PlaceBid | BuyNow | CloseLot, deduplication_id: str, correlation_id: str | None) -> str:
        attributes = {}
        if correlation_id:
            attributes["correlation_id"] = {"DataType": "String", "StringValue": correlation_id}
        response = self.sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=LotCommandMessage(command=command).model_dump_json(),
            MessageGroupId=command.lot_id,
            MessageDeduplicationId=deduplication_id,
            MessageAttributes=attributes,
        )
        return str(response["MessageId"])
