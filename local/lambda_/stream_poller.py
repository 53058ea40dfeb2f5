"""Lambda's DynamoDB stream event source mapping: `StreamPoller` reads a table's stream
shard by shard (parents before children), applies the FilterCriteria and invokes in
batches, retrying a failed batch until it succeeds. It saves, per shard, the sequence
number of the last record the function took (`StreamCheckpoint`, a JSON file in the data
directory), and a restart resumes just after it, as an event source mapping keeps its place
in AWS: StartingPosition applies only when the mapping is created (the first start on a data
directory). So a change written while the stack was down, or written but not yet delivered
when it died, is still delivered (at least once: a batch the function took but whose
position was not yet saved comes again).

DynamoDB Local's stream across a restart on the same -dbPath (measured with the 2026-05-28
release, after a clean stop and after SIGKILL of its JVM): the table keeps its stream ARN
and its shard id; every old record is still readable from TRIM_HORIZON; sequence numbers go
on from where they stopped (dense 21-digit counters, "...0001", "...0002"); iterators taken
before the restart, and AFTER_SEQUENCE_NUMBER from a saved sequence number, still work. An
AFTER_SEQUENCE_NUMBER past the last record gives an empty read, not an error. No shard
rolled over in 6,000 writes, and no record was trimmed (AWS trims after 24 hours and rolls
shards over every few hours; both are handled: a closed shard is read to its end before its
children, a trimmed position or expired iterator resumes at the oldest record left). A
table deleted and created again gets a new stream ARN: the poller treats that as a new
mapping.

As Lambda does, each shard's records are handed over in batches of up to `BatchSize`,
gathered for up to `MaximumBatchingWindowInSeconds` when fewer arrive, and, with a
`ParallelizationFactor` above 1, in up to that many batches at once: the records of one
read are split by their partition key (a key always lands in the same lane), each lane's
batches go in order, and the position is saved once every lane has delivered. So one
item's changes (one lot's snapshot) stay in order while different items' go in parallel.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from local.lambda_.filters import matches_any
from local.lambda_.polling import RETRY_BACKOFF_S, PollerThread, b64
from local.sam.model import Invoke, StreamEventSource

log = logging.getLogger("samsold.local.lambda_.stream_poller")

STREAM_IDLE_POLL_S = 0.25  # Lambda polls a stream shard about four times a second
SHARD_REFRESH_S = 5.0


class StreamCheckpoint:
    """Where an event source mapping stands in a stream, kept in one small JSON file.

    `positions` maps each shard being read to the sequence number of the last record handed
    to the function successfully (None: nothing yet, read from the shard's start);
    `finished` names the shards read to their end (or history skipped when the mapping was
    created). Each save writes a temporary file and renames it over the old one, so a crash
    leaves either the old checkpoint or the new one, never half of one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any] | None:
        try:
            saved = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:  # unreadable: start as a new mapping rather than not at all
            log.warning("stream checkpoint %s is unreadable (%s); the mapping starts afresh", self.path, error)
            return None
        if not isinstance(saved, dict) or not isinstance(saved.get("positions"), dict):
            log.warning("stream checkpoint %s has an unknown shape; the mapping starts afresh", self.path)
            return None
        return saved

    def save(self, stream_arn: str, positions: dict[str, str | None], finished: set[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        content = json.dumps({"stream_arn": stream_arn, "positions": positions, "finished": sorted(finished)})
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


@dataclass
class Gathered:
    """A shard's records read but not yet handed over (a batching window is open): those that
    pass the filter, the sequence number of the last one read, and when the first came."""

    wanted: list[dict[str, Any]] = field(default_factory=list)
    last_sequence: str | None = None
    since: float = 0.0


class StreamPoller(PollerThread):
    """One DynamoDB stream event source mapping.

    With a `checkpoint` file the position survives restarts, as an event source mapping's
    does in AWS: StartingPosition applies once, when the mapping is created (the first start
    on a data directory, or the first after the table and its stream were recreated); every
    later start resumes each shard after the last record the function took. Without one,
    every start is a new mapping.
    """

    def __init__(
        self, source: StreamEventSource, *, dynamodb_client: Any, streams_client: Any, table_name: str,
        region: str, invoke: Invoke, checkpoint: StreamCheckpoint | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.name = f"stream-poller:{source.table}->{source.function}"
        self._dynamodb = dynamodb_client
        self._streams = streams_client
        self._table_name = table_name
        self._region = region
        self._invoke = invoke
        self._checkpoint = checkpoint
        self._stream_arn = ""
        self._iterators: dict[str, str] = {}  # shard being read -> its next iterator
        self._positions: dict[str, str | None] = {}  # shard being read -> last sequence number delivered
        self._finished: set[str] = set()  # shards read to their end, or skipped as history
        self._known: dict[str, str | None] = {}  # shard id -> parent shard id
        self._gathered: dict[str, Gathered] = {}  # shard -> records waiting for their batching window
        self._hash_key = ""  # the table's partition key attribute: records are split into lanes by it
        self._next_refresh = 0.0

    def start(self) -> None:
        """Positions every shard before returning, so nothing written after start is missed."""
        table = self._dynamodb.describe_table(TableName=self._table_name)["Table"]
        stream_arn = table.get("LatestStreamArn")
        self._hash_key = next(key["AttributeName"] for key in table["KeySchema"] if key["KeyType"] == "HASH")
        if not stream_arn:
            raise RuntimeError(f"table {self._table_name} has no stream; it was created without one")
        self._stream_arn = stream_arn
        saved = self._checkpoint.load() if self._checkpoint is not None else None
        shards = self._shards()
        for shard in shards:
            self._known[shard["ShardId"]] = shard.get("ParentShardId")
        if saved is not None and saved.get("stream_arn") == stream_arn:
            self._resume(saved, shards)
        else:
            if saved is not None:
                log.info("%s: the table's stream changed (%s); the mapping starts afresh", self.name, stream_arn)
            self._create(shards)
        self._adopt_new_shards()
        self._save()
        super().start()

    def _create(self, shards: list[dict[str, Any]]) -> None:
        """A new mapping at the source's StartingPosition."""
        if self.source.starting_position == "TRIM_HORIZON":
            return  # every shard, closed ones too, is adopted from its start (parents first)
        for shard in shards:
            shard_id = shard["ShardId"]
            if "EndingSequenceNumber" in shard.get("SequenceNumberRange", {}):
                self._finished.add(shard_id)  # closed before the mapping existed: history
            else:
                self._skip_to_latest(shard_id)

    def _skip_to_latest(self, shard_id: str) -> None:
        """LATEST, as a sequence number that can be saved: reads the shard's history to its
        end without delivering it (instant on a new table; once per mapping on an old one)."""
        iterator: str | None = self._iterator(shard_id, "TRIM_HORIZON")
        last: str | None = None
        while True:
            response = self._streams.get_records(ShardIterator=iterator, Limit=1000)
            records = response.get("Records", [])
            if records:
                last = records[-1]["dynamodb"]["SequenceNumber"]
            iterator = response.get("NextShardIterator")
            if iterator is None:
                self._finished.add(shard_id)  # closed while we read it
                return
            if not records:
                break
        self._positions[shard_id] = last
        self._iterators[shard_id] = iterator

    def _resume(self, saved: dict[str, Any], shards: list[dict[str, Any]]) -> None:
        listed = {shard["ShardId"] for shard in shards}
        # Shards trimmed from the stream are forgotten; the rest resume where they were.
        self._finished = {shard_id for shard_id in saved.get("finished", []) if shard_id in listed}
        for shard_id, position in saved["positions"].items():
            if shard_id not in listed:
                log.warning("%s: shard %s is gone from the stream; its unread records are lost", self.name, shard_id)
                continue
            self._positions[shard_id] = position
            self._iterators[shard_id] = self._position_iterator(shard_id)

    def poll_once(self) -> None:
        if time.monotonic() >= self._next_refresh:
            self._adopt_new_shards()
        got_records = False
        for shard_id in list(self._iterators):
            got_records |= self._read_shard(shard_id)
            if self._stopping.is_set():
                return
        if not got_records:
            self._stopping.wait(self._idle_wait())

    def _idle_wait(self) -> float:
        """Until the next poll: Lambda's idle pace, or sooner when a batching window closes first."""
        if not self._gathered:
            return STREAM_IDLE_POLL_S
        closes = min(g.since for g in self._gathered.values()) + self.source.batching_window_s
        return max(0.0, min(STREAM_IDLE_POLL_S, closes - time.monotonic()))

    def _read_shard(self, shard_id: str) -> bool:
        try:
            response = self._streams.get_records(ShardIterator=self._iterators[shard_id], Limit=1000)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                raise
            # An old iterator: take a fresh one at the same position (past the trim horizon if
            # the records after it are gone); what was gathered after that position comes again.
            self._iterators[shard_id] = self._position_iterator(shard_id)
            self._gathered.pop(shard_id, None)
            return False
        records = response.get("Records", [])
        next_iterator = response.get("NextShardIterator")
        if records:
            self._gather(shard_id, records)
        gathered = self._gathered.get(shard_id)
        if gathered is not None and (next_iterator is None or self._window_closed(gathered)):
            if not self._deliver(shard_id, gathered):
                return False  # stopping with a batch undelivered: the next start resumes before it
            del self._gathered[shard_id]
        if next_iterator is None:  # the shard is closed and read to its end: its children follow
            del self._iterators[shard_id]
            self._positions.pop(shard_id, None)
            self._finished.add(shard_id)
            self._adopt_new_shards()
            self._save()
        else:
            self._iterators[shard_id] = next_iterator
        return bool(records)

    def _gather(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        gathered = self._gathered.setdefault(shard_id, Gathered(since=time.monotonic()))
        for record in records:
            lambda_record = stream_record(record, self._stream_arn, self._region)
            if matches_any(self.source.filter_patterns, lambda_record):
                gathered.wanted.append(lambda_record)
        gathered.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]

    def _window_closed(self, gathered: Gathered) -> bool:
        """A full batch is ready, or the first record has waited the batching window out."""
        return (len(gathered.wanted) >= self.source.batch_size
                or time.monotonic() - gathered.since >= self.source.batching_window_s)

    def _deliver(self, shard_id: str, gathered: Gathered) -> bool:
        """Hands the records that passed the filter to the function in batches, in up to
        ParallelizationFactor lanes by partition key, then saves the position past them all;
        False when stopping left a batch undelivered."""
        lanes = self._lanes(gathered.wanted)
        if len(lanes) <= 1:
            for lane in lanes:
                if not self._deliver_lane(lane, shard_id):
                    return False
        elif not self._deliver_concurrently(lanes):
            return False
        if gathered.last_sequence is not None:
            self._advance(shard_id, gathered.last_sequence)  # past the filtered-out tail too
        return True

    def _lanes(self, records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """The records split by partition key into at most ParallelizationFactor lanes, each in
        stream order; one key's records always share a lane."""
        factor = self.source.parallelization_factor
        lanes: dict[int, list[dict[str, Any]]] = {}
        for record in records:
            key = record["dynamodb"].get("Keys", {}).get(self._hash_key)
            lane = zlib.crc32(json.dumps(key, sort_keys=True).encode()) % factor if factor > 1 else 0
            lanes.setdefault(lane, []).append(record)
        return list(lanes.values())

    def _deliver_concurrently(self, lanes: list[list[dict[str, Any]]]) -> bool:
        """Each lane on its own thread, as Lambda runs a shard's concurrent batches; True when every lane delivered."""
        results: list[bool] = []
        threads = [threading.Thread(target=lambda lane=lane: results.append(self._deliver_lane(lane)),
                                    name=f"{self.name}:lane", daemon=True) for lane in lanes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return len(results) == len(lanes) and all(results)

    def _deliver_lane(self, records: list[dict[str, Any]], shard_id: str | None = None) -> bool:
        """One lane's batches in order; with `shard_id` (the only lane) the position is saved after each."""
        for start in range(0, len(records), self.source.batch_size):
            batch = records[start:start + self.source.batch_size]
            if not self._invoke_until_success({"Records": batch}):
                return False
            if shard_id is not None:
                self._advance(shard_id, batch[-1]["dynamodb"]["SequenceNumber"])
        return True

    def _advance(self, shard_id: str, sequence_number: str) -> None:
        if self._positions.get(shard_id) != sequence_number:
            self._positions[shard_id] = sequence_number
            self._save()

    def _invoke_until_success(self, event: dict[str, Any]) -> bool:
        attempt = 0
        while not self._stopping.is_set():
            try:
                self._invoke(self.source.function, event)
                return True
            except Exception as error:  # Lambda retries a stream batch until it succeeds
                delay = RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)]
                log.warning("%s: batch of %d failed (%s); retrying in %.1f s", self.name, len(event["Records"]),
                            error, delay)
                self._stopping.wait(delay)
                attempt += 1
        return False

    def _adopt_new_shards(self) -> None:
        """Starts shards created since (after a rollover) from their start, each once its parent is read."""
        listed = self._shards()
        for shard in listed:
            self._known.setdefault(shard["ShardId"], shard.get("ParentShardId"))
        for shard_id, parent in self._known.items():
            if shard_id in self._iterators or shard_id in self._finished:
                continue
            if parent is None or parent in self._finished or parent not in self._known:
                self._positions[shard_id] = None
                self._iterators[shard_id] = self._iterator(shard_id, "TRIM_HORIZON")
        self._next_refresh = time.monotonic() + SHARD_REFRESH_S

    def _position_iterator(self, shard_id: str) -> str:
        """An iterator just after the shard's saved position (its start if it has none)."""
        position = self._positions.get(shard_id)
        if position is None:
            return self._iterator(shard_id, "TRIM_HORIZON")
        try:
            return self._iterator(shard_id, "AFTER_SEQUENCE_NUMBER", position)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("TrimmedDataAccessException", "ValidationException"):
                raise
            log.warning("%s: shard %s has no record %s any more (%s); reading from its oldest record",
                        self.name, shard_id, position, error.response["Error"]["Code"])
            return self._iterator(shard_id, "TRIM_HORIZON")

    def _save(self) -> None:
        if self._checkpoint is not None:
            self._checkpoint.save(self._stream_arn, dict(self._positions), self._finished)

    def _shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        request: dict[str, Any] = {"StreamArn": self._stream_arn}
        while True:
            description = self._streams.describe_stream(**request)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            request["ExclusiveStartShardId"] = last

    def _iterator(self, shard_id: str, position: str, sequence_number: str | None = None) -> str:
        request = {"StreamArn": self._stream_arn, "ShardId": shard_id, "ShardIteratorType": position}
        if sequence_number is not None:
            request["SequenceNumber"] = sequence_number
        return self._streams.get_shard_iterator(**request)["ShardIterator"]


def stream_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A record from boto3's GetRecords as Lambda passes it in a DynamoDB stream event."""
    change = record["dynamodb"]
    dynamodb: dict[str, Any] = {}
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in change:
            dynamodb[image] = {name: _json_attribute_value(value) for name, value in change[image].items()}
    for attribute in ("SequenceNumber", "SizeBytes", "StreamViewType"):
        if attribute in change:
            dynamodb[attribute] = change[attribute]
    lambda_record = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:  # TTL deletions
        lambda_record["userIdentity"] = {"type": record["userIdentity"]["Type"],
                                         "principalId": record["userIdentity"]["PrincipalId"]}
    return lambda_record


def _json_attribute_value(value: dict[str, Any]) -> dict[str, Any]:
    """A low-level AttributeValue in JSON: binary values base64-encoded, as on the wire."""
    if not value:  # DynamoDB Local's stream writes an empty map as {} (DynamoDB writes {"M": {}})
        return {"M": {}}
    (kind, content), = value.items()
    if kind == "B":
        return {"B": b64(content)}
    if kind == "BS":
        return {"BS": [b64(item) for item in content]}
    if kind == "M":
        return {"M": {name: _json_attribute_value(item) for name, item in content.items()}}
    if kind == "L":
        return {"L": [_json_attribute_value(item) for item in content]}
    return {kind: content}
