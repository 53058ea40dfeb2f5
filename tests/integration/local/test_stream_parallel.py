"""The stream poller as a ParallelizationFactor above 1 and a batching window run it, on
DynamoDB Local's real stream: batches of different items go at once, each item's changes
stay in order, and records gather until a batch is full."""

from __future__ import annotations

import threading
from typing import Any

from local.lambda_.stream_poller import StreamCheckpoint, StreamPoller
from local.sam.model import StreamEventSource
from tests.integration.local.test_stream_checkpoints import run, streams_client, table  # noqa: F401 - fixtures

LOTS = [f"LOT#{n}" for n in range(8)]
CHANGES = 6


class OverlappingFunction:
    """Records every batch; until two calls have overlapped, each waits (at most `wait_s`) for
    another to be in flight, so batches that may run together do, and `most_in_flight` says
    whether they did."""

    def __init__(self, wait_s: float = 5.0) -> None:
        self.lock = threading.Condition()
        self.batches: list[list[dict[str, Any]]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.wait_s = wait_s

    def __call__(self, logical_id: str, event: dict[str, Any]) -> None:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.lock.notify_all()
            self.lock.wait_for(lambda: self.most_in_flight > 1, timeout=self.wait_s)
            self.batches.append(event["Records"])
            self.in_flight -= 1

    def changes(self) -> list[tuple[str, int]]:
        with self.lock:
            return [(record["dynamodb"]["Keys"]["PK"]["S"], int(record["dynamodb"]["NewImage"]["n"]["N"]))
                    for batch in self.batches for record in batch]


def poller(table: str, function: Any, dynamodb_client: Any, streams_client: Any, tmp_path: Any,  # noqa: F811
           **source: Any) -> StreamPoller:
    return StreamPoller(StreamEventSource(function="Watcher", table="Table", starting_position="TRIM_HORIZON", **source),
                        dynamodb_client=dynamodb_client, streams_client=streams_client, table_name=table,
                        region="us-east-1", invoke=function, checkpoint=StreamCheckpoint(tmp_path / "positions.json"))


def test_batches_of_different_lots_run_together_and_each_lot_s_changes_stay_in_order(
        tmp_path, table, dynamodb_client, streams_client):  # noqa: F811
    for n in range(CHANGES):  # every lot changes CHANGES times, the lots' changes interleaved
        for lot in LOTS:
            dynamodb_client.put_item(TableName=table, Item={"PK": {"S": lot}, "n": {"N": str(n)}})
    function = OverlappingFunction()

    run(poller(table, function, dynamodb_client, streams_client, tmp_path, batch_size=4, parallelization_factor=10),
        lambda: len(function.changes()) == len(LOTS) * CHANGES)

    changes = function.changes()
    for lot in LOTS:
        assert [n for key, n in changes if key == lot] == list(range(CHANGES))
    assert function.most_in_flight > 1
    assert all(len(batch) <= 4 for batch in function.batches)


def test_with_a_factor_of_one_batches_go_one_at_a_time(tmp_path, table, dynamodb_client, streams_client):  # noqa: F811
    for n in range(3):
        for lot in LOTS[:4]:
            dynamodb_client.put_item(TableName=table, Item={"PK": {"S": lot}, "n": {"N": str(n)}})
    function = OverlappingFunction(wait_s=0.05)

    run(poller(table, function, dynamodb_client, streams_client, tmp_path, batch_size=2),
        lambda: len(function.changes()) == 12)

    assert function.most_in_flight == 1
    assert function.changes() == [(lot, n) for n in range(3) for lot in LOTS[:4]]


def test_records_gather_for_the_batching_window_until_a_batch_is_full(
        tmp_path, table, dynamodb_client, streams_client):  # noqa: F811
    function = OverlappingFunction(wait_s=0)
    gathering = poller(table, function, dynamodb_client, streams_client, tmp_path, batch_size=3, batching_window_s=300)
    dynamodb_client.put_item(TableName=table, Item={"PK": {"S": "LOT#a"}, "n": {"N": "0"}})

    written: list[int] = []

    def write_the_rest_once_the_first_is_read() -> bool:
        if not written and gathering._gathered:  # the first record waits in its window
            written.extend((1, 2))
            for n in written:
                dynamodb_client.put_item(TableName=table, Item={"PK": {"S": "LOT#a"}, "n": {"N": str(n)}})
        return bool(function.batches)

    run(gathering, write_the_rest_once_the_first_is_read)

    assert function.changes() == [("LOT#a", 0), ("LOT#a", 1), ("LOT#a", 2)]
    assert len(function.batches) == 1
