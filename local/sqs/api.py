"""The SQS actions in the AWS JSON 1.0 protocol: a request's JSON object in, the
response's JSON object out, member names as in botocore's sqs service-2.json."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from local.sqs.attributes import (
    COMPUTED,
    SETTABLE,
    md5_of_message_attributes,
    message_attributes_size,
    select_message_attributes,
    validate_message_attributes,
)
from local.sqs.errors import SqsError, invalid_parameter, missing_parameter
from local.sqs.store import NewMessage, Queue, Received, SqsStore

Json = dict[str, Any]

MAX_BATCH_ENTRIES = 10
_BATCH_ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
# The characters SQS allows in a message body (XML 1.0 characters).
_INVALID_BODY_CHARACTER = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class SqsApi:
    def __init__(self, store: SqsStore) -> None:
        self.store = store
        self._actions: dict[str, Callable[[Json, str], Json]] = {
            "CreateQueue": self.create_queue,
            "DeleteQueue": self.delete_queue,
            "GetQueueUrl": self.get_queue_url,
            "GetQueueAttributes": self.get_queue_attributes,
            "SetQueueAttributes": self.set_queue_attributes,
            "ListQueues": self.list_queues,
            "ListDeadLetterSourceQueues": self.list_dead_letter_source_queues,
            "PurgeQueue": self.purge_queue,
            "SendMessage": self.send_message,
            "SendMessageBatch": self.send_message_batch,
            "ReceiveMessage": self.receive_message,
            "DeleteMessage": self.delete_message,
            "DeleteMessageBatch": self.delete_message_batch,
            "ChangeMessageVisibility": self.change_message_visibility,
            "ChangeMessageVisibilityBatch": self.change_message_visibility_batch,
            "StartMessageMoveTask": self.start_message_move_task,
            "ListMessageMoveTasks": self.list_message_move_tasks,
        }

    def handle(self, action: str, request: Json, base_url: str) -> Json:
        """`base_url` is what queue URLs in responses start with, e.g. "http://127.0.0.1:45123"."""
        handler = self._actions.get(action)
        if handler is None:
            raise SqsError("InvalidAction", f"The action {action} is not valid for this endpoint.")
        return handler(request, base_url)

    def _url(self, base_url: str, name: str) -> str:
        return f"{base_url}/{self.store.account_id}/{name}"

    # --- queues ---------------------------------------------------------------------

    def create_queue(self, request: Json, base_url: str) -> Json:
        name = _string(request, "QueueName")
        self.store.create_queue(name, _map(request, "Attributes"))
        return {"QueueUrl": self._url(base_url, name)}

    def delete_queue(self, request: Json, base_url: str) -> Json:
        self.store.delete_queue(_queue_name(request))
        return {}

    def get_queue_url(self, request: Json, base_url: str) -> Json:
        queue = self.store.get_queue(_string(request, "QueueName"))
        return {"QueueUrl": self._url(base_url, queue.name)}

    def get_queue_attributes(self, request: Json, base_url: str) -> Json:
        name = _queue_name(request)
        requested = set(_list(request, "AttributeNames"))
        unknown = requested - SETTABLE - COMPUTED - {"All"}
        if unknown:
            raise SqsError("InvalidAttributeName", f"Unknown Attribute {', '.join(sorted(unknown))}.")
        attributes = self._all_attributes(self.store.get_queue(name))
        if "All" in requested:
            return {"Attributes": attributes}
        return {"Attributes": {key: value for key, value in attributes.items() if key in requested}}

    def _all_attributes(self, queue: Queue) -> dict[str, str]:
        counts = self.store.counts(queue.name)
        return queue.attributes | {
            "QueueArn": self.store.arn(queue.name),
            "ApproximateNumberOfMessages": str(counts.visible),
            "ApproximateNumberOfMessagesNotVisible": str(counts.in_flight),
            "ApproximateNumberOfMessagesDelayed": str(counts.delayed),
            "CreatedTimestamp": str(queue.created_at_s),
            "LastModifiedTimestamp": str(queue.modified_at_s),
        }

    def set_queue_attributes(self, request: Json, base_url: str) -> Json:
        self.store.set_queue_attributes(_queue_name(request), _map(request, "Attributes"))
        return {}

    def list_queues(self, request: Json, base_url: str) -> Json:
        names = self.store.list_queues(_optional_string(request, "QueueNamePrefix") or "")
        return self._page_of_urls(request, base_url, names, "QueueUrls")

    def list_dead_letter_source_queues(self, request: Json, base_url: str) -> Json:
        names = self.store.dead_letter_sources(_queue_name(request))
        return self._page_of_urls(request, base_url, names, "queueUrls")

    def _page_of_urls(self, request: Json, base_url: str, names: list[str], key: str) -> Json:
        """Pages by name: NextToken is the last name of the previous page."""
        after = _optional_string(request, "NextToken")
        page_size = _int(request, "MaxResults", 1, 1000)
        names = [name for name in names if after is None or name > after]
        page = names if page_size is None else names[:page_size]
        response: Json = {key: [self._url(base_url, name) for name in page]}
        if len(page) < len(names):
            response["NextToken"] = page[-1]
        return response

    def purge_queue(self, request: Json, base_url: str) -> Json:
        self.store.purge(_queue_name(request))
        return {}

    # --- messages -------------------------------------------------------------------

    def send_message(self, request: Json, base_url: str) -> Json:
        name = _queue_name(request)
        return self._send(self.store.get_queue(name), request)

    def send_message_batch(self, request: Json, base_url: str) -> Json:
        queue = self.store.get_queue(_queue_name(request))
        entries = _batch_entries(request)
        total_size = sum(len(str(entry.get("MessageBody", "")).encode()) for entry in entries)
        if total_size > int(queue.attributes["MaximumMessageSize"]):
            raise SqsError("BatchRequestTooLong", "Batch requests cannot be longer than the maximum message size.")
        return _batch_result(entries, lambda entry: self._send(queue, entry))

    def _send(self, queue: Queue, request: Json) -> Json:
        message = _new_message(request, int(queue.attributes["MaximumMessageSize"]))
        sent = self.store.send(queue.name, message)
        response: Json = {"MessageId": sent.message_id, "MD5OfMessageBody": _md5(message.body)}
        if message.message_attributes:
            response["MD5OfMessageAttributes"] = md5_of_message_attributes(message.message_attributes)
        if message.trace_header is not None:
            response["MD5OfMessageSystemAttributes"] = md5_of_message_attributes(
                {"AWSTraceHeader": {"DataType": "String", "StringValue": message.trace_header}}
            )
        if queue.fifo:
            response["SequenceNumber"] = sent.sequence_number
        return response

    def receive_message(self, request: Json, base_url: str) -> Json:
        name = _queue_name(request)
        max_messages = _int(request, "MaxNumberOfMessages", 1, 10) or 1
        visibility_timeout_s = _int(request, "VisibilityTimeout", 0, 43_200)
        wait_time_s = _int(request, "WaitTimeSeconds", 0, 20)
        queue = self.store.get_queue(name)
        received = self.store.receive(name, max_messages, visibility_timeout_s, wait_time_s)
        if not received:
            return {}
        system_names = set(_list(request, "AttributeNames")) | set(_list(request, "MessageSystemAttributeNames"))
        attribute_names = _list(request, "MessageAttributeNames")
        return {"Messages": [self._message(queue, message, system_names, attribute_names) for message in received]}

    def _message(self, queue: Queue, message: Received, system_names: set[str], attribute_names: list[str]) -> Json:
        shaped: Json = {
            "MessageId": message.message_id,
            "ReceiptHandle": message.receipt_handle,
            "MD5OfBody": _md5(message.body),
            "Body": message.body,
        }
        system = self._system_attributes(queue, message)
        wanted = system if "All" in system_names else {key: system[key] for key in system.keys() & system_names}
        if wanted:
            shaped["Attributes"] = wanted
        selected = select_message_attributes(message.message_attributes, attribute_names)
        if selected:
            shaped["MessageAttributes"] = selected
            shaped["MD5OfMessageAttributes"] = md5_of_message_attributes(selected)
        return shaped

    def _system_attributes(self, queue: Queue, message: Received) -> dict[str, str]:
        values = {
            "SenderId": self.store.account_id,
            "SentTimestamp": str(message.sent_at_ms),
            "ApproximateReceiveCount": str(message.receive_count),
            "ApproximateFirstReceiveTimestamp": str(message.first_receive_at_ms),
            "SequenceNumber": message.sequence_number if queue.fifo else None,
            "MessageDeduplicationId": message.deduplication_id,
            "MessageGroupId": message.group_id,
            "AWSTraceHeader": message.trace_header,
            "DeadLetterQueueSourceArn": message.dead_letter_source_arn,
        }
        return {key: value for key, value in values.items() if value is not None}

    def delete_message(self, request: Json, base_url: str) -> Json:
        self.store.delete(_queue_name(request), _string(request, "ReceiptHandle"))
        return {}

    def delete_message_batch(self, request: Json, base_url: str) -> Json:
        name = _queue_name(request)
        self.store.get_queue(name)
        return _batch_result(_batch_entries(request), lambda entry: self._delete(name, entry))

    def _delete(self, name: str, request: Json) -> Json:
        self.store.delete(name, _string(request, "ReceiptHandle"))
        return {}

    def change_message_visibility(self, request: Json, base_url: str) -> Json:
        self._change_visibility(_queue_name(request), request)
        return {}

    def change_message_visibility_batch(self, request: Json, base_url: str) -> Json:
        name = _queue_name(request)
        self.store.get_queue(name)
        return _batch_result(_batch_entries(request), lambda entry: self._change_visibility(name, entry))

    def _change_visibility(self, name: str, request: Json) -> Json:
        timeout_s = _int(request, "VisibilityTimeout", 0, 43_200)
        if timeout_s is None:
            raise missing_parameter("VisibilityTimeout")
        self.store.change_visibility(name, _string(request, "ReceiptHandle"), timeout_s)
        return {}

    # --- dead-letter redrive --------------------------------------------------------

    def start_message_move_task(self, request: Json, base_url: str) -> Json:
        source = _name_in_arn(_string(request, "SourceArn"))
        destination_arn = _optional_string(request, "DestinationArn")
        destination = _name_in_arn(destination_arn) if destination_arn else None
        with _missing_queue_as_resource_not_found():
            task = self.store.start_move_task(source, destination)
        return {"TaskHandle": task.handle}

    def list_message_move_tasks(self, request: Json, base_url: str) -> Json:
        source = _name_in_arn(_string(request, "SourceArn"))
        limit = _int(request, "MaxResults", 1, 10) or 1
        with _missing_queue_as_resource_not_found():
            tasks = self.store.move_tasks(source)[:limit]
        results = []
        for task in tasks:
            result: Json = {
                "TaskHandle": task.handle,
                "Status": "COMPLETED",  # tasks finish before StartMessageMoveTask returns
                "SourceArn": task.source_arn,
                "ApproximateNumberOfMessagesMoved": task.moved,
                "ApproximateNumberOfMessagesToMove": task.to_move,
                "StartedTimestamp": task.started_at_ms,
            }
            if task.destination_arn:
                result["DestinationArn"] = task.destination_arn
            results.append(result)
        return {"Results": results}


@contextmanager
def _missing_queue_as_resource_not_found() -> Iterator[None]:
    """The move-task actions name queues by ARN and answer a missing one with this error."""
    try:
        yield
    except SqsError as error:
        if error.shape != "QueueDoesNotExist":
            raise
        raise SqsError("ResourceNotFoundException", "The queue named by the ARN does not exist.") from None


# --- request parsing -------------------------------------------------------------------


def _optional_string(request: Json, name: str) -> str | None:
    value = request.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid_parameter(name, value, "must be a string")
    return value


def _string(request: Json, name: str) -> str:
    value = _optional_string(request, name)
    if not value:
        raise missing_parameter(name)
    return value


def _int(request: Json, name: str, low: int, high: int) -> int | None:
    value = request.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_parameter(name, value, f"must be an integer from {low} to {high}")
    return value


def _list(request: Json, name: str) -> list[str]:
    value = request.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid_parameter(name, value, "must be a list of strings")
    return value


def _map(request: Json, name: str) -> Json:
    value = request.get(name) or {}
    if not isinstance(value, dict):
        raise invalid_parameter(name, value, "must be a map")
    return value


def _queue_name(request: Json) -> str:
    """Any URL whose last path segment is the queue name will do."""
    return _string(request, "QueueUrl").rstrip("/").rsplit("/", 1)[-1]


def _name_in_arn(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _new_message(request: Json, max_size: int) -> NewMessage:
    body = _string(request, "MessageBody")
    if _INVALID_BODY_CHARACTER.search(body):
        raise SqsError("InvalidMessageContents", "Invalid binary character in the message body.")
    attributes = validate_message_attributes(_map(request, "MessageAttributes"))
    if len(body.encode()) + message_attributes_size(attributes) > max_size:
        raise invalid_parameter("MessageBody", "...", f"Message must be shorter than {max_size} bytes.")
    trace = _map(request, "MessageSystemAttributes").get("AWSTraceHeader")
    return NewMessage(
        body=body,
        message_attributes=attributes,
        trace_header=trace.get("StringValue") if isinstance(trace, dict) else None,
        group_id=_optional_string(request, "MessageGroupId"),
        deduplication_id=_optional_string(request, "MessageDeduplicationId"),
        delay_s=_int(request, "DelaySeconds", 0, 900),
    )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _batch_entries(request: Json) -> list[Json]:
    entries = request.get("Entries") or []
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise invalid_parameter("Entries", entries, "must be a list of entries")
    if not entries:
        raise SqsError("EmptyBatchRequest", "There should be at least one entry in the request.")
    if len(entries) > MAX_BATCH_ENTRIES:
        raise SqsError("TooManyEntriesInBatchRequest",
                       f"Maximum number of entries per request are {MAX_BATCH_ENTRIES}. You have sent {len(entries)}.")
    ids = [entry.get("Id") for entry in entries]
    for entry_id in ids:
        if not isinstance(entry_id, str) or not _BATCH_ENTRY_ID.match(entry_id):
            raise SqsError("InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, "
                                                  "hyphens and underscores. It can be at most 80 letters long.")
    if len(set(ids)) != len(ids):
        raise SqsError("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")
    return entries


def _batch_result(entries: list[Json], apply: Callable[[Json], Json]) -> Json:
    """Applies each entry on its own: one entry's error is reported in Failed, not raised."""
    successful, failed = [], []
    for entry in entries:
        try:
            successful.append({"Id": entry["Id"]} | apply(entry))
        except SqsError as error:
            failed.append(
                {"Id": entry["Id"], "SenderFault": error.sender_fault, "Code": error.code, "Message": error.message}
            )
    return {"Successful": successful, "Failed": failed}
