"""The queue is not a back door: commands written straight to the queue (as any principal
allowed to send to it could) are parked, not decided, unless the API admitted them; and no
command is decided as of a time later than the processor's clock. On the in-memory recorder;
tests/integration/handlers/test_forged_commands.py sends them to the local SQS and DynamoDB Local."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bootstrap import App
from ledger.domain.queued import NO_MATCHING_REQUEST
from ledger.domain.values import format_time, utc_now
from tests.support.queue import QUEUE_URL, InMemorySqs
from tests.unit.handlers.test_handlers_in_memory import ALICE, BOB, api, bid_status, create_lot, lot_view, process


def send(sqs: InMemorySqs, command: dict[str, Any], dedup: str) -> str:
    """Write a command to the queue directly, as a sender other than PlaceBid would."""
    sent = sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=json.dumps({"command": command}),
                            MessageGroupId=command["lot_id"], MessageDeduplicationId=dedup)
    return str(sent["MessageId"])


def forged_bid(lot_id: str, bid_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": "PlaceBid", "bid_id": bid_id, "lot_id": lot_id, "bidder": "bob", "amount": "99999.00",
            "placed_at": format_time(utc_now())} | fields


def test_a_bid_the_api_never_admitted_is_parked_with_its_reason_and_decides_nothing(app: App, sqs: InMemorySqs):
    lot = create_lot(app)
    message_id = send(sqs, forged_bid(lot["lot_id"], "forged-1"), "forged-1")
    _, honest = api(app, "POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "12.00"}, claims=ALICE)
    process(app, sqs)

    parked = app.commands.store.get_parked(message_id)
    assert parked is not None and parked["error"] == NO_MATCHING_REQUEST
    view = lot_view(app, lot["lot_id"])
    assert (view["bid_count"], view["current_price"], view["version"]) == (1, "10.00", 2)  # the honest bid alone
    assert bid_status(app, honest["bid_id"], ALICE)[1]["status"] == "ACCEPTED"
    assert bid_status(app, "forged-1", BOB)[0] == 404


def test_a_queued_bid_that_differs_from_its_request_is_parked(app: App, sqs: InMemorySqs):
    """A real bid id with another amount, bidder, time or confirmation: not the bid the API took."""
    lot = create_lot(app)
    _, placed = api(app, "POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "12.00"}, claims=BOB)
    real = json.loads(sqs.waiting[0]["Body"])["command"]
    sqs.waiting.clear()
    changes = [{"amount": "99999.00"}, {"bidder": "alice"}, {"placed_at": format_time(utc_now() - timedelta(hours=1))},
               {"confirmed": True}]
    ids = [send(sqs, real | change, f"changed-{n}") for n, change in enumerate(changes)]
    process(app, sqs)

    assert [app.commands.store.get_parked(i)["error"] for i in ids] == [NO_MATCHING_REQUEST] * len(changes)  # type: ignore[index]
    assert lot_view(app, lot["lot_id"])["bid_count"] == 0
    assert bid_status(app, placed["bid_id"], BOB)[1]["status"] == "PENDING"
    send(sqs, real, "the-real-one")  # the bid as recorded is still decided
    process(app, sqs)
    assert bid_status(app, placed["bid_id"], BOB)[1]["status"] == "ACCEPTED"


def test_a_close_requested_from_the_future_closes_only_a_lot_that_is_due_now(app: App, sqs: InMemorySqs):
    lot = create_lot(app)
    send(sqs, {"type": "CloseLot", "lot_id": lot["lot_id"], "requested_at": "2099-01-01T00:00:00.000Z"}, "close-2099")
    process(app, sqs)
    assert (lot_view(app, lot["lot_id"])["status"], lot_view(app, lot["lot_id"])["version"]) == ("OPEN", 1)


def test_a_bid_placed_in_the_future_is_decided_as_placed_now(app: App, sqs: InMemorySqs):
    """Even with a request that says so (a clock ahead), a bid is never placed later than now:
    the processor's clock caps it, so it cannot outlast a lot's close."""
    lot = create_lot(app)
    future = forged_bid(lot["lot_id"], "ahead", amount="12.00", placed_at=format_time(utc_now() + timedelta(days=365)))
    app.commands.store.record_bid_request(future)
    send(sqs, future, "ahead")
    process(app, sqs)
    outcome = bid_status(app, "ahead", BOB)[1]
    assert outcome["status"] == "ACCEPTED"
    assert outcome["placed_at"] <= format_time(utc_now())
