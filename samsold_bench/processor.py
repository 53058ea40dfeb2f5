"""`samsold-bench processor`: the bid processor (`handlers.process_bid.handler`) on SQS-shaped
batches of 10 bids, against a bare `TransactWriteItems` of the same items, on one DynamoDB
Local in one run. The goal: the handler reaches 0.9 of the bare write's bids per second.

It knows nothing of the ledger's item layout: it watches what the handler's DynamoDB client
sends (botocore events on boto3's default session, from which the ledger makes its client)
and counts every call by operation. The baseline replays each captured transaction with the
same items under fresh keys: the same attribute names and values, each key value replaced
by a random one of the same length, every condition replaced by `attribute_not_exists`; an
updated item is written whole, as it was stored after the handler's batch.

Both run in rounds, batch by batch in turns (the handler's batch, then its copy), so noise
on the shared machine hits both alike; figures are medians over the rounds, warm-up excluded.
Before each batch, untimed, the bench writes its bids' bid-request records as the API does
when it admits a bid: the processor parks a queued bid that has none.
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import string
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from samsold_bench.harness import STARTING_PRICE, STEP, fresh_dynamodb_local, machine, write_results
from samsold_cli.shared import console, progress_bar

if TYPE_CHECKING:
    from bootstrap import App

BIDS_PER_BATCH = 10  # the template's ProcessBid batch size
RATIO_GOAL = 0.9
QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:bench-process-bid.fifo"


# -- watching the handler's DynamoDB calls --------------------------------------------------


@dataclass
class Transaction:
    items: list[dict[str, Any]]
    succeeded: bool | None = None  # None until DynamoDB answered


@dataclass
class CallWatch:
    """Every DynamoDB call of clients made from boto3's default session after `install`,
    by operation, and each TransactWriteItems' items as sent (botocore copies the session's
    event handlers into each client it makes, so this sees the ledger's client wherever it
    keeps it)."""

    calls: Counter[str] = field(default_factory=Counter)
    transactions: list[Transaction] = field(default_factory=list)

    def install(self) -> None:
        import boto3

        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        events = boto3.DEFAULT_SESSION.events
        events.register("before-call.dynamodb", self._count, unique_id="samsold-bench-count")
        events.register("before-parameter-build.dynamodb.TransactWriteItems", self._capture, unique_id="samsold-bench-capture")
        events.register("after-call.dynamodb.TransactWriteItems", self._answered, unique_id="samsold-bench-answered")

    def uninstall(self) -> None:
        import boto3

        if boto3.DEFAULT_SESSION is not None:
            events = boto3.DEFAULT_SESSION.events
            events.unregister("before-call.dynamodb", unique_id="samsold-bench-count")
            events.unregister("before-parameter-build.dynamodb.TransactWriteItems", unique_id="samsold-bench-capture")
            events.unregister("after-call.dynamodb.TransactWriteItems", unique_id="samsold-bench-answered")

    def take(self) -> tuple[Counter[str], list[Transaction]]:
        """The calls and transactions since the last take."""
        taken = self.calls, self.transactions
        self.calls, self.transactions = Counter(), []
        return taken

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def _capture(self, params: dict[str, Any], **_: Any) -> None:
        # Kept as sent, not copied: this runs inside the handler's timed call (a deep copy
        # cost about 3 ms a batch, charged to the handler), and the ledger builds fresh
        # item dicts for every transaction and never changes them after sending.
        self.transactions.append(Transaction(params["TransactItems"]))

    def _answered(self, http_response: Any, **_: Any) -> None:
        pending = [t for t in self.transactions if t.succeeded is None]
        if pending:  # one call at a time: the handler is single-threaded
            pending[-1].succeeded = http_response.status_code < 300


# -- the bare transaction -------------------------------------------------------------------


class Baseline:
    """Replays transactions with the same item shapes under fresh keys, on its own client
    (its own boto3 session, so the watch does not count it)."""

    def __init__(self, env: dict[str, str]) -> None:
        import boto3

        from ledger.dynamodb import CLIENT_CONFIG

        # The ledger's own client settings, so the two sides differ only in what they send.
        self.client = boto3.Session().client(
            "dynamodb", endpoint_url=env.get("AWS_ENDPOINT_URL_DYNAMODB") or None, config=CLIENT_CONFIG
        )
        self._keys: dict[str, list[tuple[str, str]]] = {}
        self._random = random.Random(7)

    def key_schema(self, table: str) -> list[tuple[str, str]]:
        """(name, type) of each key attribute, hash key first: read from the table, not assumed."""
        if table not in self._keys:
            description = self.client.describe_table(TableName=table)["Table"]
            types = {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}
            ordered = sorted(description["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
            self._keys[table] = [(k["AttributeName"], types[k["AttributeName"]]) for k in ordered]
        return self._keys[table]

    def like(self, transaction: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The same items under fresh keys. Read right after the handler's batch (untimed),
        so an updated item is copied as that batch left it."""
        copied = []
        for entry in transaction:
            ((kind, body),) = entry.items()
            table = body["TableName"]
            schema = self.key_schema(table)
            fresh = {name: self._fresh(kind_of, self._key_value(body, name)) for name, kind_of in schema}
            condition = {"ConditionExpression": "attribute_not_exists(#k)", "ExpressionAttributeNames": {"#k": schema[0][0]}}
            if kind == "Put":
                copied.append({"Put": {"TableName": table, "Item": {**body["Item"], **fresh}, **condition}})
            elif kind == "Update":
                stored = self.client.get_item(TableName=table, Key=body["Key"], ConsistentRead=True).get("Item") or {}
                copied.append({"Put": {"TableName": table, "Item": {**stored, **fresh}, **condition}})
            else:  # ConditionCheck, Delete: keyed only
                copied.append({kind: {"TableName": table, "Key": fresh, **condition}})
        return copied

    def write(self, transaction: list[dict[str, Any]]) -> None:
        self.client.transact_write_items(TransactItems=transaction)

    @staticmethod
    def _key_value(body: dict[str, Any], name: str) -> dict[str, Any]:
        return dict(body["Item" if "Item" in body else "Key"][name])

    def _fresh(self, kind: str, value: dict[str, Any]) -> dict[str, Any]:
        """A random value of the same type and length (so the same size by DynamoDB's rules)."""
        original = value[kind]
        if kind == "S":
            return {"S": "".join(self._random.choices(string.ascii_letters + string.digits, k=len(original)))}
        if kind == "N":
            digits = len(original.lstrip("-").replace(".", "")) or 1
            return {"N": str(self._random.randint(10 ** (digits - 1), 10**digits - 1))}
        return {"B": self._random.randbytes(len(original))}


# -- the bids -------------------------------------------------------------------------------


@dataclass
class LotBids:
    """One lot's bidding: rising amounts (so most bids are accepted), now and then one at
    the starting price (rejected once a bid is in), outbid bidders returning among new ones."""

    lot_id: str
    next_amount: Decimal = STARTING_PRICE
    bidders: list[str] = field(default_factory=list)
    leader: str | None = None


@dataclass
class Workload:
    lots: list[LotBids]
    returning_share: float
    low_share: float
    rng: random.Random
    sequence: int = 0
    batches: int = 0
    bid_ids: list[str] = field(default_factory=list)
    returning_bids: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)  # of the last event's bids


    def next_event(self) -> dict[str, Any]:
        """The next SQS event: 10 bids of one lot. A FIFO queue hands a receiver as many
        messages of one group as it can, so a busy lot's bids arrive 10 at a time; the lots
        take turns."""
        from ledger.domain.commands import LotCommandMessage, PlaceBid
        from ledger.domain.values import utc_now

        lot = self.lots[self.batches % len(self.lots)]
        self.batches += 1
        records = []
        self.requests = []
        for _ in range(BIDS_PER_BATCH):
            # A returning bidder is one who was outbid: the leader does not bid against itself.
            others = [b for b in lot.bidders if b != lot.leader]
            if others and self.rng.random() < self.returning_share:
                bidder = self.rng.choice(others)
                self.returning_bids += 1
            else:
                bidder = str(uuid.UUID(int=self.rng.getrandbits(128)))  # a Cognito `sub` is a UUID
                lot.bidders.append(bidder)
            if lot.next_amount > STARTING_PRICE and self.rng.random() < self.low_share:
                amount = STARTING_PRICE
            else:
                amount, lot.next_amount, lot.leader = lot.next_amount, lot.next_amount + STEP, bidder
            bid = PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot.lot_id, bidder=bidder, amount=str(amount),
                           placed_at=utc_now(), correlation_id=str(uuid.uuid4()))
            self.bid_ids.append(bid.bid_id)
            self.requests.append(bid.model_dump(mode="json"))
            records.append(self._record(LotCommandMessage(command=bid).model_dump_json(), lot.lot_id, bid.bid_id))
        return {"Records": records}

    def _record(self, body: str, group: str, bid_id: str) -> dict[str, Any]:
        """One SQS record as Lambda's event source mapping delivers it from a FIFO queue."""
        self.sequence += 1
        now_ms = str(int(time.time() * 1000))
        return {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": uuid.uuid4().hex,
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": now_ms, "SequenceNumber": f"{self.sequence:020d}",
                           "MessageGroupId": group, "SenderId": "AIDASAMSOLDBENCH", "MessageDeduplicationId": f"bid-{bid_id}",
                           "ApproximateFirstReceiveTimestamp": now_ms},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": QUEUE_ARN,
            "awsRegion": "us-east-1",
        }


class LambdaContext:
    """What Powertools reads from Lambda's context object."""

    function_name = "ProcessBidFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:ProcessBidFunction"
    memory_limit_in_mb = 512
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/ProcessBidFunction"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


# -- the run --------------------------------------------------------------------------------


@dataclass
class Side:
    seconds: float = 0.0
    bids: int = 0

    @property
    def bids_per_s(self) -> float:
        return self.bids / self.seconds if self.seconds else 0.0


@dataclass
class Tally:
    calls: Counter[str] = field(default_factory=Counter)
    transactions: int = 0
    cancelled: int = 0
    items: list[int] = field(default_factory=list)
    failed_records: int = 0


def create_lots(app: App, count: int) -> list[LotBids]:
    from ledger.domain.commands import CreateLot
    from ledger.domain.values import utc_now

    now = utc_now()
    return [
        LotBids(app.lots.create_lot(
            CreateLot.model_validate({"lot_id": f"bench-{uuid.uuid4().hex[:10]}-{index}", "title": f"Processor bench lot {index + 1}",
                                      "currency": "EUR", "starting_price": str(STARTING_PRICE), "increment": str(STEP),
                                      "opens_at": now - timedelta(minutes=1), "closes_at": now + timedelta(days=1)}),
            seller="bench-seller").lot_id)
        for index in range(count)
    ]


def run_pair(app: App, watch: CallWatch, baseline: Baseline, workload: Workload, tally: Tally | None,
             handler_side: Side, baseline_side: Side) -> None:
    """One batch through the handler, then its copy as bare transactions, each timed."""
    from handlers.process_bid import handler

    event = workload.next_event()
    # The bid-request records the API writes as it admits each bid (`BidAdmission.submit_bid`):
    # the processor decides only a queued bid that has one. Untimed, and not the handler's calls.
    for request in workload.requests:
        app.queries.store.record_bid_request(request)
    watch.take()
    context: Any = LambdaContext()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        # Powertools prints its metrics (EMF) and logs to stdout, as in Lambda: part of the
        # handler's cost, but not for the terminal.
        started = time.perf_counter()
        response = handler(event, context, samsold=app)
        handler_side.seconds += time.perf_counter() - started
    handler_side.bids += BIDS_PER_BATCH
    calls, transactions = watch.take()
    written = [t for t in transactions if t.succeeded]
    copies = [baseline.like(t.items) for t in written]  # untimed: reads back updated items
    started = time.perf_counter()
    for transaction in copies:
        baseline.write(transaction)
    baseline_side.seconds += time.perf_counter() - started
    baseline_side.bids += BIDS_PER_BATCH
    if tally is not None:
        tally.calls += calls
        tally.transactions += len(written)
        tally.cancelled += len(transactions) - len(written)
        tally.items += [len(t.items) for t in written]
        tally.failed_records += len(response.get("batchItemFailures", []))


def run(env: dict[str, str], lots: int, rounds: int, batches: int, warmup: int, seed: int) -> dict[str, Any]:
    from bootstrap import build

    watch = CallWatch()
    watch.install()  # before the App makes its client
    try:
        app = build(env)
        baseline = Baseline(env)
        workload = Workload(create_lots(app, lots), returning_share=0.5, low_share=0.1, rng=random.Random(seed))
        watch.take()  # creating the lots is not the handler's
        tally = Tally()
        per_round: list[tuple[Side, Side]] = []
        with progress_bar() as progress:
            task = progress.add_task(f"warm-up: {warmup} batches", total=warmup)
            for _ in range(warmup):
                run_pair(app, watch, baseline, workload, None, Side(), Side())
                progress.advance(task)
            task = progress.add_task(f"{rounds} rounds of {batches} batches, handler and bare in turns", total=rounds * batches)
            for _ in range(rounds):
                sides = Side(), Side()
                for _ in range(batches):
                    run_pair(app, watch, baseline, workload, tally, *sides)
                    progress.advance(task)
                per_round.append(sides)
    finally:
        watch.uninstall()
    measured_ids = workload.bid_ids[warmup * BIDS_PER_BATCH:]
    receipts = app.queries.bid_receipts(measured_ids)
    statuses = Counter(str(r.get("status")) for r in receipts.values())
    ratios = [handler.bids_per_s / bare.bids_per_s for handler, bare in per_round]
    measured_batches = rounds * batches
    return {
        "workload": {
            "lots": lots, "bids_per_batch": BIDS_PER_BATCH, "batches": measured_batches, "bids": measured_batches * BIDS_PER_BATCH,
            "warmup_batches_excluded": warmup, "rounds": rounds, "batches_per_round": batches,
            "accepted": statuses["ACCEPTED"], "rejected": statuses["REJECTED"], "undecided": len(measured_ids) - len(receipts),
            "rejected_by_reason": dict(Counter(str(r.get("reason")) for r in receipts.values() if r.get("status") == "REJECTED")),
            "failed_records": tally.failed_records,
            "distinct_bidders": sum(len(lot.bidders) for lot in workload.lots),
            "returning_bidder_share": round(workload.returning_bids / len(workload.bid_ids), 3),
        },
        "handler": {
            "what": "handlers.process_bid.handler(SQS event of 10 bids of one lot), in process, its own App and client",
            "bids_per_s": round(statistics.median(h.bids_per_s for h, _ in per_round), 1),
            "bids_per_s_by_round": [round(h.bids_per_s, 1) for h, _ in per_round],
            "dynamodb_calls_per_batch": {op: round(n / measured_batches, 3) for op, n in sorted(tally.calls.items())},
            "dynamodb_calls": dict(sorted(tally.calls.items())),
            "transactions_per_batch": round(tally.transactions / measured_batches, 3),
            "cancelled_transactions": tally.cancelled,
            "items_per_transaction": {"min": min(tally.items, default=0), "median": statistics.median(tally.items) if tally.items else 0,
                                      "max": max(tally.items, default=0)},
        },
        "baseline": {
            "what": "TransactWriteItems of the handler's items (same attribute names, values and sizes) under fresh keys, "
                    "conditions attribute_not_exists; one per transaction the handler wrote",
            "bids_per_s": round(statistics.median(b.bids_per_s for _, b in per_round), 1),
            "bids_per_s_by_round": [round(b.bids_per_s, 1) for _, b in per_round],
        },
        "ratio": {
            "median": round(statistics.median(ratios), 3),
            "by_round": [round(r, 3) for r in ratios],
            "goal_at_least": RATIO_GOAL,
            "meets_goal": statistics.median(ratios) >= RATIO_GOAL,
        },
    }


def processor(
    lots: Annotated[int, typer.Option(min=1, max=100, help="Lots the batches take turns on (one message group each)")] = 5,
    rounds: Annotated[int, typer.Option(min=1, max=101, help="Rounds; figures are medians over them")] = 7,
    batches: Annotated[int, typer.Option(min=1, max=10_000, help="Batches of 10 bids per round")] = 50,
    warmup: Annotated[int, typer.Option(min=0, max=10_000, help="Batches first, not measured")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the bidders and amounts")] = 11,
    output: Annotated[Path, typer.Option(help="Where to write the JSON results")] = Path("bench-results/processor.json"),
) -> None:
    """The bid processor on 10-bid SQS batches against a bare TransactWriteItems of the same
    items, on one fresh DynamoDB Local: bids per second, their ratio, calls per batch."""
    started = time.perf_counter()
    load_before = os.getloadavg()
    with fresh_dynamodb_local() as env:
        results = run(env, lots, rounds, batches, warmup, seed)
    document = {
        "benchmark": "samsold processor",
        "engine": "DynamoDB Local (in memory), one instance for both sides",
        "machine": machine(load_before),
        "options": {"lots": lots, "rounds": rounds, "batches": batches, "warmup": warmup, "seed": seed},
        **results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    write_results(document, output)
    if results["workload"]["undecided"] or results["workload"]["failed_records"]:
        console.print("[red]some bids were not decided: the figures do not count[/red]")
        raise typer.Exit(1)
