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
"""

from __future__ import annotations

import json
import logging
import os
import time
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
        self._next_refresh = 0.0

    def start(self) -> None:
        """Positions every shard before returning, so nothing written after start is missed."""
        stream_arn = self._dynamodb.describe_table(TableName=self._table_name)["Table"].get("LatestStreamArn")
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
            self._stopping.wait(STREAM_IDLE_POLL_S)

    def _read_shard(self, shard_id: str) -> bool:
        try:
            response = self._streams.get_records(ShardIterator=self._iterators[shard_id], Limit=1000)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                raise
            # An old iterator: take a fresh one at the same position (past the trim horizon if
            # the records after it are gone).
            self._iterators[shard_id] = self._position_iterator(shard_id)
            return False
        records = response.get("Records", [])
        if records and not self._deliver(shard_id, [stream_record(r, self._stream_arn, self._region) for r in records]):
            return False  # stopping with a batch undelivered: the next start resumes before it
        next_iterator = response.get("NextShardIterator")
        if next_iterator is None:  # the shard is closed and read to its end: its children follow
            del self._iterators[shard_id]
            self._positions.pop(shard_id, None)
            self._finished.add(shard_id)
            self._adopt_new_shards()
            self._save()
        else:
            self._iterators[shard_id] = next_iterator
        return bool(records)

    def _deliver(self, shard_id: str, records: list[dict[str, Any]]) -> bool:
        """Hands the records that pass the filter to the function in batches, saving the
        position after each; False when stopping left a batch undelivered."""
        wanted = [record for record in records if matches_any(self.source.filter_patterns, record)]
        for start in range(0, len(wanted), self.source.batch_size):
            batch = wanted[start:start + self.source.batch_size]
            if not self._invoke_until_success({"Records": batch}):
                return False
            self._advance(shard_id, batch[-1]["dynamodb"]["SequenceNumber"])
        self._advance(shard_id, records[-1]["dynamodb"]["SequenceNumber"])  # past the filtered-out tail
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
    for field in ("SequenceNumber", "SizeBytes", "StreamViewType"):
        if field in change:
            dynamodb[field] = change[field]
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
