"""Buy-it-now through the handlers on the in-memory recorder and queue: `POST
/lots/{lot_id}/buy` answers and queues like a bid, the processor decides it in queue order
with the lot's bids, and the outcome reads like a bid's. (tests/e2e/test_buy_now.py drives
the same on the local stack.)"""

from __future__ import annotations

import json
from typing import Any

from handlers import place_bid
from ledger.domain.commands import caller_bid_id
from ledger.domain.events import BidPlaced, LotClosed
from projections.dispute import dispute_report
from tests.support.events import FakeContext, rest_event
from tests.unit.handlers.test_handlers_in_memory import (
    ALICE,
    BOB,
    SELLER,
    api,
    bid_status,
    create_lot,
    lot_view,
    process,
)


def buy(app, lot_id: str, claims: dict[str, str] | None, body: Any = None, headers: dict[str, str] | None = None):
    event = rest_event("POST", f"/lots/{lot_id}/buy", resource="/lots/{lot_id}/buy", path_parameters={"lot_id": lot_id},
                       body=body, claims=claims, headers=headers)
    response = place_bid.handler(event, FakeContext(), app)
    return response["statusCode"], _json(response.get("body"))


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


def test_a_purchase_is_queued_decided_in_order_and_closes_the_lot_sold(app, sqs):
    lot = create_lot(app, buy_now_price="50.00")
    assert lot["buy_now_price"] == "50.00" and lot["buy_now_until"] == "first_bid"
    status, bought = buy(app, lot["lot_id"], BOB, body={"bid_id": "bob-buys"})
    bought_id = caller_bid_id("bob", "bob-buys")  # Bob's key names Bob's purchase
    assert (status, bought) == (202, {"bid_id": bought_id, "status": "PENDING", "status_url": f"/bids/{bought_id}"})
    # A bid taken after the purchase was: the queue puts it behind.
    status, late = api(app, "POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "60.00"}, claims=ALICE)
    assert status == 202
    process(app, sqs)

    outcome = bid_status(app, bought_id, BOB)[1]
    assert (outcome["status"], outcome["reason"], outcome["amount"]) == ("ACCEPTED", None, "50.00")
    assert bid_status(app, late["bid_id"], ALICE)[1]["reason"] == "LOT_CLOSED"
    view = lot_view(app, lot["lot_id"])
    assert (view["status"], view["outcome"], view["current_price"], view["leader"]) == ("CLOSED", "SOLD", "50.00", "Bidder 1")
    assert view["buy_now_price"] is None  # no longer offered
    events = app.queries.lot_events(lot["lot_id"])
    placed, closed = (e for e in events if isinstance(e, BidPlaced | LotClosed))
    assert isinstance(closed, LotClosed) and (closed.winner, closed.price, closed.bought_now) == ("bob", placed.amount, True)
    report = dispute_report(app.queries, bought_id)
    assert "buy-now price" in report["outcome"]["rule"] and report["final_result"]["outcome"] == "SOLD"


def test_a_bid_ahead_in_the_queue_takes_the_offer_away(app, sqs):
    lot = create_lot(app, buy_now_price="50.00")
    api(app, "POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "12.00"}, claims=ALICE)
    status, bought = buy(app, lot["lot_id"], BOB)  # admitted: the bid is not decided yet
    assert status == 202
    process(app, sqs)
    outcome = bid_status(app, bought["bid_id"], BOB)[1]
    assert (outcome["status"], outcome["reason"]) == ("REJECTED", "BUY_NOW_NOT_OFFERED")
    assert lot_view(app, lot["lot_id"])["status"] == "OPEN"

    # Now plainly no longer offered: refused before anything is queued.
    status, refused = buy(app, lot["lot_id"], BOB)
    assert (status, refused["error"]["code"]) == (409, "BUY_NOW_NOT_OFFERED")
    assert sqs.waiting == []


def test_refusals_at_the_api_queue_nothing(app, sqs):
    plain = create_lot(app)
    offered = create_lot(app, buy_now_price="50.00")
    assert plain["buy_now_price"] is None and plain["buy_now_until"] is None
    for lot_id, claims, status, code in [
        (plain["lot_id"], BOB, 409, "BUY_NOW_NOT_OFFERED"),
        (offered["lot_id"], SELLER, 409, "SELLER_CANNOT_BID"),
        ("no-such-lot", BOB, 404, "LOT_NOT_FOUND"),
        (offered["lot_id"], None, 401, "UNAUTHORIZED"),
    ]:
        answer, body = buy(app, lot_id, claims)
        assert (answer, body["error"]["code"]) == (status, code), body
    assert buy(app, offered["lot_id"], BOB, body={"bid_id": "x", "price": "1"})[0] == 400  # strict body
    assert buy(app, offered["lot_id"], BOB, body={"bid_id": "x"}, headers={"Idempotency-Key": "y"})[0] == 422
    assert len(sqs.waiting) == 0


def test_a_retried_purchase_is_the_same_purchase_and_its_id_is_not_a_bids(app, sqs):
    lot = create_lot(app, buy_now_price="50.00")
    first = buy(app, lot["lot_id"], BOB, headers={"Idempotency-Key": "k1"})
    again = buy(app, lot["lot_id"], BOB, headers={"Idempotency-Key": "k1"})
    k1 = caller_bid_id("bob", "k1")
    assert first == again == (202, {"bid_id": k1, "status": "PENDING", "status_url": f"/bids/{k1}"})
    process(app, sqs)
    # Retried after it closed the lot: still the same purchase, now decided.
    assert buy(app, lot["lot_id"], BOB, headers={"Idempotency-Key": "k1"})[1]["status"] == "ACCEPTED"
    status, reused = api(app, "POST", "/bid", body={"lot_id": lot["lot_id"], "amount": "50.00", "bid_id": "k1"}, claims=BOB)
    assert (status, reused["error"]["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    other = create_lot(app, buy_now_price="50.00")
    assert buy(app, other["lot_id"], BOB, headers={"Idempotency-Key": "k1"})[0] == 409
