"""The local SQS for callers in its own process (the stack's event source mappings): the
same actions as over HTTP (`SqsApi`), answered as boto3 parses them, without the HTTP
round trip, request signing and JSON on both sides. Lambda's own pollers do not go
through the public endpoint either; applications and tools still do, with boto3.

    sqs = LocalSqs(".data/sqs").start()
    client = sqs.in_process_client()
    client.receive_message(QueueUrl=sqs.queue_url("q"), WaitTimeSeconds=1)
"""

from __future__ import annotations

import base64
from typing import Any

from botocore.exceptions import ClientError

from local.sqs.api import SqsApi
from local.sqs.errors import SqsError


class InProcessSqsClient:
    """The subset of boto3's SQS client the pollers use. Errors are botocore's
    `ClientError`, with the code and status a boto3 client would see."""

    def __init__(self, api: SqsApi, base_url: str) -> None:
        self._api = api
        self._base_url = base_url

    def receive_message(self, **request: Any) -> dict[str, Any]:
        answer = self._call("ReceiveMessage", request)
        for message in answer.get("Messages", []):
            for value in message.get("MessageAttributes", {}).values():
                # Binary values travel base64-encoded in JSON; boto3 hands them over as bytes.
                if "BinaryValue" in value:
                    value["BinaryValue"] = base64.b64decode(value["BinaryValue"])
                if "BinaryListValues" in value:
                    value["BinaryListValues"] = [base64.b64decode(item) for item in value["BinaryListValues"]]
        return answer

    def delete_message_batch(self, **request: Any) -> dict[str, Any]:
        return self._call("DeleteMessageBatch", request)

    def _call(self, action: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._api.handle(action, request, self._base_url)
        except SqsError as error:
            raise ClientError(
                {"Error": {"Code": error.code, "Message": error.message, "Type": "Sender" if error.sender_fault else "Receiver"},
                 "ResponseMetadata": {"HTTPStatusCode": error.status}},
                action,
            ) from None
