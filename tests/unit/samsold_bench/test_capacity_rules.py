"""DynamoDB's sizing and capacity rules (samsold_bench.capacity.rules) against the Developer
Guide's own examples and hand-computed items. The integration test checks the same rules
against DynamoDB Local's reported consumption."""

from __future__ import annotations

import pytest

from samsold_bench.capacity.rules import (
    Index,
    TableShape,
    index_writes,
    item_size,
    number_size,
    price_write,
    read_units,
    value_size,
    write_units,
)

TABLE = TableShape(
    "bids",
    ("PK", "SK"),
    (
        Index("ByClose", ("status", "closes_at"), "ALL"),
        Index("ByCloseKeys", ("status", "closes_at"), "KEYS_ONLY"),
        Index("ByCloseInclude", ("status", "closes_at"), "INCLUDE", frozenset({"price"})),
    ),
)


@pytest.mark.parametrize(
    ("number", "size"),
    [
        # Checked byte for byte against DynamoDB Local: base-100 digits aligned on the
        # decimal point, leading/trailing zero pairs trimmed, +1 byte, +1 more when negative.
        ("0", 1), ("1", 2), ("12", 2), ("123", 3), ("1234", 3), ("10", 2), ("100", 2), ("10000", 2),
        ("1.2", 3), ("9.5", 3), ("12.3", 3), ("12.34", 3), ("1.23", 3), ("123.45", 4),
        ("0.1", 2), ("0.01", 2), ("0.001", 2), ("-1", 3), ("-12", 3), ("-123", 4),
        ("1700000000000", 3), ("12345678901234567890", 11),
    ],
)
def test_number_sizes(number, size):
    assert number_size(number) == size


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "Hello"}, 5),
        ({"S": "é€"}, 5),  # UTF-8 bytes, not characters
        ({"B": b"abc"}, 3),  # raw bytes, not base64
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"L": []}, 3),  # an empty list or map is its 3 bytes of overhead
        ({"M": {}}, 3),
        ({"L": [{"S": "x"}]}, 5),  # 3 + element 1 + 1 per element
        ({"L": [{"S": "x"}, {"N": "12"}]}, 8),
        ({"M": {"k": {"S": "x"}}}, 6),  # 3 + name 1 + value 1 + 1 per element
        ({"M": {"k": {"M": {"kk": {"S": "x"}}}}}, 12),
        ({"SS": ["ab", "c"]}, 3),  # sets: the sum of their elements
        ({"NS": ["1", "12"]}, 4),
        ({"BS": [b"ab", b"c"]}, 3),
    ],
)
def test_value_sizes(value, size):
    assert value_size(value) == size


def test_an_item_is_its_names_and_values():
    item = {"PK": {"S": "LOT#a"}, "SK": {"S": "SNAPSHOT"}, "version": {"N": "12"}, "open": {"BOOL": True}}
    assert item_size(item) == (2 + 5) + (2 + 8) + (7 + 2) + (4 + 1)


def test_write_units_round_up_to_one_kb_and_double_in_transactions():
    assert write_units(500) == 1  # "writing a 500-byte item consumes the same throughput as writing a 1 KB item"
    assert write_units(1024) == 1
    assert write_units(1025) == 2
    assert write_units(int(1.6 * 1024)) == 2  # "an item of 1.6 KB ... rounds the item size up to 2 KB"
    assert write_units(3 * 1024, transactional=True) == 6  # "a transactional write request of a 3 KB item would require six WCUs"
    assert write_units(0) == 1  # a delete of nothing still costs a unit


def test_read_units_round_up_to_four_kb():
    assert read_units(3500, consistent=True) == 1  # "reading a 3,500-byte item consumes the same throughput as reading a 4 KB item"
    assert read_units(3500, consistent=False) == 0.5
    assert read_units(10 * 1024, consistent=True) == 3  # "an item of 10 KB, DynamoDB rounds the item size to 12 KB"
    assert read_units(8 * 1024, consistent=False) == 1  # "8 KB ... 1 read unit ... eventually consistent"
    assert read_units(8 * 1024, consistent=True, transactional=True) == 4
    assert read_units(int(40.8 * 1024), consistent=True) == 11  # a Query of 40.8 KB rounds to 44 KB
    # BatchGetItem rounds each item: 1.5 KB + 6.5 KB is 4 KB + 8 KB, not 8 KB.
    assert read_units(int(1.5 * 1024), True) + read_units(int(6.5 * 1024), True) == 3
    assert read_units(0, consistent=True) == 1  # a missing item still costs the minimum


def _item(**attributes):
    return {"PK": {"S": "LOT#a"}, "SK": {"S": "SNAPSHOT"}} | {k: v for k, v in attributes.items() if v is not None}


def test_the_table_is_priced_by_the_larger_of_before_and_after():
    big = _item(pad={"S": "x" * 3000})
    small = _item()
    write = price_write(TABLE, "Put", {"PK": big["PK"], "SK": big["SK"]}, big, small)
    assert (write.size, write.previous_size, write.table_units) == (item_size(small), item_size(big), 3)
    assert write.partition == "LOT#a" and write.key == "LOT#a/SNAPSHOT"
    deleted = price_write(TABLE, "Delete", {"PK": big["PK"], "SK": big["SK"]}, big, None)
    assert deleted.table_units == 3 and deleted.size == 0


def test_index_writes_follow_the_index_rules():
    index = TABLE.indexes[0]
    open_a = _item(status={"S": "OPEN"}, closes_at={"S": "2026-01-01"}, price={"N": "10"})
    open_a_price = _item(status={"S": "OPEN"}, closes_at={"S": "2026-01-01"}, price={"N": "11"})
    open_b = _item(status={"S": "OPEN"}, closes_at={"S": "2026-01-02"}, price={"N": "11"})
    closed = _item(price={"N": "11"})

    def sizes(before, after, on=index):
        return index_writes(TABLE, on, before, after).sizes

    assert sizes(None, open_a) == (item_size(open_a),)  # a new item with the index keys: one write
    assert sizes(None, closed) == ()  # never in the (sparse) index: nothing
    assert sizes(open_a, open_a) == ()  # nothing the index holds changed: nothing
    assert sizes(open_a, open_a_price) == (item_size(open_a_price),)  # a projected attribute changed: one write
    assert sizes(open_a_price, open_b) == (item_size(open_a_price), item_size(open_b))  # a key moved: delete + put
    assert sizes(open_b, closed) == (item_size(open_b),)  # taken out of the index: one write
    assert sizes(open_a, None) == (item_size(open_a),)  # the item deleted

    keys_only = TABLE.indexes[1]
    entry = {name: open_a[name] for name in ("PK", "SK", "status", "closes_at")}
    assert sizes(open_a, open_a_price, keys_only) == ()  # keys-only: a price change does not touch it
    assert sizes(open_a_price, open_b, keys_only) == (item_size(entry), item_size(entry))  # same-sized keys
    assert sizes(open_a, open_a_price, TABLE.indexes[2]) != ()  # INCLUDE price: it does
    assert index_writes(TABLE, index, open_a, open_b).partition == "OPEN"


def test_index_writes_double_in_transactions_and_round_each_entry():
    index = TABLE.indexes[0]
    before = _item(status={"S": "OPEN"}, closes_at={"S": "2026-01-01"}, pad={"S": "x" * 2500})
    after = _item(status={"S": "OPEN"}, closes_at={"S": "2026-01-02"}, pad={"S": "x" * 2500})
    assert index_writes(TABLE, index, before, after, transactional=True).units == 2 * (3 + 3)
    assert index_writes(TABLE, index, before, after).units == 3 + 3


def test_numbers_compare_by_value():
    index = TABLE.indexes[0]
    a = _item(status={"S": "OPEN"}, closes_at={"S": "x"}, price={"N": "10"})
    b = _item(status={"S": "OPEN"}, closes_at={"S": "x"}, price={"N": "10.0"})
    assert index_writes(TABLE, index, a, b).sizes == ()


def test_a_table_shape_from_its_definition():
    definition = {
        "TableName": "bids",
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [{"IndexName": "I", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]}}],
    }
    shape = TableShape.from_definition(definition)
    assert shape == TableShape("bids", ("PK", "SK"), (Index("I", ("g",), "INCLUDE", frozenset({"a"})),))
