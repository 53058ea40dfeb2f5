"""The template's tables (key schema, billing, indexes, stream, TTL) and queues
(attributes, redrive policies; dead-letter queues first)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from local.sam.intrinsics import TemplateError
from local.sam.model import Queue, Table
from local.sam.resources import Resources, is_true

_TABLE_USED = {
    "TableName", "KeySchema", "AttributeDefinitions", "BillingMode", "ProvisionedThroughput",
    "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification", "TimeToLiveSpecification",
}
_TABLE_REFUSED = {"ImportSourceSpecification": "importing from S3 is not emulated"}
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection")
_QUEUE_ATTRIBUTES = (
    "FifoQueue", "ContentBasedDeduplication", "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds",
    "MaximumMessageSize", "ReceiveMessageWaitTimeSeconds", "DeduplicationScope", "FifoThroughputLimit",
)
_QUEUE_USED = {*_QUEUE_ATTRIBUTES, "QueueName", "RedrivePolicy", "RedriveAllowPolicy"}


class Storage(Resources):
    def _table_name(self, lid: str) -> str:
        name = self._properties(lid).get("TableName")
        return str(self._value(name, f"Resources.{lid}.Properties.TableName")) if name is not None else lid

    def _table(self, lid: str) -> Table:
        where = f"Resources.{lid}.Properties"
        properties = self._value(self._properties(lid), where)
        self._check_properties(lid, properties, _TABLE_USED, _TABLE_REFUSED)
        for required in ("KeySchema", "AttributeDefinitions"):
            if not properties.get(required):
                raise TemplateError(f"{where}.{required}: required")
        on_demand = properties.get("BillingMode", "PROVISIONED") == "PAY_PER_REQUEST"
        kwargs: dict[str, Any] = {
            "TableName": self._table_name(lid),
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST" if on_demand else "PROVISIONED",
        }
        if not on_demand:
            kwargs["ProvisionedThroughput"] = _throughput(properties.get("ProvisionedThroughput"), f"{where}")
        for indexes in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if properties.get(indexes):
                kwargs[indexes] = [self._index(lid, index, on_demand, indexes, f"{where}.{indexes}[{i}]")
                                   for i, index in enumerate(properties[indexes])]
        stream = properties.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        ttl = properties.get("TimeToLiveSpecification") or {}
        return Table(
            logical_id=lid,
            table_name=kwargs["TableName"],
            create_table_kwargs=kwargs,
            ttl_attribute=ttl.get("AttributeName") if is_true(ttl.get("Enabled")) else None,
        )

    def _index(self, lid: str, index: Mapping[str, Any], on_demand: bool, kind: str, where: str) -> dict[str, Any]:
        result = {key: index[key] for key in _INDEX_KEYS if key in index}
        if kind == "GlobalSecondaryIndexes" and not on_demand:
            result["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"), where)
        for key in index:
            if key not in _INDEX_KEYS and key != "ProvisionedThroughput":
                self._note(f"{lid}.{kind}.{index.get('IndexName')}.{key}")
        return result

    def _queue_name(self, lid: str) -> str:
        properties = self._properties(lid)
        where = f"Resources.{lid}.Properties"
        if properties.get("QueueName") is not None:
            return str(self._value(properties["QueueName"], f"{where}.QueueName"))
        fifo = is_true(self._value(properties.get("FifoQueue", False), f"{where}.FifoQueue"))
        return f"{lid}.fifo" if fifo else lid

    def _queue(self, lid: str) -> Queue:
        where = f"Resources.{lid}.Properties"
        properties = self._value(self._properties(lid), where)
        self._check_properties(lid, properties, _QUEUE_USED)
        attributes = {name: _attribute_string(properties[name]) for name in _QUEUE_ATTRIBUTES if name in properties}
        for policy in ("RedrivePolicy", "RedriveAllowPolicy"):
            if policy in properties:
                value = properties[policy]
                attributes[policy] = value if isinstance(value, str) else json.dumps(value)
        return Queue(logical_id=lid, queue_name=self._queue_name(lid), attributes=attributes)

    def _queues_dead_letter_first(self) -> list[Queue]:
        queues = {lid: self._queue(lid) for lid in self._ids_of("AWS::SQS::Queue")}
        by_arn = {self.endpoints.queue_arn(queue.queue_name): lid for lid, queue in queues.items()}
        ordered: list[Queue] = []

        def visit(lid: str, chain: tuple[str, ...]) -> None:
            if queues[lid] in ordered:
                return
            if lid in chain:
                raise TemplateError(f"Resources.{lid}.Properties.RedrivePolicy: the redrive policies form a cycle")
            redrive = queues[lid].attributes.get("RedrivePolicy")
            if redrive is not None:
                target = json.loads(redrive).get("deadLetterTargetArn")
                if target not in by_arn:
                    raise TemplateError(f"Resources.{lid}.Properties.RedrivePolicy.deadLetterTargetArn: "
                                        f"{target!r} is not a queue of this template")
                visit(by_arn[target], (*chain, lid))
            ordered.append(queues[lid])

        for lid in queues:
            visit(lid, ())
        return ordered


def _attribute_string(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _throughput(value: Any, where: str) -> dict[str, int]:
    if not value:
        raise TemplateError(f"{where}.ProvisionedThroughput: required unless BillingMode is PAY_PER_REQUEST")
    return {key: int(value[key]) for key in ("ReadCapacityUnits", "WriteCapacityUnits")}
