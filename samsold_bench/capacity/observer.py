"""Prices every DynamoDB request one boto3 client makes, from the items themselves.

botocore's own event hooks on the client (`before-parameter-build.dynamodb.*` sees the
request, `after-call.dynamodb.*` the parsed answer, and the two share the request's
context dict), so the code under observation runs unchanged. Before a write, the
items' stored images are read through a second, unobserved client: the table is priced
by the larger of before and after, and each index by whether the write puts, moves,
changes or removes its entry (`rules`). Reads are priced by the items they return.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

from samsold_bench.capacity.rules import (
    Item,
    PricedWrite,
    TableShape,
    item_size,
    price_write,
    read_units,
    scalar_text,
)

_CONTEXT_KEY = "samsold_capacity"


@dataclass(frozen=True)
class PricedRead:
    """One priced read: one item (GetItem, one BatchGetItem key) or one Query/Scan page."""

    table: str
    index: str | None
    sizes: tuple[int, ...]
    units: float
    partition: str  # the partition key value read (of the table, or of the index)
    projected: bool = False  # the answer held only some attributes: priced by what came back (a lower bound)


@dataclass
class ObservedCall:
    """One request the client made, and what it cost."""

    operation: str
    succeeded: bool = True
    writes: list[PricedWrite] = field(default_factory=list)
    reads: list[PricedRead] = field(default_factory=list)
    seconds: float = 0.0
    images: list[tuple[Item | None, Item | None]] = field(default_factory=list)  # each write's item before and after

    @property
    def table_write_units(self) -> int:
        return sum(w.table_units for w in self.writes)

    @property
    def index_write_units(self) -> int:
        return sum(w.index_units for w in self.writes)

    @property
    def read_units(self) -> float:
        return sum(r.units for r in self.reads)


@dataclass
class _Pending:
    call: ObservedCall
    started: float
    params: dict[str, Any]
    # (table, action, key, image before, item after or None; None for an Update's "after": read later)
    writes: list[tuple[str, str, Item, Item | None, Item | None]] = field(default_factory=list)
    transactional: bool = False


class CapacityObserver:
    """Attach to a boto3 DynamoDB client; `calls` collects the priced requests.

    `shapes` gives tables' key schemas and indexes by name (from their definitions);
    any other table is described once through the reader client."""

    def __init__(self, client: Any, shapes: Mapping[str, TableShape] | None = None, reader: Any = None) -> None:
        self.client = client
        self.shapes: dict[str, TableShape] = dict(shapes or {})
        # A client of its own for the images: its reads are not the observed code's.
        self.reader = reader or boto3.client(
            "dynamodb", endpoint_url=client.meta.endpoint_url, region_name=client.meta.region_name
        )
        self.calls: list[ObservedCall] = []
        self.paused = False
        self._lock = threading.Lock()
        self._id = f"samsold-capacity-{uuid.uuid4().hex}"

    # --- attaching --------------------------------------------------------------------

    def attach(self) -> CapacityObserver:
        events = self.client.meta.events
        events.register("before-parameter-build.dynamodb", self._before, unique_id=self._id + "-before")
        events.register("after-call.dynamodb", self._after, unique_id=self._id + "-after")
        return self

    def detach(self) -> None:
        events = self.client.meta.events
        events.unregister("before-parameter-build.dynamodb", unique_id=self._id + "-before")
        events.unregister("after-call.dynamodb", unique_id=self._id + "-after")

    @contextmanager
    def observing(self) -> Iterator[CapacityObserver]:
        self.attach()
        try:
            yield self
        finally:
            self.detach()

    @contextmanager
    def pause(self) -> Iterator[None]:
        """Let requests through unobserved (a benchmark's set-up)."""
        self.paused = True
        try:
            yield
        finally:
            self.paused = False

    def take(self) -> list[ObservedCall]:
        """The calls observed since the last `take`."""
        with self._lock:
            calls, self.calls = self.calls, []
        return calls

    # --- the hooks --------------------------------------------------------------------

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if self.paused:
            return
        operation = model.name
        pending = _Pending(ObservedCall(operation), time.perf_counter(), dict(params),
                           transactional=operation == "TransactWriteItems")
        planned: list[tuple[str, str, Item, Item | None]] = []  # table, action, key, item after (Put)
        if operation == "PutItem":
            planned.append((params["TableName"], "Put", self._key(params["TableName"], params["Item"]), params["Item"]))
        elif operation in ("UpdateItem", "DeleteItem"):
            planned.append((params["TableName"], operation.removesuffix("Item"), params["Key"], None))
        elif operation == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        planned.append((table, "Put", self._key(table, item), item))
                    else:
                        planned.append((table, "Delete", request["DeleteRequest"]["Key"], None))
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                (action, body), = entry.items()
                key = self._key(body["TableName"], body["Item"]) if action == "Put" else body["Key"]
                planned.append((body["TableName"], action, key, body.get("Item")))
        before = self._images([(table, key) for table, _, key, _ in planned])
        for (table, action, key, after), image in zip(planned, before, strict=True):
            if action == "Delete":
                after_image: Item | None = None
            elif action == "ConditionCheck":
                after_image = image  # checked, not changed
            else:
                after_image = after
            pending.writes.append((table, action, key, image, after_image))
        context[_CONTEXT_KEY] = pending

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        pending: _Pending | None = context.pop(_CONTEXT_KEY, None)
        if pending is None:
            return
        call = pending.call
        call.seconds = time.perf_counter() - pending.started
        call.succeeded = http_response.status_code < 300
        # A write that fails its condition is still charged (ProvisionedThroughput.md): price it as tried.
        for table, action, key, before, after in pending.writes:
            if action == "Update":
                after = self._images([(table, key)])[0] if call.succeeded else before
            shape = self._shape(table)
            call.writes.append(price_write(shape, action, key, before, after, pending.transactional))
            call.images.append((before, after))
        if call.succeeded:
            call.reads.extend(self._reads(model.name, pending.params, parsed))
        with self._lock:
            self.calls.append(call)

    # --- reads ------------------------------------------------------------------------

    def _reads(self, operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> Iterator[PricedRead]:
        if operation == "GetItem":
            item = parsed.get("Item")
            sizes: tuple[int, ...] = (item_size(item),) if item else ()
            yield PricedRead(params["TableName"], None, sizes, read_units(sum(sizes), bool(params.get("ConsistentRead"))),
                             self._partition(params["TableName"], params["Key"]),
                             projected=bool(params.get("ProjectionExpression")))
        elif operation == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                consistent = bool(request.get("ConsistentRead"))
                returned = parsed.get("Responses", {}).get(table, [])
                unprocessed = len(parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
                for item in returned:  # each item rounded up on its own
                    yield PricedRead(table, None, (item_size(item),), read_units(item_size(item), consistent),
                                     self._partition(table, item))
                found = {self._shape(table).key_of(item) for item in returned}
                missing = [key for key in request["Keys"] if self._shape(table).key_of(key) not in found]
                for key in missing[: max(0, len(missing) - unprocessed)]:  # a missing item costs the minimum
                    yield PricedRead(table, None, (), read_units(0, consistent), self._partition(table, key))
        elif operation in ("Query", "Scan"):
            items = parsed.get("Items", [])
            sizes = tuple(item_size(item) for item in items)
            index = params.get("IndexName")
            projected = bool(params.get("ProjectionExpression")) and index is None
            partition = ""
            if items:
                shape = self._shape(params["TableName"])
                keys = next((i.keys for i in shape.indexes if i.name == index), shape.keys)
                partition = scalar_text(items[0][keys[0]]) if keys[0] in items[0] else ""
            yield PricedRead(params["TableName"], index, sizes, read_units(sum(sizes), bool(params.get("ConsistentRead"))),
                             partition, projected=projected)
        elif operation == "TransactGetItems":
            for entry, response in zip(params["TransactItems"], parsed.get("Responses", []), strict=False):
                item = response.get("Item")
                sizes = (item_size(item),) if item else ()
                yield PricedRead(entry["Get"]["TableName"], None, sizes, read_units(sum(sizes), True, transactional=True),
                                 self._partition(entry["Get"]["TableName"], entry["Get"]["Key"]))

    # --- helpers ----------------------------------------------------------------------

    def _shape(self, table: str) -> TableShape:
        if table not in self.shapes:
            self.shapes[table] = TableShape.from_definition(self.reader.describe_table(TableName=table)["Table"])
        return self.shapes[table]

    def _partition(self, table: str, key: Item) -> str:
        return scalar_text(key[self._shape(table).keys[0]])

    def _key(self, table: str, item: Item) -> Item:
        return {name: item[name] for name in self._shape(table).keys}

    def _images(self, keys: Sequence[tuple[str, Item]]) -> list[Item | None]:
        """The stored items at these keys now (strongly consistent), None where there is none."""
        found: dict[tuple[str, tuple[tuple[str, Any], ...]], Item] = {}
        unique: dict[tuple[str, tuple[tuple[str, Any], ...]], tuple[str, Item]] = {}
        for table, key in keys:
            unique[(table, self._shape(table).key_of(key))] = (table, key)
        pending = list(unique.values())
        for start in range(0, len(pending), 100):
            request: dict[str, Any] = {}
            for table, key in pending[start : start + 100]:
                request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(dict(key))
            while request:
                response = self.reader.batch_get_item(RequestItems=request)
                for table, items in response.get("Responses", {}).items():
                    for item in items:
                        found[(table, self._shape(table).key_of(item))] = item
                request = response.get("UnprocessedKeys") or {}
        return [found.get((table, self._shape(table).key_of(key))) for table, key in keys]
