"""Faults, as tests: the whole stack killed with SIGKILL in the middle of a burst and
restarted on its data directory; DynamoDB Local stopped and restarted while bids flow; a
ProcessBid worker killed after its transaction and before the acknowledgement. Each time
every bid that got a 202 is decided exactly once.

The processes are real and the kills are SIGKILL, from outside: nothing in the code under
test knows it is being tested. DynamoDB Local alone is stopped with SIGTERM, as its own
shutdown: it stands in for DynamoDB, which never loses a write it acknowledged, and DynamoDB
Local does when SIGKILL comes right after a TransactWriteItems it answered (seen in 2 of 6
tries: a transaction of 4 Puts answered 200, then SIGKILL, then none of the 4 after a
restart; a PutItem, and any write followed by SIGTERM, always kept). The queue's visibility timeout (180 s in template.yaml, as
AWS recommends) is lowered through the SQS API so messages a dead consumer held come back
within the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest
import requests
from websockets.exceptions import ConnectionClosed

from local.cognito.user_pool import DevAuth
from local.dynamodb.launcher import DynamoDBLocal
from local.runtime import ENDPOINTS_FILE, LocalStack, read_endpoints
from tests.e2e.helpers import Client, Watcher, eventually

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMSOLD = Path(sys.executable).with_name("samsold")
BIDDERS = ("ann", "ben", "cat", "dan")
PROCESS_BID_HANDLER = b"handlers.process_bid.handler"


# -- processes ----------------------------------------------------------------------------------


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible in /proc."""
    parents = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(pid: int) -> list[int]:
    parents = _parents()
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, of in parents.items() if of == parent]
        found += children
        todo += children
    return found


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def running(pid: int) -> bool:
    return command_line(pid) != b""  # gone, or a zombie (whose command line is empty)


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert eventually(lambda: not [pid for pid in pids if running(pid)], timeout=30)


class DevStack:
    """`samsold dev` in a session of its own, as a developer runs it in a terminal."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.log = log
        with open(log, "ab") as output:
            self.process = subprocess.Popen(
                [str(SAMSOLD), "dev", "--data-dir", str(data_dir), "--port", "0"],
                cwd=REPO, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._log_start = log.stat().st_size if log.exists() else 0

    def wait_until_ready(self, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"ready" not in self.log.read_bytes()[self._log_start:]:
            assert self.process.poll() is None, f"samsold dev exited: {self.log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"samsold dev not ready: {self.log.read_text()[-3000:]}"
            time.sleep(0.2)
        return json.loads((self.data_dir / ENDPOINTS_FILE).read_text())

    def kill(self) -> list[int]:
        """SIGKILL to every process of the stack: the parent is stopped first so it starts
        nothing more, then its descendants (the function workers run in sessions of their
        own) and it are killed; DynamoDB Local, in its process group, is stopped with SIGTERM
        once nothing can write to it any more (see the module's docstring)."""
        os.kill(self.process.pid, signal.SIGSTOP)
        everything = [self.process.pid, *descendants(self.process.pid)]
        database = dynamodb_local_pid(self.data_dir / "dynamodb")
        kill_all([pid for pid in everything if pid not in (database, self.process.pid)])
        stop_dynamodb_local(database)
        os.killpg(self.process.pid, signal.SIGKILL)
        kill_all(everything)
        self.process.wait(10)
        return everything

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


# -- the application ----------------------------------------------------------------------------


def lower_visibility_timeout(sqs_endpoint: str, queue_url: str, seconds: int) -> None:
    sqs = boto3.client("sqs", endpoint_url=sqs_endpoint)
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": str(seconds)})


def queue_counts(sqs_endpoint: str, queue_url: str) -> tuple[int, int]:
    attributes = boto3.client("sqs", endpoint_url=sqs_endpoint).get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


class Burst:
    """Bidders placing bids one after another on a few lots, in threads, until stopped or
    `per_bidder` are sent; `placed` holds (bidder, lot, bid_id) of each bid that got a 202."""

    def __init__(self, api: str, auth: DevAuth, lots: list[str], per_bidder: int) -> None:
        self.clients = {name: Client(api, auth.mint(name)) for name in BIDDERS}
        self.lots = lots
        self.per_bidder = per_bidder
        self.placed: list[tuple[str, str, str]] = []
        self.other_answers: Counter[str] = Counter()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._bid, args=(name, number), daemon=True)
                         for number, name in enumerate(BIDDERS)]

    def start(self) -> Burst:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(60)

    def until_placed(self, count: int, timeout: float = 60) -> None:
        assert eventually(lambda: len(self.placed) >= count, timeout=timeout), self.other_answers

    def _bid(self, name: str, number: int) -> None:
        client = self.clients[name]
        for sent in range(self.per_bidder):
            if self.stopping.is_set():
                return
            lot = self.lots[(sent + number) % len(self.lots)]
            amount = f"{10 + sent * len(BIDDERS) + number}.00"  # rising: many are accepted, some rejected
            try:
                response = client.session.post(client.api + "/bid", json={"lot_id": lot, "amount": amount}, timeout=10)
            except requests.RequestException as error:
                answer = type(error).__name__
            else:
                answer = str(response.status_code)
            with self._lock:
                if answer == "202":
                    self.placed.append((name, lot, response.json()["bid_id"]))
                    continue
                self.other_answers[answer] += 1
            time.sleep(0.2)  # as a client backs off after an error


def wait_until_decided(clients: dict[str, Client], placed: list[tuple[str, str, str]], timeout: float) -> None:
    pending = {(name, bid_id) for name, _, bid_id in placed}

    def nothing_pending() -> bool:
        for name, bid_id in list(pending):
            if clients[name].get(f"/bids/{bid_id}").json().get("status") in ("ACCEPTED", "REJECTED"):
                pending.discard((name, bid_id))
        return not pending

    assert eventually(nothing_pending, timeout=timeout, every=0.5), f"{len(pending)} bids not decided: {pending}"


def lot_events(admin: Client, lot_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = admin.get(f"/lots/{lot_id}/events", params={"after_version": after, "limit": 1000}).json()
        events += page["events"]
        if page["next_after_version"] is None:
            return events
        after = page["next_after_version"]


def subscriptions(endpoints: dict[str, Any], lot_id: str) -> set[str]:
    """The connections subscribed to a lot, from the Connections table."""
    items = boto3.client("dynamodb", endpoint_url=endpoints["dynamodb"]).query(
        TableName=endpoints["outputs"]["ConnectionsTableName"], KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"LOT#{lot_id}"}}, ConsistentRead=True)["Items"]
    return {item["SK"]["S"] for item in items}


def connected_long_ago(endpoints: dict[str, Any], connections: set[str]) -> None:
    """Moves the connections' connect time back past the 30 s grace a connection has to
    finish connecting, as if the test had waited it out: a broadcast that finds one gone
    then forgets it."""
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoints["dynamodb"])
    for connection in connections:  # "CONN#<id>": the key of the connection's own item
        dynamodb.update_item(
            TableName=endpoints["outputs"]["ConnectionsTableName"], Key={"PK": {"S": connection}, "SK": {"S": "META"}},
            UpdateExpression="SET connected_at = :then", ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":then": {"N": str(int(time.time()) - 3600)}})


def drain(watcher: Watcher) -> list[dict[str, Any]]:
    """What a watcher had received when its server died."""
    try:
        while True:
            watcher.messages.append(json.loads(watcher.socket.recv(timeout=1)))
    except (TimeoutError, ConnectionClosed):
        return watcher.messages


def assert_decided_exactly_once(admin: Client, lots: list[str], placed: list[tuple[str, str, str]]) -> None:
    """One event per bid (none for a bid twice), and each lot's bid_count matches its events."""
    decided: Counter[str] = Counter()
    for lot_id in lots:
        events = lot_events(admin, lot_id)
        assert [event["version"] for event in events] == list(range(1, len(events) + 1))
        bid_events = [event for event in events if event["type"] in ("BidPlaced", "BidRejected")]
        decided.update(event["data"]["bid_id"] for event in bid_events)
        view = admin.get(f"/lots/{lot_id}").json()
        assert view["bid_count"] == sum(event["type"] == "BidPlaced" for event in bid_events)
        assert view["version"] == len(events)
    twice = {bid_id: count for bid_id, count in decided.items() if count > 1}
    assert not twice, f"decided more than once: {twice}"
    assert {bid_id for _, _, bid_id in placed} <= set(decided), "a bid that got a 202 has no event"


def assert_chains_verify(data_dir: Path) -> None:
    verified = subprocess.run([str(SAMSOLD), "verify", "--all", "--data-dir", str(data_dir)], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def create_lots(admin: Client, count: int) -> list[str]:
    return [admin.create_lot()["lot_id"] for _ in range(count)]


# -- the whole stack killed ---------------------------------------------------------------------


@pytest.fixture
def dev_stacks(tmp_path) -> Iterator[Callable[[], DevStack]]:
    started: list[DevStack] = []

    def start() -> DevStack:
        started.append(DevStack(tmp_path / "data", tmp_path / "dev.log"))
        return started[-1]

    yield start
    for stack in started:
        if stack.process.poll() is None:
            stack.kill()


def test_the_whole_stack_killed_mid_burst_decides_every_accepted_bid_once_after_a_restart(tmp_path, dev_stacks):
    """Also: a lot change written before the kill but not yet streamed to BroadcastLotChanges
    is streamed after the restart (the stream position survives). It is seen through a
    subscriber connected before the kill: the broadcast after the restart finds its
    connection gone and forgets it (its connect time moved back past the 30 s grace a
    connection has to finish connecting).

    The burst never runs out before the kill (bidders x `per_bidder` is far more than the
    bids placed by then), so the kill lands mid-burst however fast the machine is."""
    data_dir = tmp_path / "data"
    first = dev_stacks()
    endpoints = first.wait_until_ready()
    queue_url = endpoints["outputs"]["ProcessBidQueueUrl"]
    lower_visibility_timeout(endpoints["sqs"], queue_url, 10)
    auth = DevAuth(data_dir)
    admin = Client(endpoints["rest"], auth.mint("auctioneer", admin=True))
    quiet_lot, *lots = create_lots(admin, 4)
    old_subscriber = Watcher(f"{endpoints['websocket']}/?lot_id={quiet_lot}")
    old_connections = subscriptions(endpoints, quiet_lot)
    assert old_connections
    connected_long_ago(endpoints, old_connections)  # past the grace before the restart broadcasts

    def broadcasters() -> list[int]:
        return [pid for pid in descendants(first.process.pid) if b"handlers.broadcast.handler" in command_line(pid)]

    first_bid = ("ann", lots[0], Client(endpoints["rest"], auth.mint("ann")).bid(lots[0], "10.00")["bid_id"])
    assert eventually(broadcasters)  # the first change was streamed: BroadcastLotChanges has a worker

    burst = Burst(endpoints["rest"], auth, lots, per_bidder=250).start()
    burst.until_placed(20)
    # BroadcastLotChanges stops taking stream batches (its workers are frozen), then the
    # quiet lot changes: that change is written but cannot be broadcast before the kill.
    for pid in broadcasters():
        os.kill(pid, signal.SIGSTOP)
    quiet_bid = burst.clients["ann"].bid(quiet_lot, "10.00")
    burst.clients["ann"].wait_for_outcome(quiet_bid["bid_id"])
    killed = first.kill()  # mid-burst: some bids queued, some in flight, some written and not yet broadcast
    burst.stop()
    assert not [pid for pid in killed if running(pid)]
    assert (data_dir / ENDPOINTS_FILE).exists()  # stale: nobody could remove it...
    assert read_endpoints(data_dir) is None  # ...and the operator commands know it
    placed = [first_bid, *burst.placed, ("ann", quiet_lot, quiet_bid["bid_id"])]
    assert 20 <= len(burst.placed) < len(BIDDERS) * 250  # killed mid-burst
    assert not [m for m in drain(old_subscriber) if m.get("type") == "lot.updated" and m["lot"]["version"] > 1]
    old_subscriber.close()

    second = dev_stacks()
    endpoints = second.wait_until_ready()
    admin = Client(endpoints["rest"], auth.mint("auctioneer", admin=True))
    clients = {name: Client(endpoints["rest"], auth.mint(name)) for name in BIDDERS}
    lots = [quiet_lot, *lots]
    with Watcher(endpoints["websocket"]) as watcher:
        for lot_id in lots:
            watcher.send({"action": "subscribe", "lot_id": lot_id})
        wait_until_decided(clients, placed, timeout=60)
        assert_decided_exactly_once(admin, lots, placed)

        # The subscriber, connected after the restart, has each lot's current state.
        def latest_views() -> dict[str, dict[str, Any]]:
            views = {}
            for message in watcher.messages:
                if message.get("type") in ("subscribed", "lot.updated"):
                    views[message["lot"]["lot_id"]] = message["lot"]
            return views

        current = {lot_id: admin.get(f"/lots/{lot_id}").json() for lot_id in lots}
        watcher.until(lambda _: all(latest_views().get(lot_id, {}).get("version") == current[lot_id]["version"]
                                    for lot_id in lots), timeout=30)
        for lot_id in lots:
            seen = latest_views()[lot_id]
            assert (seen["bid_count"], seen["current_price"]) == (current[lot_id]["bid_count"],
                                                                 current[lot_id]["current_price"])
    # The quiet lot's change was broadcast after the restart: to a connection now gone.
    assert eventually(lambda: not old_connections & subscriptions(endpoints, quiet_lot), timeout=30)
    # Messages the killed stack held come back and are answered as decided already: the
    # queue empties once those acknowledgements land, after every bid shows its outcome.
    assert eventually(lambda: queue_counts(endpoints["sqs"], endpoints["outputs"]["ProcessBidQueueUrl"]) == (0, 0),
                      timeout=30)
    dead_letters = queue_counts(endpoints["sqs"], endpoints["outputs"]["ProcessBidDeadLetterQueueUrl"])
    assert dead_letters == (0, 0)
    assert_chains_verify(data_dir)
    second.stop()
    assert second.process.returncode == 0


# -- DynamoDB Local killed ----------------------------------------------------------------------


def stop_dynamodb_local(pid: int) -> None:
    """DynamoDB Local's own shutdown (SIGTERM), waited for: what it answered stays written."""
    os.kill(pid, signal.SIGTERM)
    assert eventually(lambda: not running(pid), timeout=30)


def dynamodb_local_pid(db_path: Path) -> int:
    target = str(db_path.resolve()).encode()
    (pid,) = [int(entry.name) for entry in Path("/proc").glob("[0-9]*")
              if f"\0-dbPath\0{target.decode()}\0".encode() in command_line(int(entry.name)) + b"\0"]
    return pid


@pytest.fixture
def local_stack(tmp_path) -> Iterator[LocalStack]:
    with LocalStack(REPO / "template.yaml", tmp_path / "data", port=0) as stack:
        yield stack


def test_dynamodb_local_stopped_and_restarted_while_bids_flow_loses_none_and_decides_none_twice(local_stack):
    stack = local_stack
    queue_url = stack.app.outputs["ProcessBidQueueUrl"]
    lower_visibility_timeout(stack.endpoints["sqs"], queue_url, 8)
    auth = DevAuth(stack.data_dir)
    admin = Client(stack.endpoints["rest"], auth.mint("auctioneer", admin=True))
    lots = create_lots(admin, 2)
    db_path = stack.data_dir / "dynamodb"
    jvm = dynamodb_local_pid(db_path)
    port = urlparse(stack.endpoints["dynamodb"]).port

    burst = Burst(stack.endpoints["rest"], auth, lots, per_bidder=100).start()
    replacement = None
    try:
        burst.until_placed(20)
        stop_dynamodb_local(jvm)
        time.sleep(1.0)  # bids keep coming to a stack without its database
        replacement = DynamoDBLocal(db_path=db_path, port=port, log_path=stack.data_dir / "dynamodb.log").start()
        placed_before_restart = len(burst.placed)
        burst.until_placed(placed_before_restart + 10)  # the stack found the restarted database
        burst.stop()
        placed = list(burst.placed)
        clients = {name: Client(stack.endpoints["rest"], auth.mint(name)) for name in BIDDERS}
        wait_until_decided(clients, placed, timeout=60)
        assert_decided_exactly_once(admin, lots, placed)
        assert eventually(lambda: queue_counts(stack.endpoints["sqs"], queue_url) == (0, 0), timeout=30)
        assert queue_counts(stack.endpoints["sqs"], stack.app.outputs["ProcessBidDeadLetterQueueUrl"]) == (0, 0)
    finally:
        burst.stop()
        if replacement is not None:
            stack.stop()  # before its database goes
            replacement.stop()


# -- a worker killed ----------------------------------------------------------------------------


class Throttle:
    """Slows some processes down from outside, as a starved CPU would: stops them for
    `stopped_s`, lets them run for `running_s`, again and again."""

    def __init__(self, pids: Callable[[], list[int]], stopped_s: float = 0.05, running_s: float = 0.002) -> None:
        self._pids = pids
        self._stopped_s = stopped_s
        self._running_s = running_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Throttle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._done.is_set():
            pids = self._pids()
            self._signal(pids, signal.SIGSTOP)
            time.sleep(self._stopped_s)
            self._signal(pids, signal.SIGCONT)
            time.sleep(self._running_s)

    @staticmethod
    def _signal(pids: list[int], number: int) -> None:
        for pid in pids:
            try:
                os.kill(pid, number)
            except ProcessLookupError:
                pass


def process_bid_workers() -> list[int]:
    return [pid for pid in descendants(os.getpid()) if PROCESS_BID_HANDLER in command_line(pid)]


def test_a_worker_killed_after_the_transaction_and_before_the_acknowledgement_decides_once(local_stack):
    """SIGKILL to the ProcessBid workers as soon as the bid's receipt is in the table. The
    workers are slowed down (stopped and continued from outside) so that their work after
    the transaction, and with it the acknowledgement, is still ahead when the kill lands;
    whether it was is checked, and the attempt repeated if not. The message comes back after
    its visibility timeout, is recognised as decided and deleted, and the bid keeps its one
    event."""
    stack = local_stack
    queue_url = stack.app.outputs["ProcessBidQueueUrl"]
    lower_visibility_timeout(stack.endpoints["sqs"], queue_url, 3)
    auth = DevAuth(stack.data_dir)
    admin = Client(stack.endpoints["rest"], auth.mint("auctioneer", admin=True))
    alice = Client(stack.endpoints["rest"], auth.mint("alice"))
    dynamodb = stack.client("dynamodb")
    bids_table = stack.app.outputs["BidsTableName"]

    for _attempt in range(8):
        warm_up, lot_id = create_lots(admin, 2)
        alice.wait_for_outcome(alice.bid(warm_up, "10.00")["bid_id"])  # a warm worker is waiting
        workers = process_bid_workers()  # the idle warm worker takes the next batch
        assert workers
        with Throttle(lambda: workers):  # noqa: B023 - used within this iteration
            bid_id = alice.bid(lot_id, "10.00")["bid_id"]
            receipt_key = {"PK": {"S": f"BID#{bid_id}"}, "SK": {"S": "RECEIPT"}}
            deadline = time.monotonic() + 30
            while "Item" not in dynamodb.get_item(TableName=bids_table, Key=receipt_key, ConsistentRead=True):
                assert time.monotonic() < deadline, "the bid was not decided"
            kill_all(workers)
        kill_all(process_bid_workers())  # any started meanwhile
        time.sleep(0.5)  # an acknowledgement already under way has landed by now
        if queue_counts(stack.endpoints["sqs"], queue_url)[1] == 1:
            break  # the message is still in flight: its worker died before acknowledging it
        alice.wait_for_outcome(bid_id)
    else:
        pytest.fail("the worker acknowledged before it could be killed in every attempt")

    # The first invocation failed (its worker died), so the message leaves the queue only
    # when a redelivery succeeds (or for the dead-letter queue, which stays empty).
    receipt = dynamodb.get_item(TableName=bids_table, Key=receipt_key, ConsistentRead=True)["Item"]
    assert eventually(lambda: queue_counts(stack.endpoints["sqs"], queue_url) == (0, 0), timeout=30)
    assert queue_counts(stack.endpoints["sqs"], stack.app.outputs["ProcessBidDeadLetterQueueUrl"]) == (0, 0)
    assert dynamodb.get_item(TableName=bids_table, Key=receipt_key, ConsistentRead=True)["Item"] == receipt
    assert alice.wait_for_outcome(bid_id)["status"] == "ACCEPTED"
    assert_decided_exactly_once(admin, [lot_id], [("alice", lot_id, bid_id)])
    assert [event["type"] for event in lot_events(admin, lot_id)] == ["LotCreated", "BidPlaced"]
