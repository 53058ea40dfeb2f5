"""Close timers through the handlers, on the in-memory recorder and in-memory queues: who
arms a timer (POST /lots for a short lot, the sweep for lots due within its lookahead), and
what CloseTimerFunction does when one arrives (queue the CloseLot, re-arm, drop). The timers'
delays are the queue's to keep; here a test hands them over when it chooses. The whole path
with the real delays runs on the local stack in tests/e2e/test_closing_on_time.py."""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

from adapters.close_timer_queue import CloseTimerQueue
from adapters.command_queue import CommandQueue
from bootstrap import App
from handlers import close_due_lots, close_timers, lot_api, process_bid
from ledger.domain.closing import FOLLOW_UP_S, REARM_WITHIN_S, SWEEP_ARMS_AFTER_S, TIMER_LOOKAHEAD_S
from ledger.domain.values import format_time, parse_time, utc_now
from tests.support.app import LaggingClock, build_test_app
from tests.support.events import FakeContext, rest_event, sqs_event
from tests.support.queue import QUEUE_URL, TIMER_QUEUE_ARN, TIMER_QUEUE_URL, InMemorySqs, InMemoryTimerSqs

SELLER = {"sub": "sam", "cognito:username": "sam", "cognito:groups": "sellers", "custom:seller_handle": "sam"}
GRACE = 8


@pytest.fixture
def sqs() -> InMemorySqs:
    return InMemorySqs()


@pytest.fixture
def timers() -> InMemoryTimerSqs:
    return InMemoryTimerSqs()


def make_app(sqs: InMemorySqs, timers: InMemoryTimerSqs, **overrides: Any) -> App:
    return build_test_app(command_queue=CommandQueue(sqs, QUEUE_URL), close_timers=CloseTimerQueue(timers, TIMER_QUEUE_URL),
                          close_grace_seconds=GRACE, **overrides)


@pytest.fixture
def app(sqs, timers) -> App:
    return make_app(sqs, timers)


def create_lot(app: App, closes_in: timedelta) -> str:
    lot_id = f"sam-lot-{uuid.uuid4().hex[:8]}"
    terms = {"lot_id": lot_id, "title": "Blue vase", "currency": "EUR", "starting_price": "10.00",
             "closes_at": format_time(utc_now() + closes_in)}
    response = lot_api.handler(rest_event("POST", "/lots", body=terms, claims=SELLER), FakeContext(), app)
    assert response["statusCode"] == 201, response["body"]
    return lot_id


def status_of(app: App, lot_id: str) -> str:
    return app.queries.get_lot(lot_id).status


def timer_event(lot_id: str, closes_at: str) -> dict[str, Any]:
    body = json.dumps({"lot_id": lot_id, "closes_at": closes_at})
    return sqs_event([{"MessageId": f"t-{uuid.uuid4().hex}", "ReceiptHandle": "r", "Body": body}], TIMER_QUEUE_ARN)


def arrive(app: App, event: dict[str, Any]) -> None:
    assert close_timers.handler(event, FakeContext(), app)["batchItemFailures"] == []


def process(app: App, sqs: InMemorySqs) -> None:
    while (batch := sqs.next_batch()) is not None:
        assert process_bid.handler(batch, FakeContext(), app)["batchItemFailures"] == []


def test_a_lot_closing_before_the_next_sweep_gets_its_timer_when_created(app, timers):
    started = time.monotonic()
    lot_id = create_lot(app, timedelta(seconds=30))
    took = math.ceil(time.monotonic() - started)  # however slow the machine, the timer counts from its own now
    [timer] = timers.waiting
    assert json.loads(timer["Body"])["lot_id"] == lot_id
    assert 30 + GRACE - 1 - took <= timer["DelaySeconds"] <= 30 + GRACE  # to the deadline, rounded up

    create_lot(app, timedelta(minutes=30))  # the sweep arms this one when its deadline draws near
    assert len(timers.waiting) == 1


def test_a_lot_is_created_even_when_its_timer_cannot_be_armed(sqs):
    app = build_test_app(command_queue=CommandQueue(sqs, QUEUE_URL), close_grace_seconds=GRACE)  # no timer queue set
    lot_id = create_lot(app, timedelta(seconds=30))
    assert status_of(app, lot_id) == "OPEN"


def test_the_sweep_closes_due_lots_and_arms_timers_for_those_due_within_its_lookahead(sqs, timers):
    clock = LaggingClock()  # lots are created an hour ago, so one can be due already
    earlier = build_test_app(clock=clock)
    app = make_app(sqs, timers, commands=earlier.commands)
    due = create_lot(app, timedelta(seconds=-GRACE - 1))
    soon = create_lot(app, timedelta(seconds=TIMER_LOOKAHEAD_S - GRACE - 5))
    near = create_lot(app, timedelta(seconds=SWEEP_ARMS_AFTER_S - GRACE - 5))  # armed when created
    later = create_lot(app, timedelta(seconds=TIMER_LOOKAHEAD_S + 60))
    assert sorted(json.loads(t["Body"])["lot_id"] for t in timers.waiting) == sorted([soon, near])
    timers.waiting.clear()

    swept = close_due_lots.handler({}, FakeContext(), app)
    assert (swept["queued"], swept["timers"]) == (1, 1)
    assert [json.loads(t["Body"])["lot_id"] for t in timers.waiting] == [soon]
    clock.behind = timedelta(0)  # the processor closes as of its own clock, never the command's
    process(app, sqs)
    assert [status_of(app, lot_id) for lot_id in (due, soon, near, later)] == ["CLOSED", "OPEN", "OPEN", "OPEN"]


def test_a_timer_at_the_deadline_queues_the_close_into_the_lots_group(sqs, timers):
    clock = LaggingClock()
    earlier = build_test_app(clock=clock)
    app = make_app(sqs, timers, commands=earlier.commands)
    lot_id = create_lot(app, timedelta(seconds=-GRACE - 1))
    closes_at = format_time(app.queries.get_lot(lot_id).closes_at)

    arrive(app, timer_event(lot_id, closes_at))
    [command] = sqs.waiting
    assert command["Attributes"]["MessageGroupId"] == lot_id
    [follow_up] = timers.waiting  # a look at the lot after its CloseLot was decided
    assert (json.loads(follow_up["Body"])["lot_id"], follow_up["DelaySeconds"]) == (lot_id, FOLLOW_UP_S)
    arrive(app, timer_event(lot_id, closes_at))  # a duplicate timer: the same close, deduplicated
    assert len(sqs.waiting) == 1
    clock.behind = timedelta(0)
    process(app, sqs)
    assert status_of(app, lot_id) == "CLOSED"
    timers.waiting.clear()

    arrive(app, timer_event(lot_id, closes_at))  # the lot ended: the timer (the follow-up) is dropped
    assert sqs.waiting == [] and timers.waiting == []


def test_the_follow_up_timer_re_arms_a_lot_that_a_bid_queued_ahead_of_its_close_extended(sqs, timers):
    """A bid placed in time but still queued when the timer looked extends the lot: its
    CloseLot does nothing, and the follow-up timer arms the new deadline (not the next sweep)."""
    clock = LaggingClock()
    earlier = build_test_app(clock=clock)
    app = make_app(sqs, timers, commands=earlier.commands)
    lot_id = "sam-extended"
    terms = {"lot_id": lot_id, "title": "Blue vase", "currency": "EUR", "starting_price": "10.00",
             "closes_at": format_time(utc_now() - timedelta(seconds=GRACE + 1)), "soft_close_extension_s": 30}
    assert lot_api.handler(rest_event("POST", "/lots", body=terms, claims=SELLER), FakeContext(), app)["statusCode"] == 201
    lot = app.queries.get_lot(lot_id)
    placed_at = lot.closes_at - timedelta(seconds=1)  # in time: soft close moves the end 30 s past it
    bid = {"type": "PlaceBid", "bid_id": "late", "lot_id": lot_id, "bidder": "bob", "amount": "10.00",
           "placed_at": format_time(placed_at)}
    app.commands.store.record_bid_request(bid)  # as the API records a bid it admits
    sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=json.dumps({"command": bid}), MessageGroupId=lot_id,
                     MessageDeduplicationId="bid-late")
    timers.waiting.clear()

    arrive(app, timer_event(lot_id, format_time(lot.closes_at)))  # the close goes in behind the bid
    [follow_up] = timers.waiting
    clock.behind = timedelta(0)
    process(app, sqs)
    extended = app.queries.get_lot(lot_id)
    assert (extended.status, extended.closes_at) == ("OPEN", placed_at + timedelta(seconds=30))
    timers.waiting.clear()

    follow_up_body = json.loads(follow_up["Body"])
    arrive(app, timer_event(follow_up_body["lot_id"], follow_up_body["closes_at"]))
    [again] = timers.waiting
    assert parse_time(json.loads(again["Body"])["closes_at"]) == extended.closes_at


def test_a_timer_for_a_lot_whose_close_moved_later_is_armed_again_at_the_new_deadline(app, sqs, timers):
    lot_id = create_lot(app, timedelta(seconds=60))
    timers.waiting.clear()
    closes_at = app.queries.get_lot(lot_id).closes_at
    armed_for = format_time(closes_at - timedelta(seconds=90))  # as if soft close moved it since

    arrive(app, timer_event(lot_id, armed_for))
    assert sqs.waiting == []
    [again] = timers.waiting
    assert parse_time(json.loads(again["Body"])["closes_at"]) == closes_at
    assert 60 + GRACE - 1 <= again["DelaySeconds"] <= 60 + GRACE


def test_a_timer_for_a_lot_whose_close_moved_far_leaves_it_to_the_sweep(app, sqs, timers):
    lot_id = create_lot(app, timedelta(seconds=REARM_WITHIN_S + 30))
    timers.waiting.clear()
    arrive(app, timer_event(lot_id, format_time(utc_now() - timedelta(seconds=GRACE))))
    assert sqs.waiting == [] and timers.waiting == []  # the sweep arms it when it enters its band
    assert status_of(app, lot_id) == "OPEN"


def test_a_timer_for_no_lot_and_a_message_that_is_no_timer_are_acknowledged(app, sqs, timers):
    arrive(app, timer_event("no-such-lot", format_time(utc_now())))
    bad = sqs_event([{"MessageId": "m-1", "ReceiptHandle": "r", "Body": "{\"lot_id\": 12}"},
                     {"MessageId": "m-2", "ReceiptHandle": "r", "Body": "not json"}], TIMER_QUEUE_ARN)
    arrive(app, bad)
    assert sqs.waiting == [] and timers.waiting == []


def test_a_sale_arms_the_timers_of_its_lots_closing_before_the_next_sweep_could(app, timers):
    first = utc_now() + timedelta(seconds=30)
    lots = [{"lot_id": f"sam-s-{i}", "title": "Blue vase", "currency": "EUR", "starting_price": "10.00"} for i in range(4)]
    sale = {"sale_id": "spring", "title": "Spring sale", "interval_s": 40, "first_closes_at": format_time(first), "lots": lots}
    response = lot_api.handler(rest_event("POST", "/sales", body=sale, claims=SELLER), FakeContext(), app)
    assert response["statusCode"] == 201, response["body"]
    # Due 38, 78, 118 and 158 s from now: the first three within the lookahead, the last the sweep's.
    armed = {json.loads(t["Body"])["lot_id"]: t["DelaySeconds"] for t in timers.waiting}
    assert sorted(armed) == ["sam-s-0", "sam-s-1", "sam-s-2"]
    assert TIMER_LOOKAHEAD_S - 3 <= armed["sam-s-2"] <= TIMER_LOOKAHEAD_S


def test_a_sale_of_500_lots_arms_its_timers_ten_to_a_call(app, timers):
    """One lot a second from 30 s on: the 82 or so due within the lookahead get timers, ten to a SendMessageBatch call."""
    calls = []
    send = timers.send_message_batch
    timers.send_message_batch = lambda **request: calls.append(len(request["Entries"])) or send(**request)
    first = utc_now() + timedelta(seconds=30)
    lots = [{"lot_id": f"sam-b-{i}", "title": "Jug", "currency": "EUR", "starting_price": "1.00"} for i in range(500)]
    sale = {"sale_id": "big", "title": "Big sale", "interval_s": 1, "first_closes_at": format_time(first), "lots": lots}
    response = lot_api.handler(rest_event("POST", "/sales", body=sale, claims=SELLER), FakeContext(), app)
    assert response["statusCode"] == 201, response["body"][:300]
    armed = len(timers.waiting)
    assert TIMER_LOOKAHEAD_S - GRACE - 30 - 2 <= armed <= TIMER_LOOKAHEAD_S - GRACE - 30 + 2
    assert calls == [10] * (armed // 10) + ([armed % 10] if armed % 10 else [])
