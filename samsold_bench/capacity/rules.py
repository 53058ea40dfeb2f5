"""DynamoDB's rules for item sizes and capacity units, applied to items in the wire
format (`{"S": ...}`, `{"N": ...}`, ...). Nothing here knows SamSold's layout: the
observer hands it whatever items the code wrote, and the table's key schema and
indexes as the table definition declares them.

Sources (Amazon DynamoDB Developer Guide, read 2026-11-24; docs/CAPACITY.md quotes them):
- "DynamoDB item sizes and formats" (CapacityUnitCalculations.html): an item's size is
  the sum of its attribute names' and values' sizes; strings are their UTF-8 bytes,
  binary its raw bytes, null and Boolean 1 byte, a number "approximately 1 byte per two
  significant digits + 1 byte", a List or Map 3 bytes plus its elements plus 1 byte per
  element (a Map's keys count as names). Sets are the sum of their elements.
- "Read and write operations" / "Managing throughput settings" (ProvisionedThroughput.md,
  "Capacity unit consumption for writes/reads"): a write is priced by the item size
  rounded up to 1 KB (1 KB = 1,024 bytes), and PutItem/UpdateItem by "the larger of"
  the item before and after; DeleteItem by the deleted item; a read by the size rounded
  up to 4 KB, eventually consistent half; BatchGetItem rounds each item, Query the sum of
  the page; reading an item that does not exist still costs the minimum.
- "DynamoDB transactions: how it works", "Capacity management for transactions": two
  underlying writes (prepare, commit) of every item, so transactional units are doubled.
- "Global secondary indexes" (GSI.md, "Write capacity units"): an index is written
  when a write puts an item into it (it now has the index's key attributes), takes it
  out, changes an index key (two writes: delete and put) or changes a projected
  attribute (one write); otherwise not at all. An index entry is the index keys, the
  table keys and the projected attributes. The "100 bytes of overhead per index item" of
  GSI.md#GSI.StorageConsiderations is storage, not capacity: DynamoDB Local prices an
  ALL-projected entry exactly like its table item, and so does this module.

The number rule is exact, not approximate: DynamoDB stores a number as base-100 digits
aligned on the decimal point, from the first to the last non-zero pair, plus one byte
(and one more when negative); `tests/integration/samsold_bench/test_capacity_model.py`
checks it, and every rule here, byte for byte against DynamoDB Local.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

KB = 1024
WRITE_UNIT_BYTES = KB
READ_UNIT_BYTES = 4 * KB
TRANSACTIONAL_FACTOR = 2  # prepare + commit, for the table and (as DynamoDB Local also prices it) its indexes
LIST_OR_MAP_OVERHEAD = 3
ELEMENT_OVERHEAD = 1
MAX_ITEM_BYTES = 400 * KB

AttributeValue = Mapping[str, Any]
Item = Mapping[str, AttributeValue]


def number_size(text: str) -> int:
    """Bytes of a DynamoDB number: 1 + its base-100 digits (pairs aligned on the decimal
    point, leading and trailing zero pairs trimmed), +1 when negative; zero is 1 byte."""
    value = Decimal(text)
    if value == 0:
        return 1
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite: DynamoDB refuses NaN and infinities
    text_digits = "".join(map(str, digits)).rstrip("0")
    exponent += len(digits) - len(text_digits)
    # Pad so the digit string starts and ends on a pair boundary of the decimal point.
    if exponent % 2:
        text_digits += "0"
        exponent -= 1
    if len(text_digits) % 2:
        text_digits = "0" + text_digits
    pairs = [text_digits[i : i + 2] for i in range(0, len(text_digits), 2)]
    while pairs and pairs[0] == "00":
        pairs.pop(0)
    while pairs and pairs[-1] == "00":
        pairs.pop()
    return 1 + len(pairs) + (1 if sign else 0)


def value_size(value: AttributeValue) -> int:
    """Bytes of one attribute value (without its name)."""
    (kind, content), = value.items()
    if kind == "S":
        return len(str(content).encode("utf-8"))
    if kind == "N":
        return number_size(str(content))
    if kind == "B":
        return len(bytes(content))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode("utf-8")) for s in content)
    if kind == "NS":
        return sum(number_size(str(n)) for n in content)
    if kind == "BS":
        return sum(len(bytes(b)) for b in content)
    if kind == "L":
        return LIST_OR_MAP_OVERHEAD + sum(value_size(v) + ELEMENT_OVERHEAD for v in content)
    if kind == "M":
        return LIST_OR_MAP_OVERHEAD + sum(
            len(name.encode("utf-8")) + value_size(v) + ELEMENT_OVERHEAD for name, v in content.items()
        )
    raise ValueError(f"not a DynamoDB attribute value type: {kind}")


def item_size(item: Item) -> int:
    """Bytes of an item: every top-level attribute's name and value."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int, transactional: bool = False) -> int:
    """Write units of one item write of `size` bytes (at least one unit: even an empty write costs it)."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES)) * (TRANSACTIONAL_FACTOR if transactional else 1)


def read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    """Read units of reading `size` bytes in one go (one item, or one Query page):
    4 KB steps, at least one; eventually consistent half, transactional double."""
    steps = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return float(steps * TRANSACTIONAL_FACTOR)
    return float(steps) if consistent else steps / 2


@dataclass(frozen=True)
class Index:
    """A global secondary index as the table definition declares it."""

    name: str
    keys: tuple[str, ...]
    projection: str  # KEYS_ONLY | INCLUDE | ALL
    included: frozenset[str] = frozenset()

    def holds(self, item: Item | None) -> bool:
        """Whether an item appears in this (sparse) index: it has every index key attribute."""
        return item is not None and all(key in item for key in self.keys)

    def entry(self, item: Item, table_keys: Sequence[str]) -> dict[str, AttributeValue]:
        """The index's copy of `item`: index keys, table keys and projected attributes."""
        if self.projection == "ALL":
            return dict(item)
        names = set(self.keys) | set(table_keys) | (self.included if self.projection == "INCLUDE" else set())
        return {name: value for name, value in item.items() if name in names}


@dataclass(frozen=True)
class TableShape:
    """What pricing needs of a table: its key attributes and its global secondary indexes."""

    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = field(default_factory=tuple)

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any]) -> TableShape:
        """From `create_table` arguments or DescribeTable's `Table` (the same key names)."""
        indexes = tuple(
            Index(
                name=index["IndexName"],
                keys=tuple(k["AttributeName"] for k in index["KeySchema"]),
                projection=index["Projection"].get("ProjectionType", "ALL"),
                included=frozenset(index["Projection"].get("NonKeyAttributes", ())),
            )
            for index in definition.get("GlobalSecondaryIndexes", ())
        )
        return cls(definition["TableName"], tuple(k["AttributeName"] for k in definition["KeySchema"]), indexes)

    def key_of(self, item: Item) -> tuple[tuple[str, Any], ...]:
        """The item's primary key, hashable (attribute values as sorted pairs)."""
        return tuple((name, tuple(sorted(item[name].items()))) for name in self.keys)


@dataclass(frozen=True)
class IndexWrites:
    """What one table write does to one index: the sizes of the index writes it causes."""

    index: str
    sizes: tuple[int, ...]
    transactional: bool = False
    partition: str = ""  # the index partition key value written (the new entry's, else the old one's)

    @property
    def units(self) -> int:
        return sum(write_units(size, self.transactional) for size in self.sizes)


def _same(a: AttributeValue, b: AttributeValue) -> bool:
    """Attribute values equal as DynamoDB compares them (numbers by value, sets unordered)."""
    (kind_a, content_a), = a.items()
    (kind_b, content_b), = b.items()
    if kind_a != kind_b:
        return False
    if kind_a == "N":
        return Decimal(str(content_a)) == Decimal(str(content_b))
    if kind_a == "NS":
        return {Decimal(str(n)) for n in content_a} == {Decimal(str(n)) for n in content_b}
    if kind_a in ("SS", "BS"):
        return set(content_a) == set(content_b)
    if kind_a == "L":
        return len(content_a) == len(content_b) and all(_same(x, y) for x, y in zip(content_a, content_b, strict=True))
    if kind_a == "M":
        return content_a.keys() == content_b.keys() and all(_same(content_a[k], content_b[k]) for k in content_a)
    if kind_a == "B":
        return bytes(content_a) == bytes(content_b)
    return bool(content_a == content_b)


def same_item(a: Item, b: Item) -> bool:
    return a.keys() == b.keys() and all(_same(a[name], b[name]) for name in a)


def index_writes(table: TableShape, index: Index, before: Item | None, after: Item | None,
                 transactional: bool = False) -> IndexWrites:
    """The index writes caused by a table write that turns `before` into `after` (None: no item)."""
    was, now = index.holds(before), index.holds(after)
    old = index.entry(before, table.keys) if was and before is not None else None
    new = index.entry(after, table.keys) if now and after is not None else None
    sizes: tuple[int, ...]
    if old is None and new is None:
        sizes = ()
    elif old is None and new is not None:
        sizes = (item_size(new),)  # put into the index
    elif new is None and old is not None:
        sizes = (item_size(old),)  # deleted from the index
    else:
        assert old is not None and new is not None
        if not all(_same(old[key], new[key]) for key in index.keys):
            sizes = (item_size(old), item_size(new))  # an index key moved: delete + put
        elif same_item(old, new):
            sizes = ()  # nothing the index holds changed
        else:
            sizes = (max(item_size(old), item_size(new)),)  # projected attributes changed in place
    entry = new if new is not None else old
    partition = scalar_text(entry[index.keys[0]]) if entry is not None else ""
    return IndexWrites(index.name, sizes, transactional, partition)


@dataclass(frozen=True)
class PricedWrite:
    """One item written (or deleted) by one request, with its table and index units."""

    table: str
    key: str
    partition: str  # the partition key value: what DynamoDB's per-partition-key limits apply to
    action: str  # Put | Update | Delete | ConditionCheck
    size: int  # the item after the write (0 when deleted)
    previous_size: int | None  # the item before (None: there was none)
    transactional: bool
    indexes: tuple[IndexWrites, ...]

    @property
    def table_units(self) -> int:
        return write_units(max(self.size, self.previous_size or 0), self.transactional)

    @property
    def index_units(self) -> int:
        return sum(w.units for w in self.indexes)


def scalar_text(value: AttributeValue) -> str:
    """A key attribute's value as text (keys are strings, numbers or binary)."""
    content = next(iter(value.values()))
    return content.hex() if isinstance(content, bytes | bytearray) else str(content)


def key_text(table: TableShape, key: Item) -> str:
    """An item's key for people: its key attributes' values joined by "/"."""
    return "/".join(scalar_text(key[name]) for name in table.keys if name in key)


def price_write(table: TableShape, action: str, key: Item, before: Item | None, after: Item | None,
                transactional: bool = False) -> PricedWrite:
    """Price one item write: the table by the larger of before and after (at least one
    unit, also for a delete of nothing), each index by its rule."""
    return PricedWrite(
        table=table.name,
        key=key_text(table, key),
        partition=scalar_text(key[table.keys[0]]),
        action=action,
        size=item_size(after) if after is not None else 0,
        previous_size=item_size(before) if before is not None else None,
        transactional=transactional,
        indexes=tuple(index_writes(table, index, before, after, transactional) for index in table.indexes),
    )
