"""Bid ids are the caller's own: the same Idempotency-Key from two users is two bids, a 409
only ever speaks of the caller's own key, and bids stored before ids were scoped (their id
the key itself) are still found, shown and decided. On the in-memory recorder."""

from __future__ import annotations

import json

from bootstrap import App
from ledger.domain.values import format_time, utc_now
from tests.support.queue import QUEUE_URL, InMemorySqs
from tests.unit.handlers.test_handlers_in_memory import ALICE, BOB, api, bid_status, create_lot, lot_view, process

MALLORY = {"sub": "mallory", "cognito:username": "mallory"}


def bid(app: App, lot_id: str, amount: str, claims: dict[str, str], key: str) -> tuple[int, dict]:
    return api(app, "POST", "/bid", body={"lot_id": lot_id, "amount": amount}, claims=claims, headers={"Idempotency-Key": key})


def test_the_same_key_from_two_callers_is_two_bids_and_reveals_nothing(app: App, sqs: InMemorySqs):
    lot = create_lot(app)
    squatted = bid(app, lot["lot_id"], "10.00", MALLORY, "alice-2")  # sent first, by someone else
    status, alices = bid(app, lot["lot_id"], "12.00", ALICE, "alice-2")
    assert (squatted[0], status) == (202, 202) and squatted[1]["bid_id"] != alices["bid_id"]
    assert bid(app, lot["lot_id"], "12.00", ALICE, "alice-2")[1]["bid_id"] == alices["bid_id"]  # her retry: her bid
    process(app, sqs)
    assert bid_status(app, alices["bid_id"], ALICE)[1]["status"] == "ACCEPTED"
    assert bid_status(app, alices["bid_id"], MALLORY)[0] == 404
    assert lot_view(app, lot["lot_id"])["bid_count"] == 2
    # Reusing a key for another bid is refused only for one's own key.
    status, reused = bid(app, lot["lot_id"], "99.00", ALICE, "alice-2")
    assert (status, reused["error"]["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert bid(app, lot["lot_id"], "20.00", BOB, "alice-2")[0] == 202


def test_a_bid_stored_before_ids_were_scoped_is_still_found_and_decided(app: App, sqs: InMemorySqs):
    """Its request record in the old shape (id = the key; no `type` nor `confirmed`), its
    message still in the queue: decided, and its bidder alone reads it by that id."""
    lot = create_lot(app)
    old = {"bid_id": "bob-1", "lot_id": lot["lot_id"], "bidder": "bob", "amount": "12.00",
           "placed_at": format_time(utc_now()), "correlation_id": None}
    app.commands.store.record_bid_request(old)
    assert bid_status(app, "bob-1", BOB)[1]["status"] == "PENDING"
    sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=json.dumps({"command": old | {"type": "PlaceBid"}}),
                     MessageGroupId=lot["lot_id"], MessageDeduplicationId="bob-1")
    process(app, sqs)
    assert bid_status(app, "bob-1", BOB)[1]["status"] == "ACCEPTED"
    assert bid_status(app, "bob-1", ALICE)[0] == 404
