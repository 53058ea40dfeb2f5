"""The stream poller keeps its place across restarts, on DynamoDB Local's real stream: a
change written while no poller ran is delivered by the next one, and what a poller
delivered is not delivered again."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import boto3
import pytest

from local.lambda_.stream_poller import StreamCheckpoint, StreamPoller
from local.sam.model import StreamEventSource


class Function:
    """The function a poller feeds: records what it took; fails while `failing` is set."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.failing = threading.Event()
        self.attempts = 0

    def __call__(self, logical_id: str, event: dict[str, Any]) -> None:
        self.attempts += 1
        if self.failing.is_set():
            raise RuntimeError("the function fails")
        self.batches.append(event["Records"])

    def keys(self) -> list[str]:
        return [record["dynamodb"]["NewImage"]["v"]["S"] for batch in self.batches for record in batch]


@pytest.fixture
def table(dynamodb_client, unique_name) -> str:
    dynamodb_client.create_table(
        TableName=unique_name, KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return unique_name


@pytest.fixture
def streams_client(dynamodb_endpoint):
    return boto3.client("dynamodbstreams", endpoint_url=dynamodb_endpoint)


def poller(table: str, function: Function, checkpoint: StreamCheckpoint | None, dynamodb_client, streams_client,
           starting_position: str = "LATEST") -> StreamPoller:
    source = StreamEventSource(function="Watcher", table="Table", batch_size=2, starting_position=starting_position)
    return StreamPoller(source, dynamodb_client=dynamodb_client, streams_client=streams_client, table_name=table,
                        region="us-east-1", invoke=function, checkpoint=checkpoint)


def write(dynamodb_client, table: str, *values: str) -> None:
    for value in values:
        dynamodb_client.put_item(TableName=table, Item={"PK": {"S": f"item-{uuid.uuid4().hex[:6]}"},
                                                        "v": {"S": value}})


def until(check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def run(stream_poller: StreamPoller, until_check) -> None:
    stream_poller.start()
    try:
        until(until_check)
    finally:
        stream_poller.stop()
        stream_poller.join(10)


def test_a_restarted_poller_delivers_what_was_written_while_none_ran_and_nothing_twice(
        tmp_path, table, dynamodb_client, streams_client):
    checkpoint = StreamCheckpoint(tmp_path / "positions.json")
    write(dynamodb_client, table, "before-the-mapping")
    first = Function()
    run_first = poller(table, first, checkpoint, dynamodb_client, streams_client)
    run_first.start()
    try:
        write(dynamodb_client, table, "a", "b", "c")
        until(lambda: first.keys() == ["a", "b", "c"])
    finally:
        run_first.stop()
        run_first.join(10)
    saved = json.loads((tmp_path / "positions.json").read_text())
    (position,) = saved["positions"].values()
    assert position == first.batches[-1][-1]["dynamodb"]["SequenceNumber"]

    write(dynamodb_client, table, "d", "e")  # no poller runs
    write(dynamodb_client, table, "last")  # the shard is read in order: once it came, all before it came

    second = Function()
    run(poller(table, second, checkpoint, dynamodb_client, streams_client), lambda: "last" in second.keys())
    assert second.keys() == ["d", "e", "last"]


def test_a_new_mapping_starts_at_its_starting_position(tmp_path, table, dynamodb_client, streams_client):
    write(dynamodb_client, table, "old")
    latest = Function()
    at_latest = poller(table, latest, StreamCheckpoint(tmp_path / "latest.json"), dynamodb_client, streams_client)
    run(at_latest, lambda: write(dynamodb_client, table, "new") or "new" in latest.keys())
    assert "old" not in latest.keys()

    everything = Function()
    from_start = poller(table, everything, StreamCheckpoint(tmp_path / "horizon.json"), dynamodb_client,
                        streams_client, starting_position="TRIM_HORIZON")
    run(from_start, lambda: "new" in everything.keys())
    assert everything.keys()[0] == "old"


def test_a_batch_the_function_never_took_comes_again_after_a_restart(tmp_path, table, dynamodb_client,
                                                                    streams_client):
    checkpoint = StreamCheckpoint(tmp_path / "positions.json")
    function = Function()
    failing_run = poller(table, function, checkpoint, dynamodb_client, streams_client)
    function.failing.set()
    failing_run.start()
    try:
        write(dynamodb_client, table, "x", "y")
        until(lambda: function.attempts >= 2)  # tried, failed, retried
    finally:
        failing_run.stop()
        failing_run.join(10)
    assert function.keys() == []

    function.failing.clear()
    run(poller(table, function, checkpoint, dynamodb_client, streams_client), lambda: function.keys() == ["x", "y"])


def test_a_checkpoint_of_another_stream_starts_a_new_mapping(tmp_path, table, dynamodb_client, streams_client):
    """The table was deleted and created again: its new stream is a new mapping (LATEST)."""
    checkpoint = StreamCheckpoint(tmp_path / "positions.json")
    checkpoint.save("arn:aws:dynamodb:ddblocal:000000000000:table/gone/stream/2020-01-01T00:00:00.000",
                    {"shardId-00000000000000000000-00000000": "000000000000000000007"}, set())
    write(dynamodb_client, table, "before")
    function = Function()
    run(poller(table, function, checkpoint, dynamodb_client, streams_client),
        lambda: write(dynamodb_client, table, "after") or "after" in function.keys())
    assert "before" not in function.keys()
    assert json.loads((tmp_path / "positions.json").read_text())["stream_arn"] == \
        dynamodb_client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
