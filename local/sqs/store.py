"""Queues and messages in SQLite, with SQS's semantics: FIFO message groups, visibility
timeouts, deduplication, receive counts and redrive to a dead-letter queue.

One connection behind one lock; a condition variable per queue on that lock wakes the
long polls of that queue whenever its messages change, and waiting releases the lock so
senders never queue behind a poll. Times are wall-clock milliseconds so a restart on the same file sees
in-flight messages come back when their visibility timeout ends, as in SQS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from local.sqs.attributes import (
    RedrivePolicy,
    canonical_queue_attributes,
    effective_queue_attributes,
    parse_redrive_policy,
    validate_queue_name,
)
from local.sqs.errors import (
    SqsError,
    invalid_parameter,
    missing_parameter,
    queue_does_not_exist,
    receipt_handle_invalid,
)

DEDUPLICATION_WINDOW_MS = 5 * 60 * 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    attributes TEXT NOT NULL,          -- JSON: the configured attributes only
    created_at INTEGER NOT NULL,       -- seconds
    modified_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- send order; never reused, so it is the SequenceNumber
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    message_attributes TEXT NOT NULL,  -- JSON, as sent
    trace_header TEXT,
    group_id TEXT,
    deduplication_id TEXT,
    dead_letter_source_arn TEXT,
    sent_at INTEGER NOT NULL,          -- milliseconds, as are the times below
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_receive_at INTEGER,
    receipt_handle TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, seq);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_id ON messages (queue, message_id);
CREATE TABLE IF NOT EXISTS deduplication (
    queue TEXT NOT NULL,
    deduplication_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (queue, deduplication_id)
);
CREATE TABLE IF NOT EXISTS move_tasks (
    handle TEXT PRIMARY KEY,
    source_arn TEXT NOT NULL,
    destination_arn TEXT,
    moved INTEGER NOT NULL,
    to_move INTEGER NOT NULL,
    started_at INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Queue:
    name: str
    attributes: dict[str, str]  # configured over defaults, as GetQueueAttributes shows them
    created_at_s: int
    modified_at_s: int

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoQueue") == "true"

    @property
    def visibility_timeout_s(self) -> int:
        return int(self.attributes["VisibilityTimeout"])

    @property
    def delay_s(self) -> int:
        return int(self.attributes["DelaySeconds"])

    @property
    def wait_time_s(self) -> int:
        return int(self.attributes["ReceiveMessageWaitTimeSeconds"])

    @property
    def retention_ms(self) -> int:
        return int(self.attributes["MessageRetentionPeriod"]) * 1000

    @property
    def content_based_deduplication(self) -> bool:
        return self.attributes.get("ContentBasedDeduplication") == "true"

    @property
    def redrive_policy(self) -> RedrivePolicy | None:
        text = self.attributes.get("RedrivePolicy")
        return parse_redrive_policy(text) if text else None


@dataclass(frozen=True)
class NewMessage:
    body: str
    message_attributes: dict[str, dict[str, str]]
    trace_header: str | None = None
    group_id: str | None = None
    deduplication_id: str | None = None  # derived from the body when the queue is content-based
    delay_s: int | None = None


@dataclass(frozen=True)
class Sent:
    message_id: str
    sequence_number: str


@dataclass(frozen=True)
class Received:
    message_id: str
    receipt_handle: str
    body: str
    message_attributes: dict[str, dict[str, str]]
    trace_header: str | None
    group_id: str | None
    deduplication_id: str | None
    dead_letter_source_arn: str | None
    sequence_number: str
    sent_at_ms: int
    receive_count: int
    first_receive_at_ms: int


@dataclass(frozen=True)
class QueueCounts:
    visible: int
    in_flight: int
    delayed: int


@dataclass(frozen=True)
class MoveTask:
    handle: str
    source_arn: str
    destination_arn: str | None
    moved: int
    to_move: int
    started_at_ms: int


def now_ms() -> int:
    return int(time.time() * 1000)


def sequence_number(seq: int) -> str:
    return f"{seq:020d}"


def _new_receipt_handle(message_id: str) -> str:
    token = uuid.uuid4().hex
    return base64.urlsafe_b64encode(f"{message_id}:{token}".encode()).decode()


def _message_id_in(receipt_handle: str) -> str:
    try:
        message_id, _token = base64.urlsafe_b64decode(receipt_handle.encode()).decode().split(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise receipt_handle_invalid("not a receipt handle from this queue") from None
    return message_id


class SqsStore:
    def __init__(self, db_path: str | Path, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self._db = sqlite3.connect(str(db_path), check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a crash of this process; only power loss can lose the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # Long polls wait on their queue's own condition (on the same lock), so a change to
        # one queue wakes only the receivers of that queue, not every poller of every queue.
        self._queue_changed: dict[str, threading.Condition] = {}
        self._closed = False

    def arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._notify_all_queues()
            self._db.close()

    # --- queues ---------------------------------------------------------------------

    def create_queue(self, name: str, given: dict[str, Any]) -> Queue:
        fifo = str(given.get("FifoQueue", "false")).lower() == "true"
        validate_queue_name(name, fifo)
        configured = canonical_queue_attributes(given, fifo)
        with self._changed:
            self._check_open()
            existing = self._find_queue(name)
            if existing is not None:
                if any(existing.attributes.get(key) != value for key, value in configured.items()):
                    raise SqsError("QueueNameExists", "A queue already exists with the same name and a different "
                                                      f"value for attribute(s) {', '.join(sorted(configured))}")
                return existing
            self._check_redrive_target(fifo, configured)
            now_s = now_ms() // 1000
            with self._db:
                self._db.execute(
                    "INSERT INTO queues (name, attributes, created_at, modified_at) VALUES (?, ?, ?, ?)",
                    (name, json.dumps(configured), now_s, now_s),
                )
            return self._queue(name)

    def set_queue_attributes(self, name: str, given: dict[str, Any]) -> None:
        with self._changed:
            queue = self._queue(name)
            if "FifoQueue" in given:
                raise SqsError("InvalidAttributeName", "FifoQueue cannot be changed after the queue is created.")
            configured = canonical_queue_attributes(given, queue.fifo)
            self._check_redrive_target(queue.fifo, configured)
            stored = json.loads(self._db.execute("SELECT attributes FROM queues WHERE name = ?", (name,)).fetchone()[0])
            with self._db:
                self._db.execute(
                    "UPDATE queues SET attributes = ?, modified_at = ? WHERE name = ?",
                    (json.dumps(stored | configured), now_ms() // 1000, name),
                )
            self._notify(name)

    def _check_redrive_target(self, fifo: bool, configured: dict[str, str]) -> None:
        if "RedrivePolicy" not in configured:
            return
        target = self._find_queue(parse_redrive_policy(configured["RedrivePolicy"]).dead_letter_queue_name)
        if target is None:
            raise invalid_parameter("RedrivePolicy", configured["RedrivePolicy"], "Dead letter target does not exist")
        if target.fifo != fifo:
            raise invalid_parameter("RedrivePolicy", configured["RedrivePolicy"],
                                    "Dead-letter queue must be of the same type as the source queue")

    def delete_queue(self, name: str) -> None:
        with self._changed:
            self._queue(name)
            with self._db:
                for table, column in (("queues", "name"), ("messages", "queue"), ("deduplication", "queue")):
                    self._db.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))
            self._notify(name)

    def get_queue(self, name: str) -> Queue:
        with self._changed:
            return self._queue(name)

    def list_queues(self, prefix: str = "") -> list[str]:
        with self._changed:
            self._check_open()
            rows = self._db.execute("SELECT name FROM queues ORDER BY name").fetchall()
        return [row[0] for row in rows if row[0].startswith(prefix)]

    def dead_letter_sources(self, name: str) -> list[str]:
        """Queues whose redrive policy targets `name`."""
        with self._changed:
            arn = self.arn(self._queue(name).name)
            names = [row[0] for row in self._db.execute("SELECT name FROM queues ORDER BY name")]
            policies = {source: self._queue(source).redrive_policy for source in names}
            return [source for source, policy in policies.items() if policy and policy.dead_letter_target_arn == arn]

    def counts(self, name: str) -> QueueCounts:
        with self._changed:
            self._queue(name)
            row = self._db.execute(
                """SELECT COALESCE(SUM(visible_at <= :now), 0),
                          COALESCE(SUM(visible_at > :now AND receive_count > 0), 0),
                          COALESCE(SUM(visible_at > :now AND receive_count = 0), 0)
                   FROM messages WHERE queue = :queue""",
                {"now": now_ms(), "queue": name},
            ).fetchone()
        return QueueCounts(visible=row[0], in_flight=row[1], delayed=row[2])

    def _check_open(self) -> None:
        if self._closed:
            raise SqsError("ServiceUnavailable", "The queue service is shutting down.", sender_fault=False, status=503)

    def _find_queue(self, name: str) -> Queue | None:
        row = self._db.execute("SELECT * FROM queues WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        configured = json.loads(row["attributes"])
        return Queue(name, effective_queue_attributes(configured), row["created_at"], row["modified_at"])

    def _queue(self, name: str) -> Queue:
        self._check_open()
        queue = self._find_queue(name)
        if queue is None:
            raise queue_does_not_exist()
        return queue

    # --- sending --------------------------------------------------------------------

    def send(self, name: str, message: NewMessage) -> Sent:
        with self._changed:
            queue = self._queue(name)
            if queue.fifo and message.deduplication_id is None and queue.content_based_deduplication:
                message = replace(message, deduplication_id=hashlib.sha256(message.body.encode()).hexdigest())
            _check_sendable(queue, message)
            now = now_ms()
            if queue.fifo:
                original = self._deduplicated(queue.name, message.deduplication_id, now)
                if original is not None:
                    return original
            delay_s = message.delay_s if message.delay_s is not None else queue.delay_s
            message_id = str(uuid.uuid4())
            with self._db:
                seq = self._insert(queue.name, message, message_id, sent_at=now, visible_at=now + delay_s * 1000)
                if queue.fifo:
                    self._db.execute(
                        "INSERT OR REPLACE INTO deduplication VALUES (?, ?, ?, ?, ?)",
                        (queue.name, message.deduplication_id, message_id, seq, now + DEDUPLICATION_WINDOW_MS),
                    )
            self._notify(queue.name)
            return Sent(message_id, sequence_number(seq))

    def _deduplicated(self, queue: str, deduplication_id: str | None, now: int) -> Sent | None:
        """The earlier send with this deduplication id inside the window, if any."""
        with self._db:
            self._db.execute("DELETE FROM deduplication WHERE queue = ? AND expires_at <= ?", (queue, now))
        row = self._db.execute(
            "SELECT message_id, seq FROM deduplication WHERE queue = ? AND deduplication_id = ?",
            (queue, deduplication_id),
        ).fetchone()
        return Sent(row[0], sequence_number(row[1])) if row else None

    def _insert(self, queue: str, message: NewMessage, message_id: str, sent_at: int, visible_at: int,
                dead_letter_source_arn: str | None = None) -> int:
        cursor = self._db.execute(
            """INSERT INTO messages (queue, message_id, body, message_attributes, trace_header, group_id,
                                     deduplication_id, dead_letter_source_arn, sent_at, visible_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (queue, message_id, message.body, json.dumps(message.message_attributes), message.trace_header,
             message.group_id, message.deduplication_id, dead_letter_source_arn, sent_at, visible_at),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    # --- receiving ------------------------------------------------------------------

    def receive(self, name: str, max_messages: int, visibility_timeout_s: int | None,
                wait_time_s: int | None) -> list[Received]:
        """Up to `max_messages`, waiting up to the wait time for the first to be available."""
        with self._changed:
            queue = self._queue(name)
            wait_s = wait_time_s if wait_time_s is not None else queue.wait_time_s
            deadline = now_ms() + wait_s * 1000
            while True:
                queue = self._queue(name)  # it may have been changed or deleted while we waited
                received = self._receive_available(queue, max_messages, visibility_timeout_s, now_ms())
                remaining_ms = deadline - now_ms()
                if received or remaining_ms <= 0:
                    return received
                # Wake on any change, or when the next hidden message becomes visible.
                self._waiters_of(queue.name).wait(min(remaining_ms, self._next_visible_in_ms(queue.name)) / 1000)

    def _waiters_of(self, queue: str) -> threading.Condition:
        """The condition a long poll of `queue` waits on (the store's lock held)."""
        condition = self._queue_changed.get(queue)
        if condition is None:
            condition = self._queue_changed[queue] = threading.Condition(self._lock)
        return condition

    def _notify(self, queue: str) -> None:
        condition = self._queue_changed.get(queue)
        if condition is not None:
            condition.notify_all()

    def _notify_all_queues(self) -> None:
        for condition in self._queue_changed.values():
            condition.notify_all()

    def _next_visible_in_ms(self, queue: str) -> int:
        now = now_ms()
        row = self._db.execute(
            "SELECT MIN(visible_at) FROM messages WHERE queue = ? AND visible_at > ?", (queue, now)
        ).fetchone()
        return row[0] - now if row[0] is not None else 2**31

    def _receive_available(
        self, queue: Queue, max_messages: int, visibility_timeout_s: int | None, now: int
    ) -> list[Received]:
        timeout_s = visibility_timeout_s if visibility_timeout_s is not None else queue.visibility_timeout_s
        with self._db:
            expired_before = now - queue.retention_ms
            self._db.execute("DELETE FROM messages WHERE queue = ? AND sent_at <= ?", (queue.name, expired_before))
            return [self._deliver(seq, timeout_s, now) for seq in self._choose(queue, max_messages, now)]

    def _choose(self, queue: Queue, max_messages: int, now: int) -> list[int]:
        """The messages to deliver, in order. In a FIFO queue a group is blocked from its
        first message that is not visible (in flight or delayed) onwards, so nothing
        overtakes an earlier message of its group. Messages received too often go to the
        dead-letter queue instead, and the next of their group takes their place."""
        dead_letter_queue = self._dead_letter_queue(queue)
        policy = queue.redrive_policy
        rows = self._db.execute(
            "SELECT seq, group_id, visible_at, receive_count FROM messages WHERE queue = ? ORDER BY seq", (queue.name,)
        ).fetchall()
        blocked_groups: set[str | None] = set()
        chosen: list[int] = []
        for row in rows:
            group = row["group_id"] if queue.fifo else None
            if queue.fifo and group in blocked_groups:
                continue
            if row["visible_at"] > now:
                blocked_groups.add(group)
                continue
            if dead_letter_queue and policy and row["receive_count"] >= policy.max_receive_count:
                self._move(row["seq"], dead_letter_queue.name, self.arn(queue.name), now)
                continue
            chosen.append(row["seq"])
            if len(chosen) == max_messages:
                break
        return chosen

    def _dead_letter_queue(self, queue: Queue) -> Queue | None:
        policy = queue.redrive_policy
        return self._find_queue(policy.dead_letter_queue_name) if policy else None

    def _move(self, seq: int, destination: str, dead_letter_source_arn: str | None, now: int) -> None:
        """Re-append a message at the end of another queue, unreceived and visible; it keeps
        its id, body, attributes, group and send time."""
        self._db.execute(
            """INSERT INTO messages (queue, message_id, body, message_attributes, trace_header, group_id,
                                     deduplication_id, dead_letter_source_arn, sent_at, visible_at)
               SELECT ?, message_id, body, message_attributes, trace_header, group_id,
                      deduplication_id, ?, sent_at, ? FROM messages WHERE seq = ?""",
            (destination, dead_letter_source_arn, now, seq),
        )
        self._db.execute("DELETE FROM messages WHERE seq = ?", (seq,))
        self._notify_all_queues()  # the source's group and the destination

    def _deliver(self, seq: int, visibility_timeout_s: int, now: int) -> Received:
        message_id: str = self._db.execute("SELECT message_id FROM messages WHERE seq = ?", (seq,)).fetchone()[0]
        self._db.execute(
            """UPDATE messages SET receive_count = receive_count + 1, first_receive_at = COALESCE(first_receive_at, ?),
                                   visible_at = ?, receipt_handle = ? WHERE seq = ?""",
            (now, now + visibility_timeout_s * 1000, _new_receipt_handle(message_id), seq),
        )
        row = self._db.execute("SELECT * FROM messages WHERE seq = ?", (seq,)).fetchone()
        return Received(
            message_id=row["message_id"],
            receipt_handle=row["receipt_handle"],
            body=row["body"],
            message_attributes=json.loads(row["message_attributes"]),
            trace_header=row["trace_header"],
            group_id=row["group_id"],
            deduplication_id=row["deduplication_id"],
            dead_letter_source_arn=row["dead_letter_source_arn"],
            sequence_number=sequence_number(row["seq"]),
            sent_at_ms=row["sent_at"],
            receive_count=row["receive_count"],
            first_receive_at_ms=row["first_receive_at"],
        )

    # --- after receiving ------------------------------------------------------------

    def delete(self, name: str, receipt_handle: str) -> None:
        """Deletes the message if `receipt_handle` is from its latest receive. A message
        already gone is not an error (as in SQS); a handle made stale by a later receive is."""
        with self._changed:
            self._queue(name)
            row = self._message_for(name, receipt_handle)
            if row is None:
                return
            with self._db:
                self._db.execute("DELETE FROM messages WHERE seq = ?", (row["seq"],))
            self._notify(name)

    def change_visibility(self, name: str, receipt_handle: str, visibility_timeout_s: int) -> None:
        if not 0 <= visibility_timeout_s <= 43_200:
            raise invalid_parameter("VisibilityTimeout", visibility_timeout_s, "must be between 0 and 43200 seconds")
        with self._changed:
            self._queue(name)
            row = self._message_for(name, receipt_handle)
            now = now_ms()
            if row is None:
                raise receipt_handle_invalid("the message does not exist")
            if row["visible_at"] <= now:
                raise SqsError("MessageNotInflight", "The message referred to is not in flight.")
            with self._db:
                self._db.execute(
                    "UPDATE messages SET visible_at = ? WHERE seq = ?", (now + visibility_timeout_s * 1000, row["seq"])
                )
            self._notify(name)

    def _message_for(self, queue: str, receipt_handle: str) -> sqlite3.Row | None:
        message_id = _message_id_in(receipt_handle)
        row: sqlite3.Row | None = self._db.execute(
            "SELECT seq, visible_at, receipt_handle FROM messages WHERE queue = ? AND message_id = ?",
            (queue, message_id),
        ).fetchone()
        if row is not None and row["receipt_handle"] != receipt_handle:
            raise receipt_handle_invalid("the message has been received again since; this receipt handle has expired")
        return row

    def purge(self, name: str) -> None:
        with self._changed:
            self._queue(name)
            with self._db:
                self._db.execute("DELETE FROM messages WHERE queue = ?", (name,))
            self._notify(name)

    # --- dead-letter redrive --------------------------------------------------------

    def start_move_task(self, source_name: str, destination_name: str | None) -> MoveTask:
        """Moves every message of a dead-letter queue that is not in flight back to
        `destination_name`, or to the queue it came from; done before this returns."""
        with self._changed:
            source = self._queue(source_name)
            if destination_name is not None:
                self._queue(destination_name)
            if destination_name == source_name:
                raise invalid_parameter("DestinationArn", self.arn(source_name), "must differ from SourceArn")
            now = now_ms()
            rows = self._db.execute(
                "SELECT seq, dead_letter_source_arn FROM messages WHERE queue = ? AND visible_at <= ? ORDER BY seq",
                (source.name, now),
            ).fetchall()
            moved = 0
            with self._db:
                for row in rows:
                    target = destination_name or (row["dead_letter_source_arn"] or "").rsplit(":", 1)[-1]
                    if self._find_queue(target) is not None:
                        self._move(row["seq"], target, None, now)
                        moved += 1
                task = MoveTask(uuid.uuid4().hex, self.arn(source.name),
                                self.arn(destination_name) if destination_name else None, moved, len(rows), now)
                self._db.execute(
                    "INSERT INTO move_tasks VALUES (?, ?, ?, ?, ?, ?)",
                    (task.handle, task.source_arn, task.destination_arn, task.moved, task.to_move, task.started_at_ms),
                )
            return task

    def move_tasks(self, source_name: str) -> list[MoveTask]:
        with self._changed:
            self._queue(source_name)
            rows = self._db.execute(
                "SELECT * FROM move_tasks WHERE source_arn = ? ORDER BY started_at DESC", (self.arn(source_name),)
            ).fetchall()
        return [
            MoveTask(row["handle"], row["source_arn"], row["destination_arn"],
                     row["moved"], row["to_move"], row["started_at"])
            for row in rows
        ]


_NOT_FOR_THIS_QUEUE_TYPE = "The request include parameter that is not valid for this queue type"


def _check_sendable(queue: Queue, message: NewMessage) -> None:
    if queue.fifo:
        if not message.group_id:
            raise missing_parameter("MessageGroupId")
        if message.delay_s is not None:  # FIFO queues only have a queue-wide delay
            raise invalid_parameter("DelaySeconds", message.delay_s, _NOT_FOR_THIS_QUEUE_TYPE)
        if not message.deduplication_id:
            raise invalid_parameter("MessageDeduplicationId", None, "The queue should either have "
                                    "ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
    elif message.deduplication_id is not None:
        raise invalid_parameter("MessageDeduplicationId", message.deduplication_id, _NOT_FOR_THIS_QUEUE_TYPE)
    if message.delay_s is not None and not 0 <= message.delay_s <= 900:
        raise invalid_parameter("DelaySeconds", message.delay_s, "must be between 0 and 900 seconds")
