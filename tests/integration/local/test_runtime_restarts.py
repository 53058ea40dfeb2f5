"""What the local runtime keeps across a restart on the same data directory (fixture
template, tests/fixtures/runtime/): the stream event source mapping's position; and what a
stack that died leaves behind (a DynamoDB Local still running, a stale endpoints.json) is
dealt with."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3

from local.dynamodb.launcher import DynamoDBLocal
from local.runtime import ENDPOINTS_FILE, LocalStack, read_endpoints

TEMPLATE = Path(__file__).resolve().parents[2] / "fixtures" / "runtime" / "template.yaml"
ITEMS_TABLE = "test-items"


def streamed_values(dynamodb, pk: str) -> list[str]:
    """The `v` of each stream record of item `pk` the ItemWatcher function received, in order."""
    items = dynamodb.query(TableName="Observations", KeyConditionExpression="PK = :pk",
                           ExpressionAttributeValues={":pk": {"S": "STREAM"}}, ConsistentRead=True)["Items"]
    records = [json.loads(item["record"]["S"]) for item in items]
    return [r["dynamodb"]["NewImage"]["v"]["N"] for r in records if r["dynamodb"]["Keys"]["PK"]["S"] == pk]


def wait_for(check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def put(dynamodb, pk: str, value: int) -> None:
    dynamodb.put_item(TableName=ITEMS_TABLE, Item={"PK": {"S": pk}, "v": {"N": str(value)}})


def test_a_change_written_while_the_stack_was_down_is_streamed_after_its_restart(tmp_path):
    data_dir = tmp_path / "data"
    lot = "LOT#restart"
    with LocalStack(TEMPLATE, data_dir) as first:
        dynamodb = first.client("dynamodb")
        put(dynamodb, lot, 1)
        put(dynamodb, lot, 2)  # a MODIFY: the ItemWatcher's filter passes it
        assert wait_for(lambda: streamed_values(dynamodb, lot) == ["2"])

    # The stack is down; the table changes (as a write that was not yet streamed when it died).
    with DynamoDBLocal(db_path=data_dir / "dynamodb") as alone:
        put(boto3.client("dynamodb", endpoint_url=alone.endpoint_url), lot, 3)

    with LocalStack(TEMPLATE, data_dir) as second:
        dynamodb = second.client("dynamodb")
        assert wait_for(lambda: "3" in streamed_values(dynamodb, lot)), streamed_values(dynamodb, lot)
        put(dynamodb, lot, 4)
        assert wait_for(lambda: "4" in streamed_values(dynamodb, lot))
        # The stream is one ordered shard, retried in order: once a change written after
        # them all has come, a record delivered twice would have come before it.
        put(dynamodb, "LOT#restart-last", 1)
        put(dynamodb, "LOT#restart-last", 2)
        assert wait_for(lambda: streamed_values(dynamodb, "LOT#restart-last") == ["2"])
        assert streamed_values(dynamodb, lot) == ["2", "3", "4"]


def test_a_dynamodb_local_left_running_by_a_dead_stack_is_stopped_before_the_next_start(tmp_path):
    data_dir = tmp_path / "data"
    leftover = DynamoDBLocal(db_path=data_dir / "dynamodb").start()  # as if its stack was SIGKILLed
    try:
        with LocalStack(TEMPLATE, data_dir) as stack:
            assert leftover.process is not None and leftover.process.poll() is not None, "the leftover still runs"
            assert stack.client("dynamodb").list_tables()["TableNames"]
    finally:
        leftover.stop()


def test_an_endpoints_json_left_by_a_killed_stack_names_no_running_stack(tmp_path):
    data_dir = tmp_path / "data"
    with LocalStack(TEMPLATE, data_dir) as stack:
        assert read_endpoints(data_dir) == json.loads((data_dir / ENDPOINTS_FILE).read_text())
        stale = (data_dir / ENDPOINTS_FILE).read_text()
        assert stack.endpoints["rest"] in stale
    # As SIGKILL leaves it: the file stays, the lock (an flock) goes with the process.
    (data_dir / ENDPOINTS_FILE).write_text(stale)
    assert read_endpoints(data_dir) is None
