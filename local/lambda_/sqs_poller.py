"""Lambda's SQS event source mapping: `SqsPoller` long-polls a queue, invokes with an SQS
event, deletes what succeeded (all of a batch, or all but its `batchItemFailures` with
ReportBatchItemFailures); on an error it deletes nothing, so the messages come back after
their visibility timeout."""

from __future__ import annotations

import logging
from typing import Any, cast

from local.lambda_.polling import PollerThread, b64
from local.sam.model import Invoke, SqsEventSource

log = logging.getLogger("samsold.local.lambda_.sqs_poller")

SQS_MAX_BATCH = 10  # ReceiveMessage's limit


class SqsPoller(PollerThread):
    def __init__(
        self, source: SqsEventSource, *, sqs_client: Any, queue_url: str, queue_arn: str, region: str,
        invoke: Invoke, wait_time_s: int = 1,
    ) -> None:
        super().__init__()
        self.source = source
        self.name = f"sqs-poller:{source.queue}->{source.function}"
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._invoke = invoke
        self._wait_time_s = wait_time_s

    def poll_once(self) -> None:
        received = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(self.source.batch_size, SQS_MAX_BATCH),
            WaitTimeSeconds=self._wait_time_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return
        records = [sqs_record(message, self._queue_arn, self._region) for message in received]
        try:
            result = self._invoke(self.source.function, {"Records": records})
        except Exception as error:
            log.warning("%s: %d messages stay on the queue: %s", self.name, len(records), error)
            return
        self._delete([r for r in records if r["messageId"] not in self._failed_ids(records, result)])

    def _failed_ids(self, records: list[dict[str, Any]], result: Any) -> set[str]:
        """The records to leave on the queue; a malformed response fails the whole batch."""
        every_id = {record["messageId"] for record in records}
        if not self.source.report_batch_item_failures or not isinstance(result, dict):
            return set()
        failures = result.get("batchItemFailures") or []
        failed = {item.get("itemIdentifier") if isinstance(item, dict) else None for item in failures}
        if not failed <= every_id:
            log.warning("%s: batchItemFailures names unknown or empty ids; the whole batch fails", self.name)
            return every_id
        return cast(set[str], failed)  # each is one of every_id

    def _delete(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), SQS_MAX_BATCH):
            chunk = records[start:start + SQS_MAX_BATCH]
            response = self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                log.warning("%s: delete failed: %s", self.name, failure)


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A received message as a record of Lambda's SQS event."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {name: _lambda_message_attribute(value)
                              for name, value in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # Lambda writes attributes in camelCase, binary values base64-encoded.
    attribute: dict[str, Any] = {
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": [b64(item) for item in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = b64(value["BinaryValue"])
    return attribute
