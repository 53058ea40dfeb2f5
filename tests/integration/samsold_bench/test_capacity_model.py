"""The capacity model against DynamoDB Local: the items the handlers really write,
written again under fresh keys with ReturnConsumedCapacity, must cost what the model
says, to the byte (each item is padded so that the model puts it exactly on a 1 KB
boundary, then one byte past it). And `samsold-bench capacity` runs end to end, small."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from typer.testing import CliRunner

from ledger.dynamodb import bids_table_definition
from samsold_bench.capacity.observer import ObservedCall
from samsold_bench.capacity.rules import KB, TableShape, index_writes, item_size, price_write, read_units
from samsold_bench.capacity.scenarios import Bench, Sizes, run_all
from samsold_bench.main import app

PAD = "zz"  # an attribute name the code never writes


@pytest.fixture(scope="module")
def observed(dynamodb_endpoint) -> list[ObservedCall]:
    """Every request of a small capacity run (all scenarios), as the observer priced it."""
    table = f"cap-{uuid.uuid4().hex[:8]}"
    bench = Bench({"BIDS_TABLE": table, "CREATE_TABLE": "y", "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint})
    try:
        scenarios = run_all(bench, Sizes(batches=2, many_bidders=60, returning=3))
    finally:
        bench.close()
    return [c for s in scenarios for b in [s.cold, *s.batches] if b is not None for c in b.process_calls + b.place_calls]


@pytest.fixture(scope="module")
def target(dynamodb_endpoint) -> tuple[object, TableShape]:
    """A table declared as the Bids table (same keys, same index), for the re-written items."""
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint)
    definition = bids_table_definition(f"cap-check-{uuid.uuid4().hex[:8]}")
    client.create_table(**definition)
    client.get_waiter("table_exists").wait(TableName=definition["TableName"])
    return client, TableShape.from_definition(definition)


def fresh(item, shape: TableShape) -> dict:
    """The item under a new primary key (same attribute types)."""
    return {**item, **{name: {"S": f"cap#{uuid.uuid4().hex}"} for name in shape.keys}}


def padded_to(item, size: int) -> dict:
    """The item with a padding attribute that makes its modelled size exactly `size`."""
    base = item_size({**item, PAD: {"S": ""}})
    assert base < size
    return {**item, PAD: {"S": "x" * (size - base)}}


def consumed(client, shape: TableShape, item) -> dict:
    answer = client.put_item(TableName=shape.name, Item=item, ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    return {"table": answer["Table"]["CapacityUnits"],
            "indexes": {k: v["CapacityUnits"] for k, v in answer.get("GlobalSecondaryIndexes", {}).items()}}


def written_items(observed: list[ObservedCall]) -> list[tuple[dict | None, dict]]:
    """(image before, item after) of every kind of item the handlers wrote (one of each key shape, the largest)."""
    by_kind: dict[tuple, tuple[dict | None, dict]] = {}
    for call in observed:
        for write, (before, after) in zip(call.writes, call.images, strict=True):
            if after is None:
                continue
            kind = (write.table, write.key.split("#")[0], write.key.split("/")[-1].split("#")[0], before is None)
            if kind not in by_kind or item_size(after) > item_size(by_kind[kind][1]):
                by_kind[kind] = (before, after)
    return list(by_kind.values())


def test_the_run_observed_writes_of_each_kind(observed):
    operations = {c.operation for c in observed}
    assert {"TransactWriteItems", "PutItem", "GetItem"} <= operations
    assert all(c.succeeded for c in observed)
    assert len(written_items(observed)) >= 3  # events, receipts, snapshots (whatever the layout), bid requests


def test_item_sizes_match_dynamodb_local_to_the_byte(observed, target):
    client, shape = target
    for _, after in written_items(observed):
        item = fresh(after, shape)
        for kb in (1, 2, 5):
            if item_size({**item, PAD: {"S": ""}}) >= kb * KB:
                continue
            exact = padded_to(item, kb * KB)
            assert consumed(client, shape, fresh(exact, shape))["table"] == kb, (kb, sorted(after))
            over = padded_to(item, kb * KB + 1)
            assert consumed(client, shape, fresh(over, shape))["table"] == kb + 1, (kb, sorted(after))


def test_index_units_of_new_items_match_dynamodb_local(observed, target):
    client, shape = target
    for _, after in written_items(observed):
        item = fresh(after, shape)
        reported = consumed(client, shape, item)
        for index in shape.indexes:
            model = index_writes(shape, index, None, item).units
            assert reported["indexes"].get(index.name, 0) == model, (index.name, sorted(after))


def test_rewrites_match_dynamodb_local(observed, target):
    """The observed before -> after of each rewritten item (the snapshot today), replayed under one fresh key."""
    client, shape = target
    replayed = 0
    for before, after in written_items(observed):
        if before is None:
            continue
        key = {name: {"S": f"cap#{uuid.uuid4().hex}"} for name in shape.keys}
        client.put_item(TableName=shape.name, Item={**before, **key})
        reported = consumed(client, shape, {**after, **key})
        model = price_write(shape, "Put", key, {**before, **key}, {**after, **key})
        assert reported["table"] == model.table_units
        assert sum(reported["indexes"].values()) == model.index_units
        replayed += 1
    assert replayed, "no item was written twice"


def test_reads_match_dynamodb_local(observed, target):
    client, shape = target
    for _, after in written_items(observed):
        item = fresh(after, shape)
        client.put_item(TableName=shape.name, Item=item)
        key = {name: item[name] for name in shape.keys}
        for consistent in (True, False):
            answer = client.get_item(TableName=shape.name, Key=key, ConsistentRead=consistent, ReturnConsumedCapacity="TOTAL")
            assert answer["ConsumedCapacity"]["CapacityUnits"] == read_units(item_size(item), consistent)


def test_samsold_capacity_writes_its_json(tmp_path):
    output = tmp_path / "capacity.json"
    result = CliRunner().invoke(app, ["capacity", "--many-bidders", "200", "--batches", "2", "--returning", "3",
                                      "--output", str(output), "--markdown"])
    assert result.exit_code == 0, result.output
    doc = json.loads(output.read_text())
    assert {"commit", "date", "scenarios", "per_lot_ceilings", "service", "cost_per_million_bids", "targets", "prices",
            "limits", "assumptions", "original_design", "template"} <= doc.keys()
    assert set(doc["scenarios"]) == {"unbatched_returning", "unbatched_new", "batch_of_10", "batch_of_10_new",
                                     "many_bidders", "soft_close_moves", "soft_close_stays"}
    for scenario in doc["scenarios"].values():
        per_bid = scenario["processor_per_bid"]
        assert per_bid["write_units"] == pytest.approx(per_bid["table_write_units"] + per_bid["index_write_units"])
        assert scenario["bids"] == scenario["batch_size"] * 2
        assert scenario["items_written_per_batch"] and scenario["processor_calls_per_batch"]
    assert {t["scenario"] for t in doc["targets"]} >= {"unbatched_returning", "batch_of_10", "many_bidders", "soft_close_stays"}
    assert all(isinstance(t["met"], bool) for t in doc["targets"])
    assert set(doc["service"]["at"]) == {"1x", "10x", "100x"}
    assert doc["template"]["functions"]["ProcessBidFunction"]["memory_mb"] > 0
    for cost in doc["cost_per_million_bids"].values():
        assert cost["today"]["total_usd"] > 0 and cost["original_design"]["total_usd"] > 0
    assert "### Units per bid" in result.output and "| unbatched_returning |" in result.output
