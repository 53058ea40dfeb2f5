"""Buy-it-now end to end on the local runtime: `POST /lots/{lot_id}/buy` through the
gateway, the lot's FIFO group, the processor, the stream broadcaster and the pushes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.helpers import Client, Watcher


@pytest.fixture(scope="module")
def seller(api, dev_auth):
    return Client(api, dev_auth.mint("sam", seller=True))


def buy(client: Client, lot_id: str, **body: Any):
    return client.post(f"/lots/{lot_id}/buy", body or None)


def test_a_purchase_sells_the_lot_to_the_buyer_and_a_bid_queued_after_it_is_rejected(app_stack, seller, alice, bob, dev_auth):
    lot = seller.create_lot(buy_now_price="80.00")
    assert (lot["buy_now_price"], lot["buy_now_until"]) == ("80.00", "first_bid")
    ws = app_stack.endpoints["websocket"]
    with Watcher(f"{ws}/?lot_id={lot['lot_id']}") as watcher, Watcher(f"{ws}/", dev_auth.mint("bob")) as bobs_phone:
        response = buy(bob, lot["lot_id"], bid_id=f"{lot['lot_id']}-buy")
        assert response.status_code == 202, response.text
        purchase = response.json()
        assert (purchase["status"], purchase["status_url"]) == ("PENDING", f"/bids/{purchase['bid_id']}")
        late = alice.bid(lot["lot_id"], "90.00")  # taken after the purchase: behind it in the lot's group

        outcome = bob.wait_for_outcome(purchase["bid_id"])
        assert (outcome["status"], outcome["reason"], outcome["amount"]) == ("ACCEPTED", None, "80.00")
        rejected = alice.wait_for_outcome(late["bid_id"])
        assert (rejected["status"], rejected["reason"]) == ("REJECTED", "LOT_CLOSED")

        closed = watcher.until(lambda _: any(u["status"] == "CLOSED" for u in watcher.lot_updates()))
        final = next(u for u in watcher.lot_updates() if u["status"] == "CLOSED")
        assert (final["outcome"], final["current_price"], final["leader"], final["buy_now_price"]) == ("SOLD", "80.00", "Bidder 1", None)
        assert "bob" not in str(closed)
        bobs_phone.until(lambda messages: any(m.get("type") == "lot.won" for m in messages))
        assert {"type": "lot.won", "lot_id": lot["lot_id"], "price": "80.00"} in bobs_phone.messages

    view = bob.get(f"/lots/{lot['lot_id']}").json()
    assert (view["status"], view["outcome"], view["you"]["status"]) == ("CLOSED", "SOLD", "WON")
    # Asked again once it is sold: refused at the API, nothing queued.
    again = buy(alice, lot["lot_id"])
    assert (again.status_code, again.json()["error"]["code"]) == (409, "LOT_CLOSED")


def test_a_purchase_after_the_first_accepted_bid_is_rejected(seller, alice, bob):
    lot = seller.create_lot(buy_now_price="80.00")
    first = alice.bid(lot["lot_id"], "10.00")
    # Taken before the bid may be decided: the queue order decides, and the bid is ahead.
    response = buy(bob, lot["lot_id"])
    if response.status_code == 202:
        outcome = bob.wait_for_outcome(response.json()["bid_id"])
        assert (outcome["status"], outcome["reason"]) == ("REJECTED", "BUY_NOW_NOT_OFFERED")
    else:
        assert (response.status_code, response.json()["error"]["code"]) == (409, "BUY_NOW_NOT_OFFERED")
    assert alice.wait_for_outcome(first["bid_id"])["status"] == "ACCEPTED"
    # Once the bid is decided, plainly no longer offered: refused at the API.
    refused = buy(bob, lot["lot_id"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "BUY_NOW_NOT_OFFERED")
    view = alice.get(f"/lots/{lot['lot_id']}").json()
    assert (view["status"], view["buy_now_price"], view["leader"]) == ("OPEN", None, "Bidder 1")


def test_until_the_reserve_is_met_a_bidder_below_it_loses_to_a_purchase(app_stack, seller, alice, bob, dev_auth):
    lot = seller.create_lot(reserve_price="50.00", buy_now_price="60.00", buy_now_until="reserve_met")
    with Watcher(f"{app_stack.endpoints['websocket']}/", dev_auth.mint("alice")) as alices_phone:
        assert alice.wait_for_outcome(alice.bid(lot["lot_id"], "20.00")["bid_id"])["status"] == "ACCEPTED"
        assert alice.get(f"/lots/{lot['lot_id']}").json()["buy_now_price"] == "60.00"  # still offered
        response = buy(bob, lot["lot_id"])
        assert response.status_code == 202, response.text
        assert bob.wait_for_outcome(response.json()["bid_id"])["status"] == "ACCEPTED"
        alices_phone.until(lambda messages: any(m.get("type") == "lot.lost" for m in messages))
        assert {"type": "lot.lost", "lot_id": lot["lot_id"], "price": "60.00"} in alices_phone.messages
        assert not any(m.get("type") == "bid.outbid" for m in alices_phone.messages)


def test_refusals(seller, bob):
    plain = seller.create_lot()
    refused = buy(bob, plain["lot_id"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "BUY_NOW_NOT_OFFERED")
    offered = seller.create_lot(buy_now_price="80.00")
    own = buy(seller, offered["lot_id"])
    assert (own.status_code, own.json()["error"]["code"]) == (409, "SELLER_CANNOT_BID")
    assert buy(bob, "no-such-lot").status_code == 404
    low = seller.post("/lots", {"title": "Cup", "currency": "EUR", "starting_price": "10.00", "buy_now_price": "9.00",
                                "closes_at": plain["closes_at"]})
    assert (low.status_code, low.json()["error"]["details"]["field"]) == (422, "buy_now_price")


def test_the_cli_buys_and_waits_for_the_outcome(app_stack):
    from tests.e2e.test_operator_cli import samsold

    lot = json.loads(samsold(app_stack, "lots", "create", "--title", "Globe", "--starting-price", "5.00",
                             "--buy-now-price", "40.00", "--as", "tess").output)
    assert (lot["buy_now_price"], lot["buy_now_until"]) == ("40.00", "first_bid")
    bought = samsold(app_stack, "buy", lot["lot_id"], "--as", "yuri")
    assert bought.exit_code == 0 and "ACCEPTED: the lot is sold to you for 40.00" in bought.output
    again = samsold(app_stack, "buy", lot["lot_id"], "--as", "zeno")
    assert again.exit_code == 1 and "LOT_CLOSED" in again.output
