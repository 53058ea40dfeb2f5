"""SQS errors as the JSON 1.0 protocol sends them.

A JSON error carries the modeled shape name in `__type`; SQS also sends the legacy
query-protocol code in the `x-amzn-query-error` header, and botocore uses both: the
shape picks the exception class (`client.exceptions.QueueDoesNotExist`), the legacy
code becomes `Error.Code` (`AWS.SimpleQueueService.NonExistentQueue`), as against AWS.
"""

from __future__ import annotations

# Shape name -> legacy query error code, where they differ (botocore's service-2.json
# has the shapes; the codes are those SQS answers with).
_LEGACY_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
}


class SqsError(Exception):
    """An error answer: `shape` is the modeled name (or an unmodeled code such as
    `InvalidParameterValue`), `code` the legacy code clients see as `Error.Code`."""

    def __init__(self, shape: str, message: str, sender_fault: bool = True, status: int = 400) -> None:
        super().__init__(message)
        self.shape = shape
        self.message = message
        self.sender_fault = sender_fault
        self.status = status

    @property
    def code(self) -> str:
        return _LEGACY_CODES.get(self.shape, self.shape)

    def json_body(self) -> dict[str, str]:
        return {"__type": f"com.amazonaws.sqs#{self.shape}", "message": self.message}

    def query_error_header(self) -> str:
        return f"{self.code};{'Sender' if self.sender_fault else 'Receiver'}"


def invalid_parameter(name: str, value: object, reason: str) -> SqsError:
    return SqsError("InvalidParameterValue", f"Value {value} for parameter {name} is invalid. Reason: {reason}")


def missing_parameter(name: str) -> SqsError:
    return SqsError("MissingParameter", f"The request must contain the parameter {name}.")


def queue_does_not_exist() -> SqsError:
    return SqsError("QueueDoesNotExist", "The specified queue does not exist.")


def receipt_handle_invalid(reason: str) -> SqsError:
    return SqsError("ReceiptHandleIsInvalid", f"The input receipt handle is invalid: {reason}")
