"""BroadcastLotChangesFunction's fan-out, called with stream events against DynamoDB Local
(the Bids and Connections tables as the template declares them), and FanOutFunction, fed
the pages the broadcast handed off through the local SQS (the template's fan-out queue).
Only the `@connections` management client is a fake, at the boto3 boundary: each post
takes 0.2 s, so posts made one after another would add up, and the fake records what each
connection received."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from adapters.command_queue import CommandQueue
from adapters.connections import WatcherPage
from adapters.fan_out_queue import FanOutPage, FanOutQueue
from bootstrap import FAN_OUT_WORKERS, App, build
from handlers import broadcast, fan_out, lot_api, place_bid, process_bid
from ledger.domain.values import format_time, utc_now
from ledger.dynamodb import lot_key
from local.runtime import create_queues
from local.sam.template import LocalApp, LocalEndpoints, SamTemplate
from local.sqs.server import LocalSqs
from tests.conftest import REPO
from tests.support.events import FakeContext, rest_event, sqs_event
from tests.support.queue import QUEUE_URL, InMemorySqs

ALICE = {"sub": "alice", "cognito:username": "alice"}
BOB = {"sub": "bob", "cognito:username": "bob"}
SELLER = {"sub": "sam", "cognito:username": "sam", "cognito:groups": "sellers", "custom:seller_handle": "sam"}
POST_S = 0.2
PAGE_SIZE = 10


class SlowManagement:
    """The `apigatewaymanagementapi` client's post_to_connection: slow, thread-safe, and
    GoneException for the connections in `gone`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.gone: set[str] = set()
        self.received: dict[str, list[dict[str, Any]]] = {}
        self.in_flight = 0
        self.most_in_flight = 0
        self.calls = 0

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> dict[str, Any]:  # noqa: N803 - boto3's names
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(POST_S)
            if ConnectionId in self.gone:
                raise ClientError({"Error": {"Code": "GoneException", "Message": "gone"}}, "PostToConnection")
            with self.lock:
                self.received.setdefault(ConnectionId, []).append(json.loads(Data))
            return {}
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def management() -> SlowManagement:
    return SlowManagement()


@pytest.fixture(scope="module")
def template_app() -> LocalApp:
    return SamTemplate.load(REPO / "template.yaml").resolve(LocalEndpoints.placeholder("us-east-1", "000000000000"))


@pytest.fixture(scope="module")
def connections_table(dynamodb_endpoint, template_app) -> str:
    """The Connections table exactly as template.yaml declares it, under a name of its own."""
    name = f"conn-{uuid.uuid4().hex[:8]}"
    declared = next(t for t in template_app.tables if t.logical_id == "ConnectionsTable").create_table_kwargs
    boto3.client("dynamodb", endpoint_url=dynamodb_endpoint).create_table(**(declared | {"TableName": name}))
    return name


@pytest.fixture(scope="module")
def local_sqs(tmp_path_factory, template_app) -> Any:
    """The local SQS with the template's queues (the fan-out queue and its DLQ among them)."""
    with LocalSqs(tmp_path_factory.mktemp("sqs")) as sqs:
        create_queues(boto3.client("sqs", endpoint_url=sqs.endpoint_url), template_app.queues)
        yield sqs


class FanOutQueueReader:
    """The fan-out queue as FanOutFunction's event source mapping reads it."""

    def __init__(self, local_sqs: LocalSqs) -> None:
        self.sqs = boto3.client("sqs", endpoint_url=local_sqs.endpoint_url)
        self.url, self.arn = local_sqs.queue_url("FanOutQueue"), local_sqs.queue_arn("FanOutQueue")
        self.sqs.purge_queue(QueueUrl=self.url)

    def queue(self) -> FanOutQueue:
        return FanOutQueue(self.sqs, self.url)

    def take_all(self) -> list[dict[str, Any]]:
        """Every waiting message, received (and so hidden for the visibility timeout)."""
        taken: list[dict[str, Any]] = []
        while messages := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", []):
            taken += messages
        return taken

    def event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return sqs_event(messages, self.arn)


@pytest.fixture
def fan_out_queue(local_sqs) -> FanOutQueueReader:
    return FanOutQueueReader(local_sqs)


def build_app(env: dict[str, str], sqs: InMemorySqs, management: SlowManagement, **parts: Any) -> App:
    return build(env | {"CLOSE_GRACE_SECONDS": "1"}, command_queue=CommandQueue(sqs, QUEUE_URL),
                 websocket_management=management, **parts)


@pytest.fixture
def tables(dynamodb_endpoint, bids_table, connections_table) -> dict[str, str]:
    return {"BIDS_TABLE": bids_table, "CONNECTIONS_TABLE": connections_table, "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint}


@pytest.fixture
def setup(tables, management):
    sqs = InMemorySqs()
    return build_app(tables, sqs, management), sqs


@pytest.fixture
def paged(tables, management, fan_out_queue):
    """The application with pages of PAGE_SIZE watchers, its fan-out queue the local SQS."""
    sqs = InMemorySqs()
    return build_app(tables | {"FAN_OUT_PAGE_SIZE": str(PAGE_SIZE)}, sqs, management,
                     fan_out_queue=fan_out_queue.queue()), sqs


def call(app: App, module: Any, method: str, path: str, **kwargs: Any) -> Any:
    response = module.handler(rest_event(method, path, **kwargs), FakeContext(), app)
    assert response["statusCode"] in (201, 202), response
    return json.loads(response["body"])


def create_lot(app: App) -> str:
    terms = {"title": "Blue vase", "currency": "EUR", "starting_price": "10.00",
             "closes_at": format_time(utc_now() + timedelta(minutes=30))}
    return str(call(app, lot_api, "POST", "/lots", body=terms, claims=SELLER)["lot_id"])


def bid(app: App, sqs: InMemorySqs, lot_id: str, amount: str, claims: dict[str, str]) -> str:
    bid_id = str(call(app, place_bid, "POST", "/bid", body={"lot_id": lot_id, "amount": amount}, claims=claims)["bid_id"])
    while (batch := sqs.next_batch()) is not None:
        assert process_bid.handler(batch, FakeContext(), app)["batchItemFailures"] == []
    return bid_id


def connect(app: App, lot_id: str | None, bidder: str | None = None, *, age_s: int = 3600,
            connection_id: str | None = None) -> str:
    connection_id = connection_id or f"c-{uuid.uuid4().hex[:10]}"
    app.connections.connect(connection_id, bidder)
    if lot_id:
        app.connections.subscribe(connection_id, lot_id)
    app.connections.client.update_item(  # connected `age_s` ago: past the connecting grace unless told otherwise
        TableName=app.connections.table_name, Key={"PK": {"S": f"CONN#{connection_id}"}, "SK": {"S": "META"}},
        UpdateExpression="SET connected_at = :at", ExpressionAttributeValues={":at": {"N": str(int(time.time()) - age_s)}},
    )
    return connection_id


def snapshot_changed(app: App, lot_id: str, from_version: int) -> dict[str, Any]:
    """The stream event of the lot's snapshot moving from `from_version` to its stored version."""
    key = {"PK": {"S": lot_key(lot_id)}, "SK": {"S": "SNAPSHOT"}}
    client = boto3.client("dynamodb", endpoint_url=app.env["AWS_ENDPOINT_URL_DYNAMODB"])
    image = client.get_item(TableName=app.env["BIDS_TABLE"], Key=key, ConsistentRead=True)["Item"]
    old = {**image, "version": {"N": str(from_version)}}
    return {"Records": [{"eventName": "MODIFY", "eventSource": "aws:dynamodb",
                         "dynamodb": {"Keys": key, "NewImage": image, "OldImage": old}}]}


def run_broadcast(app: App, event: dict[str, Any]) -> None:
    broadcast.handler(event, FakeContext(), app)


def test_posts_to_a_lot_s_watchers_go_out_concurrently_and_bounded(setup, management):
    app, sqs = setup
    lot_id = create_lot(app)
    watchers = [connect(app, lot_id) for _ in range(40)]
    bid(app, sqs, lot_id, "10.00", ALICE)

    run_broadcast(app, snapshot_changed(app, lot_id, 1))

    assert sorted(management.received) == sorted(watchers)
    assert all([m["type"] for m in got] == ["lot.updated"] for got in management.received.values())
    assert {got[0]["lot"]["version"] for got in management.received.values()} == {2}
    # Each post takes POST_S, so posts sent one after another never overlap; here they do,
    # never more than FAN_OUT_WORKERS at once. (How fast is for `samsold bench`, not a test.)
    assert 1 < management.most_in_flight <= FAN_OUT_WORKERS


def test_gone_connections_are_removed_on_the_first_failed_post_unless_still_connecting(setup, management):
    app, sqs = setup
    lot_id = create_lot(app)
    staying = [connect(app, lot_id) for _ in range(5)]
    gone = connect(app, lot_id, "bob")
    connecting = connect(app, lot_id, age_s=0)  # younger than the grace: $connect may not have finished
    management.gone |= {gone, connecting}
    bid(app, sqs, lot_id, "10.00", ALICE)

    run_broadcast(app, snapshot_changed(app, lot_id, 1))

    assert sorted(management.received) == sorted(staying)
    assert sorted(app.connections.watching_lot(lot_id)) == sorted([*staying, connecting])
    assert list(app.connections.of_bidder("bob")) == []
    assert app.connections._meta(gone) == {} and app.connections._meta(connecting) != {}

    calls = management.calls
    run_broadcast(app, snapshot_changed(app, lot_id, 1))  # the gone one is no longer posted to
    assert management.calls - calls == len(staying) + 1


def test_bid_outcomes_reach_only_their_bidder_s_connections_in_order_after_the_lot_update(setup, management):
    app, sqs = setup
    lot_id = create_lot(app)
    alice_watching, alice_elsewhere = connect(app, lot_id, "alice"), connect(app, None, "alice")
    bob = connect(app, None, "bob")
    watchers = [connect(app, lot_id) for _ in range(10)]
    first = bid(app, sqs, lot_id, "10.00", ALICE)
    by_bob = bid(app, sqs, lot_id, "15.00", BOB)
    second = bid(app, sqs, lot_id, "20.00", ALICE)

    run_broadcast(app, snapshot_changed(app, lot_id, 1))

    outcomes = {connection: [(m["bid"]["bid_id"], m["bid"]["status"]) for m in got if m["type"] == "bid.outcome"]
                for connection, got in management.received.items()}
    alice_saw = [(first, "ACCEPTED"), (second, "ACCEPTED")]
    assert outcomes[alice_watching] == outcomes[alice_elsewhere] == alice_saw
    assert outcomes[bob] == [(by_bob, "ACCEPTED")]
    assert all(outcomes[w] == [] for w in watchers)
    # The lot's update went out (to everyone watching) before any news; each bidder's news in
    # event order: Bob's bid took the lead from Alice, her second took it back.
    assert [m["type"] for m in management.received[alice_watching]] == ["lot.updated", "bid.outcome", "bid.outbid", "bid.outcome"]
    assert [m["type"] for m in management.received[bob]] == ["bid.outcome", "bid.outbid"]
    assert management.received[alice_watching][0]["lot"]["version"] == 4


# --- an audience larger than a page --------------------------------------------------


def updated(management: SlowManagement) -> dict[str, list[int]]:
    """The versions of `lot.updated` each connection received (others' bid outcomes left out)."""
    return {connection: versions for connection, got in management.received.items()
            if (versions := [m["lot"]["version"] for m in got if m["type"] == "lot.updated"])}


def run_fan_out(app: App, queue: FanOutQueueReader, messages: list[dict[str, Any]]) -> None:
    """Each page as its own invocation, as the template's BatchSize 1 gives them."""
    for message in messages:
        assert fan_out.handler(queue.event([message]), FakeContext(), app)["batchItemFailures"] == []


def test_the_broadcast_posts_the_first_page_and_hands_off_the_rest_which_reach_everyone(paged, management, fan_out_queue):
    app, sqs = paged
    lot_id = create_lot(app)
    watchers = sorted(connect(app, lot_id) for _ in range(25))
    bid(app, sqs, lot_id, "10.00", ALICE)

    run_broadcast(app, snapshot_changed(app, lot_id, 1))

    # The broadcast served one page: the first PAGE_SIZE connections in key order.
    assert sorted(updated(management)) == watchers[:PAGE_SIZE]
    messages = fan_out_queue.take_all()
    pages = sorted((FanOutPage.model_validate_json(m["Body"]) for m in messages), key=lambda p: p.after or "")
    assert [(p.after, p.through) for p in pages] == [(watchers[9], watchers[19]), (watchers[19], None)]
    assert {(p.lot_id, p.version) for p in pages} == {(lot_id, 2)}

    late = connect(app, lot_id, connection_id="c-zzzz-late")  # subscribed meanwhile: sorts into the open last page
    run_fan_out(app, fan_out_queue, messages)

    assert updated(management) == {connection: [2] for connection in [*watchers, late]}


def test_a_gone_connection_in_a_handed_off_page_is_removed(paged, management, fan_out_queue):
    app, sqs = paged
    lot_id = create_lot(app)
    watchers = sorted(connect(app, lot_id) for _ in range(2 * PAGE_SIZE + 3))
    gone = watchers[PAGE_SIZE + 4]  # in the second page
    management.gone.add(gone)
    bid(app, sqs, lot_id, "10.00", ALICE)

    run_broadcast(app, snapshot_changed(app, lot_id, 1))
    run_fan_out(app, fan_out_queue, fan_out_queue.take_all())

    assert sorted(updated(management)) == [w for w in watchers if w != gone]
    assert gone not in list(app.connections.watching_lot(lot_id))
    assert app.connections._meta(gone) == {}


def test_an_audience_within_one_page_hands_nothing_off(paged, management, fan_out_queue):
    app, sqs = paged
    lot_id = create_lot(app)
    watchers = [connect(app, lot_id) for _ in range(PAGE_SIZE)]
    bid(app, sqs, lot_id, "10.00", ALICE)

    run_broadcast(app, snapshot_changed(app, lot_id, 1))

    assert sorted(updated(management)) == sorted(watchers)
    assert fan_out_queue.take_all() == []


def test_a_page_whose_posts_fail_comes_back_and_a_message_that_is_not_a_page_does_not(paged, fan_out_queue):
    app, _ = paged
    lot_id = create_lot(app)
    connect(app, lot_id)
    page = FanOutPage.of(WatcherPage(lot_id, None, None), 1, b'{"type": "lot.updated"}')
    fan_out_queue.queue().hand_off([page])
    fan_out_queue.sqs.send_message(QueueUrl=fan_out_queue.url, MessageBody='{"lot_id": 7}')
    messages = fan_out_queue.take_all()
    failing = build(app.env, websocket_management=object())  # no post_to_connection: every post raises

    response = fan_out.handler(fan_out_queue.event(messages), FakeContext(), failing)

    page_message = next(m for m in messages if m["Body"] == page.model_dump_json())
    assert response["batchItemFailures"] == [{"itemIdentifier": page_message["MessageId"]}]


@pytest.mark.parametrize("count", [0, 1, PAGE_SIZE - 1, PAGE_SIZE, PAGE_SIZE + 1, 3 * PAGE_SIZE])
def test_watcher_pages_cover_every_connection_once_whatever_the_count(setup, count):
    app, _ = setup
    lot_id = f"pages-{uuid.uuid4().hex[:8]}"
    watchers = sorted(connect(app, lot_id) for _ in range(count))

    pages = app.connections.watcher_pages(lot_id, PAGE_SIZE)

    assert pages.first == watchers[:PAGE_SIZE]
    assert len(pages.rest) == max(0, -(-count // PAGE_SIZE) - 1)
    served = [*pages.first, *(c for page in pages.rest for c in app.connections.watching_page(page))]
    assert served == watchers


def test_a_page_still_starts_after_its_bound_when_that_connection_is_gone(setup):
    app, _ = setup
    lot_id = f"pages-{uuid.uuid4().hex[:8]}"
    watchers = sorted(connect(app, lot_id) for _ in range(2 * PAGE_SIZE))
    (second,) = app.connections.watcher_pages(lot_id, PAGE_SIZE).rest

    app.connections.disconnect(watchers[PAGE_SIZE - 1])  # the page's `after`

    assert list(app.connections.watching_page(second)) == watchers[PAGE_SIZE:]
