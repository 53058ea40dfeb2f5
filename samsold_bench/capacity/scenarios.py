"""The capacity scenarios: bids through the real handlers on DynamoDB Local, observed.

Each bid goes the production way: `POST /bid` into PlaceBidFunction's handler (a REST
event, as API Gateway shapes it), which records the bid and queues it; the queued
message bodies, exactly as sent, go to ProcessBidFunction's handler as SQS FIFO
records (one message group per lot), one handler call per batch. Each function has an
App of its own (its own container, boto3 client and snapshot cache), and an observer on
each client prices every request (`observer`). Nothing here knows the Bids table's
layout: what is written, and where, is whatever the handlers write.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from adapters.command_queue import CommandQueue
from bootstrap import App, build
from handlers import place_bid, process_bid
from ledger.domain.commands import CreateLot, PlaceBid
from ledger.domain.values import utc_now
from ledger.dynamodb import bids_table_definition
from ledger.service.commands import COMMANDS_PER_TRANSACTION
from samsold_bench.capacity.observer import CapacityObserver, ObservedCall
from samsold_bench.capacity.rules import TableShape

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/capacity.fifo"
QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:capacity.fifo"
STARTING_PRICE = Decimal("10.00")
STEP = Decimal("1.00")  # each bid one step above the last: always above the minimum (increment 0.50)


@dataclass(frozen=True)
class Target:
    """A goal for one figure of a scenario: the most the item layout is meant to cost."""

    figure: str  # the name of the per-bid figure in the scenario's summary
    at_most: float
    text: str


@dataclass
class Batch:
    """One ProcessBid invocation (and the PlaceBid calls that queued its bids)."""

    bids: int
    statuses: Counter[str]
    process_calls: list[ObservedCall]
    place_calls: list[ObservedCall]
    process_seconds: float
    place_seconds: float
    message_bytes: list[int]


@dataclass
class Scenario:
    name: str
    description: str
    batch_size: int
    batches: list[Batch] = field(default_factory=list)
    cold: Batch | None = None  # the container's first batch of the lot (reads the lot), not in the averages
    targets: list[Target] = field(default_factory=list)
    generalize: Callable[[str], str] = str  # an item key with this scenario's ids replaced by {lot} {bid} {user}


class CapturedQueue:
    """Stands in for the SQS client behind `CommandQueue`: keeps each message as sent."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send_message(self, **request: Any) -> dict[str, str]:
        message_id = uuid.uuid4().hex
        self.messages.append({"MessageId": message_id, **request})
        return {"MessageId": message_id}

    def drain(self) -> list[dict[str, Any]]:
        messages, self.messages = self.messages, []
        return messages


class LambdaContext:
    """What the handlers' Powertools decorators read of a Lambda context."""

    function_name = "capacity"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:capacity"
    memory_limit_in_mb = 512
    aws_request_id = "capacity"
    log_group_name = "/aws/lambda/capacity"
    log_stream_name = "capacity"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def sqs_records(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """An SQS FIFO event as the event source mapping hands it to the function."""
    return {"Records": [
        {
            "messageId": m["MessageId"],
            "receiptHandle": f"r-{m['MessageId']}",
            "body": m["MessageBody"],
            "attributes": {"MessageGroupId": m["MessageGroupId"], "MessageDeduplicationId": m["MessageDeduplicationId"],
                           "ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": QUEUE_ARN,
            "awsRegion": "us-east-1",
        }
        for m in messages
    ]}


def bid_request(lot_id: str, amount: str, bidder: str) -> dict[str, Any]:
    """`POST /bid` as API Gateway (REST, Cognito authorizer) hands it to PlaceBidFunction."""
    body = json.dumps({"lot_id": lot_id, "amount": amount})
    headers = {"Content-Type": "application/json"}
    return {
        "resource": "/bid", "path": "/bid", "httpMethod": "POST", "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": None,
        "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
        "body": body, "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": "/bid", "httpMethod": "POST", "path": "/prod/bid", "stage": "prod",
            "requestId": str(uuid.uuid4()), "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1"}, "authorizer": {"claims": {"sub": bidder}},
        },
    }


class Bench:
    """The two functions' Apps on one Bids table, each with an observer on its client."""

    def __init__(self, env: Mapping[str, str], memory_mb: int = 512) -> None:
        self.queue = CapturedQueue()
        self.env = dict(env)
        # PlaceBid as a container that has not read the lot in the last few seconds: it reads
        # the lot for every bid (a warm container on a busy lot reads it at most every 5 s).
        self.intake = build(self.env, command_queue=CommandQueue(self.queue, QUEUE_URL), admission_snapshot_max_age_s=0)
        shapes = {self.env["BIDS_TABLE"]: TableShape.from_definition(bids_table_definition(self.env["BIDS_TABLE"]))}
        self.intake_observer = CapacityObserver(_client_of(self.intake), shapes).attach()
        self.processor: App = self.new_processor()
        self.processor_observer = CapacityObserver(_client_of(self.processor), shapes).attach()
        self.context = LambdaContext()
        self.context.memory_limit_in_mb = memory_mb
        self.shapes = shapes

    def new_processor(self) -> App:
        return build(self.env)

    def fresh_processor(self) -> None:
        """A new ProcessBid container (cold: it knows no lot yet)."""
        self.processor_observer.detach()
        self.processor = self.new_processor()
        self.processor_observer = CapacityObserver(_client_of(self.processor), self.shapes).attach()

    def create_lot(self, closes_in: timedelta = timedelta(days=30)) -> str:
        """A lot created through the service (set-up: not observed)."""
        now = utc_now()
        # Terms as the API takes them (decimal strings), validated by the same model.
        terms = CreateLot.model_validate({"title": "Capacity benchmark lot", "currency": "EUR",
                                          "starting_price": f"{STARTING_PRICE:.2f}", "increment": "0.50",
                                          "opens_at": now, "closes_at": now + closes_in})
        with self.intake_observer.pause():
            lot = self.intake.lots.create_lot(terms, seller=str(uuid.uuid4()))
        return lot.lot_id

    def seed(self, lot_id: str, bidders: Sequence[str], first_amount: Decimal,
             progress: Callable[[int], None] = lambda _: None) -> Decimal:
        """Bids by `bidders` (in order) through the service, many per transaction: a
        benchmark's set-up, not measured. Returns the next amount to bid."""
        amount = first_amount
        now = utc_now()
        with self.intake_observer.pause():
            for start in range(0, len(bidders), COMMANDS_PER_TRANSACTION * 4):
                chunk = []
                for bidder in bidders[start : start + COMMANDS_PER_TRANSACTION * 4]:
                    chunk.append(PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot_id, bidder=bidder, amount=f"{amount:.2f}",
                                          placed_at=now))
                    amount += STEP
                self.intake.commands.execute(lot_id, chunk)
                progress(len(chunk))
        return amount

    def run_batch(self, lot_id: str, bids: Sequence[tuple[str, str]]) -> Batch:
        """`bids` (bidder, amount) through PlaceBid, then their messages as one ProcessBid batch."""
        self.intake_observer.take()
        started = time.perf_counter()
        for bidder, amount in bids:
            response = place_bid.handler(bid_request(lot_id, amount, bidder), self.context, self.intake)
            if response["statusCode"] != 202:
                raise RuntimeError(f"POST /bid answered {response['statusCode']}: {response.get('body')}")
        place_seconds = time.perf_counter() - started
        place_calls = self.intake_observer.take()
        messages = self.queue.drain()
        self.processor_observer.take()
        started = time.perf_counter()
        answer = process_bid.handler(sqs_records(messages), self.context, self.processor)
        process_seconds = time.perf_counter() - started
        if answer["batchItemFailures"]:
            raise RuntimeError(f"ProcessBid failed records: {answer['batchItemFailures']}")
        receipts = self.intake.queries.bid_receipts([json.loads(m["MessageBody"])["command"]["bid_id"] for m in messages])
        return Batch(
            bids=len(bids),
            statuses=Counter(str(r.get("status")) for r in receipts.values()),
            process_calls=self.processor_observer.take(),
            place_calls=place_calls,
            process_seconds=process_seconds,
            place_seconds=place_seconds,
            message_bytes=[len(m["MessageBody"].encode()) for m in messages],
        )

    def close(self) -> None:
        self.intake_observer.detach()
        self.processor_observer.detach()


def _client_of(app: App) -> Any:
    """The boto3 client the App's recorder talks to DynamoDB through."""
    client = getattr(app.commands.store, "client", None)
    if client is None:
        raise RuntimeError("the capacity model needs the DynamoDB recorder (PERSISTENCE_MODULE=ledger.dynamodb)")
    return client


def generalizer(lot_ids: Sequence[str], users: Sequence[str]) -> Callable[[str], str]:
    """Replaces this run's ids in an item key by placeholders, so items group by kind:
    each part between `#` and `/` that is a lot id, a bidder, a generated id or a counter."""
    known = {lot: "{lot}" for lot in lot_ids} | {user: "{user}" for user in users}

    def part(text: str) -> str:
        if text in known:
            return known[text]
        if re.fullmatch(r"[0-9a-f]{32}", text):
            return "{id}"  # generated bid ids
        if re.fullmatch(r"\d{4,}", text):
            return "{n}"  # versions and other counters
        return text

    return lambda key: "".join(part(p) for p in re.split(r"([#/])", key))


def returning_bidders(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def _amounts(start: Decimal) -> Iterator[str]:
    amount = start
    while True:
        yield f"{amount:.2f}"
        amount += STEP


@dataclass
class Sizes:
    """How big the scenarios are (the smoke test runs them small)."""

    batches: int = 10
    many_bidders: int = 5000
    returning: int = 10


def run_all(bench: Bench, sizes: Sizes, progress: Callable[[str], None] = lambda _: None) -> list[Scenario]:
    """Every scenario, each on lots of its own, in one Bids table."""
    scenarios: list[Scenario] = []
    lots: list[str] = []
    users: list[str] = []

    def lot_with_bidders(bidders: list[str], closes_in: timedelta = timedelta(days=30)) -> tuple[str, Iterator[str]]:
        lot = bench.create_lot(closes_in)
        lots.append(lot)
        users.extend(bidders)
        next_amount = bench.seed(lot, bidders, STARTING_PRICE)
        return lot, _amounts(next_amount)

    def measure(scenario: Scenario, lot: str, bids: Callable[[int], list[tuple[str, str]]]) -> Scenario:
        progress(scenario.name)
        bench.fresh_processor()
        scenario.cold = bench.run_batch(lot, bids(0))
        for number in range(1, sizes.batches + 1):
            scenario.batches.append(bench.run_batch(lot, bids(number)))
        scenarios.append(scenario)
        return scenario

    # Unbatched bids (a batch of one) by bidders who bid on the lot before.
    bidders = returning_bidders(sizes.returning)
    lot, amounts = lot_with_bidders(bidders)
    measure(Scenario("unbatched_returning", "one bid per batch, by bidders who bid on the lot before", 1,
                     targets=[Target("write_units", 10, "<= 10 write units per unbatched bid (8, and 2 for its bid history index entry)"),
                              Target("index_write_units:OpenLotsByCloseTimeSharded", 0,
                                     "0 close-time index write units for a bid that does not move the close time")]),
            lot, lambda n: [(bidders[n % len(bidders)], next(amounts))])

    # Unbatched bids by bidders new to the lot.
    lot, amounts = lot_with_bidders(returning_bidders(sizes.returning))
    measure(Scenario("unbatched_new", "one bid per batch, each by a bidder new to the lot", 1,
                     targets=[Target("write_units", 10, "<= 10 write units per unbatched bid (8, and 2 for its bid history index entry)")]),
            lot, lambda n: [(_new_user(users), next(amounts))])

    # Batches of 10 by returning bidders (the FIFO event source's batch size).
    bidders = returning_bidders(sizes.returning)
    lot, amounts = lot_with_bidders(bidders)
    measure(Scenario("batch_of_10", "ten bids per batch on one lot, by returning bidders in turn", 10,
                     targets=[Target("write_units", 6.6, "<= 6.6 write units per bid in batches of 10 (4.6, and 2 for its bid history index entry)")]),
            lot, lambda n: [(bidders[(10 * n + i) % len(bidders)], next(amounts)) for i in range(10)])

    # Batches of 10 by new bidders.
    lot, amounts = lot_with_bidders(returning_bidders(sizes.returning))
    measure(Scenario("batch_of_10_new", "ten bids per batch on one lot, each by a bidder new to the lot", 10),
            lot, lambda n: [(_new_user(users), next(amounts)) for _ in range(10)])

    # A lot that already has many distinct bidders.
    progress(f"seeding a lot with {sizes.many_bidders} bidders")
    crowd = returning_bidders(sizes.many_bidders)
    lot, amounts = lot_with_bidders(crowd)
    measure(Scenario("many_bidders", f"one bid per batch on a lot that already has {sizes.many_bidders} distinct bidders", 1,
                     targets=[Target("write_units", 12, "<= 12 write units per bid on a lot with 5,000 bidders (10, and 2 for its bid history index entry)")]),
            lot, lambda n: [(crowd[n % len(crowd)], next(amounts))])

    # Soft close: every bid falls in the last 2 minutes and moves the close time...
    bidders = returning_bidders(sizes.returning)
    lot, amounts = lot_with_bidders(bidders, closes_in=timedelta(seconds=90))
    measure(Scenario("soft_close_moves", "one bid per batch in the soft-close window: each moves the close time", 1),
            lot, lambda n: _later([(bidders[n % len(bidders)], next(amounts))]))
    # ...against the same bids outside it.
    bidders = returning_bidders(sizes.returning)
    lot, amounts = lot_with_bidders(bidders)
    measure(Scenario("soft_close_stays", "one bid per batch outside the soft-close window: the close time stays", 1,
                     targets=[Target("index_write_units:OpenLotsByCloseTimeSharded", 0,
                                     "0 close-time index write units for a bid that does not move the close time")]),
            lot, lambda n: [(bidders[n % len(bidders)], next(amounts))])

    gen = generalizer(lots, users)
    for scenario in scenarios:
        scenario.generalize = gen
    return scenarios


def _new_user(users: list[str]) -> str:
    user = str(uuid.uuid4())
    users.append(user)
    return user


def _later(bids: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # Times are kept to the millisecond: a bid a few ms after the last moves the close time again.
    time.sleep(0.005)
    return bids
