"""Queue attributes (validation, defaults, the redrive policy) and message attributes
(validation, selection, the MD5 digest SQS returns), as SQS defines them."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from dataclasses import dataclass
from typing import Any

from local.sqs.errors import SqsError, invalid_parameter

QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
FIFO_SUFFIX = ".fifo"

# Integer attributes and their allowed ranges (SQS quotas).
_INT_RANGES = {
    "VisibilityTimeout": (0, 43_200),
    "MaximumMessageSize": (1_024, 1_048_576),
    "MessageRetentionPeriod": (60, 1_209_600),
    "DelaySeconds": (0, 900),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
_BOOLEANS = {"FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled"}
_FIFO_ONLY = {"ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
# Stored and returned as given: nothing here acts on them.
_OPAQUE = {"Policy", "KmsMasterKeyId", "RedriveAllowPolicy", "DeduplicationScope", "FifoThroughputLimit"}
SETTABLE = set(_INT_RANGES) | _BOOLEANS | _OPAQUE | {"RedrivePolicy"}
COMPUTED = {
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
}

_STANDARD_DEFAULTS = {
    "VisibilityTimeout": "30",
    "MaximumMessageSize": "262144",
    "MessageRetentionPeriod": "345600",
    "DelaySeconds": "0",
    "ReceiveMessageWaitTimeSeconds": "0",
    "SqsManagedSseEnabled": "false",
}
_FIFO_DEFAULTS = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}


@dataclass(frozen=True)
class RedrivePolicy:
    dead_letter_target_arn: str
    max_receive_count: int

    @property
    def dead_letter_queue_name(self) -> str:
        return self.dead_letter_target_arn.rsplit(":", 1)[-1]


def validate_queue_name(name: str, fifo: bool) -> None:
    base = name[: -len(FIFO_SUFFIX)] if name.endswith(FIFO_SUFFIX) else name
    if not QUEUE_NAME.match(base):
        raise invalid_parameter(
            "QueueName", name, "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )
    if fifo != name.endswith(FIFO_SUFFIX):
        raise invalid_parameter(
            "QueueName", name, "The name of a FIFO queue (and only of a FIFO queue) must end with the .fifo suffix"
        )


def canonical_queue_attributes(given: dict[str, Any], fifo: bool) -> dict[str, str]:
    """The settable attributes in the string form SQS returns them; raises on unknown
    names, values out of range and FIFO-only attributes on a standard queue."""
    canonical = {}
    for name, value in given.items():
        if name not in SETTABLE or (name in _FIFO_ONLY and not fifo):
            raise SqsError("InvalidAttributeName", f"Unknown Attribute {name}.")
        canonical[name] = _canonical_value(name, value)
    if canonical.get("FifoQueue") == "false":
        del canonical["FifoQueue"]  # a standard queue does not show the attribute at all
    return canonical


def _canonical_value(name: str, value: Any) -> str:
    if name in _INT_RANGES:
        low, high = _INT_RANGES[name]
        number = _as_int(value)
        if number is None or not low <= number <= high:
            raise SqsError("InvalidAttributeValue", f"Invalid value for the parameter {name}.")
        return str(number)
    if name in _BOOLEANS:
        if str(value).lower() not in ("true", "false"):
            raise SqsError("InvalidAttributeValue", f"Invalid value for the parameter {name}.")
        return str(value).lower()
    if name == "RedrivePolicy":
        return _redrive_policy_json(parse_redrive_policy(str(value)))
    return str(value)


def _as_int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def parse_redrive_policy(text: str) -> RedrivePolicy:
    try:
        raw = json.loads(text)
        arn = raw["deadLetterTargetArn"]
        count = _as_int(raw["maxReceiveCount"])
    except (ValueError, KeyError, TypeError):
        raise SqsError("InvalidAttributeValue", "Invalid value for the parameter RedrivePolicy.") from None
    if not isinstance(arn, str) or not arn.startswith("arn:") or count is None or not 1 <= count <= 1000:
        raise SqsError("InvalidAttributeValue", "Invalid value for the parameter RedrivePolicy.")
    return RedrivePolicy(arn, count)


def _redrive_policy_json(policy: RedrivePolicy) -> str:
    return json.dumps(
        {"deadLetterTargetArn": policy.dead_letter_target_arn, "maxReceiveCount": policy.max_receive_count},
        separators=(",", ":"),
    )


def effective_queue_attributes(configured: dict[str, str]) -> dict[str, str]:
    """Configured attributes over the defaults of the queue's kind."""
    defaults = dict(_STANDARD_DEFAULTS)
    if configured.get("FifoQueue") == "true":
        defaults.update(_FIFO_DEFAULTS)
    return defaults | configured


# --- message attributes -------------------------------------------------------------

MAX_MESSAGE_ATTRIBUTES = 10
_DATA_TYPE = re.compile(r"^(String|Number|Binary)(\..+)?$")


def validate_message_attributes(attributes: Any) -> dict[str, dict[str, str]]:
    if not isinstance(attributes, dict):
        raise invalid_parameter("MessageAttributes", attributes, "must be a map")
    if len(attributes) > MAX_MESSAGE_ATTRIBUTES:
        raise invalid_parameter("MessageAttributes", len(attributes),
                                f"Number of message attributes exceeds the allowed maximum: {MAX_MESSAGE_ATTRIBUTES}")
    for name, value in attributes.items():
        kind = _attribute_kind(value)
        if kind is None:
            raise invalid_parameter(f"MessageAttribute.{name}", value, "DataType must be String, Number or Binary")
        needed = "BinaryValue" if kind == "Binary" else "StringValue"
        if not isinstance(value.get(needed), str):
            raise invalid_parameter(f"MessageAttribute.{name}", value, f"A {kind} attribute needs a {needed}")
    return attributes


def _attribute_kind(value: Any) -> str | None:
    if not isinstance(value, dict) or not isinstance(value.get("DataType"), str):
        return None
    match = _DATA_TYPE.match(value["DataType"])
    return match.group(1) if match else None


def message_attributes_size(attributes: dict[str, dict[str, str]]) -> int:
    return sum(
        len(name) + len(value["DataType"]) + len(value.get("StringValue") or value.get("BinaryValue") or "")
        for name, value in attributes.items()
    )


def select_message_attributes(attributes: dict[str, dict[str, str]], requested: list[str]) -> dict[str, dict[str, str]]:
    """The attributes named by MessageAttributeNames: exact names, `All`, `.*`, or `prefix.*`."""
    if "All" in requested or ".*" in requested:
        return dict(attributes)
    prefixes = [name[:-1] for name in requested if name.endswith(".*")]
    return {
        name: value
        for name, value in attributes.items()
        if name in requested or any(name.startswith(prefix) for prefix in prefixes)
    }


def md5_of_message_attributes(attributes: dict[str, dict[str, str]]) -> str:
    """SQS's digest: per attribute, sorted by name, length-prefixed name, data type,
    a transport byte (1 string, 2 binary) and length-prefixed value."""
    digest = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        data_type = value["DataType"]
        digest.update(_length_prefixed(name.encode()) + _length_prefixed(data_type.encode()))
        if data_type.startswith("Binary"):
            digest.update(b"\x02" + _length_prefixed(base64.b64decode(value["BinaryValue"])))
        else:
            digest.update(b"\x01" + _length_prefixed(value["StringValue"].encode()))
    return digest.hexdigest()


def _length_prefixed(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data
