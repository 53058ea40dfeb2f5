"""The application end to end on the local runtime: real HTTP and WebSocket clients,
the FIFO queue, the processor, the stream broadcaster and the closing sweep."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ledger.domain.values import format_time, parse_time, utc_now
from tests.e2e.helpers import Client, Watcher, eventually


def test_watchers_beyond_the_first_page_get_the_update_through_the_fan_out_function(app_stack, admin, alice):
    """The session's stack has pages of 3 watchers (tests/conftest.py): the broadcast posts to
    the first 3 of these 8 and hands the other two pages to FanOutFunction, through the local
    fan-out queue and its event source mapping."""
    lot_id = admin.create_lot()["lot_id"]
    watchers = [Watcher(f"{app_stack.endpoints['websocket']}/?lot_id={lot_id}") for _ in range(8)]
    try:
        alice.bid(lot_id, "10.00")
        for watcher in watchers:
            watcher.until(lambda _, w=watcher: any(u["version"] == 2 for u in w.lot_updates()))
    finally:
        for watcher in watchers:
            watcher.close()

def test_two_bidders_and_a_watcher(app_stack, api, admin, alice, bob, dev_auth):
    lot = admin.create_lot()
    lot_id = lot["lot_id"]
    ws = app_stack.endpoints["websocket"]
    with Watcher(f"{ws}/?lot_id={lot_id}") as watcher, Watcher(f"{ws}/", dev_auth.mint("alice")) as alices_phone:
        first = alice.bid(lot_id, "10.00")
        second = bob.bid(lot_id, "10.25")  # below the 10.50 minimum
        third = bob.bid(lot_id, "11.00")
        assert alice.wait_for_outcome(first["bid_id"])["status"] == "ACCEPTED"
        rejected = bob.wait_for_outcome(second["bid_id"])
        assert (rejected["status"], rejected["reason"], rejected["minimum"]) == ("REJECTED", "BELOW_MINIMUM", "10.50")
        assert bob.wait_for_outcome(third["bid_id"])["status"] == "ACCEPTED"
        # Another bidder cannot read these outcomes.
        assert alice.get(f"/bids/{third['bid_id']}").status_code == 404

        updates = watcher.until(lambda _: any(u["version"] == 4 for u in watcher.lot_updates()))
        versions = [u["version"] for u in watcher.lot_updates()]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)
        final = watcher.lot_updates()[-1]
        # Bob's maximum 11.00 beat Alice's 10.00 by one increment.
        assert (final["current_price"], final["leader"], final["bid_count"]) == ("10.50", "Bidder 2", 2)
        assert "alice" not in json.dumps(updates) and "bob" not in json.dumps(updates)

        alices_phone.until(lambda messages: any(m.get("type") == "bid.outcome" for m in messages))
        # Bob's 11.00 took the lead from her: she is told, with the new price.
        alices_phone.until(lambda messages: any(m.get("type") == "bid.outbid" for m in messages))
        assert [m for m in alices_phone.messages if m.get("type") == "bid.outbid"] == [
            {"type": "bid.outbid", "lot_id": lot_id, "current_price": "10.50"}
        ]
        outcome = next(m["bid"] for m in alices_phone.messages if m.get("type") == "bid.outcome")
        assert (outcome["bid_id"], outcome["status"]) == (first["bid_id"], "ACCEPTED")
        # Only alice's own outcomes reach her connection.
        assert all(m["bid"]["bid_id"] == first["bid_id"] for m in alices_phone.messages if m.get("type") == "bid.outcome")

    view = alice.get(f"/lots/{lot_id}").json()
    assert (view["version"], view["current_price"], view["leader"]) == (4, "10.50", "Bidder 2")
    # Signed in, the lot's view says where the caller stands (their records come from the stream).
    eventually(lambda: alice.get(f"/lots/{lot_id}").json()["you"] is not None)
    assert alice.get(f"/lots/{lot_id}").json()["you"] == {"leading": False, "maximum": "10.00", "last_bid": "10.00", "status": "OUTBID", "minimum_raise": None}
    eventually(lambda: bob.get(f"/lots/{lot_id}").json()["you"]["last_bid"] == "11.00")
    assert bob.get(f"/lots/{lot_id}").json()["you"] == {"leading": True, "maximum": "11.00", "last_bid": "11.00", "status": "LEADING", "minimum_raise": "11.50"}
    mine = bob.get("/me/bids").json()
    assert {(i["lot_id"], i["status"], i["maximum"]) for i in mine["items"]} >= {(lot_id, "LEADING", "11.00")}
    assert [b["bidder"] for b in view["recent_bids"]] == ["Bidder 1", "Bidder 2"]


def test_subscribe_message_returns_current_state(app_stack, admin):
    lot = admin.create_lot()
    with Watcher(app_stack.endpoints["websocket"]) as watcher:
        watcher.send({"action": "subscribe", "lot_id": lot["lot_id"]})
        watcher.until(lambda messages: any(m.get("type") == "subscribed" for m in messages))
        assert watcher.messages[0]["lot"]["lot_id"] == lot["lot_id"]
        watcher.send({"action": "subscribe", "lot_id": "no-such-lot"})
        watcher.until(lambda messages: any(m.get("type") == "error" for m in messages))


@pytest.mark.parametrize(("amount", "outcome"), [("30.00", "SOLD"), ("29.50", "UNSOLD")])
def test_soft_close_extends_and_sweep_closes_at_the_reserve(app_stack, admin, alice, amount, outcome):
    # 5 s for the watcher and the bid before the close on a loaded machine; the extension
    # (7 s from the bid) is longer, so the bid moves the close whenever it lands.
    closes = utc_now() + timedelta(seconds=5)
    lot = admin.create_lot(
        starting_price="20.00", reserve_price="30.00", closes_at=format_time(closes),
        soft_close_window_s=10, soft_close_extension_s=7,
    )
    with Watcher(f"{app_stack.endpoints['websocket']}/?lot_id={lot['lot_id']}") as watcher:
        placed = alice.bid(lot["lot_id"], amount)
        assert alice.wait_for_outcome(placed["bid_id"])["status"] == "ACCEPTED"
        extended = watcher.until(lambda _: any(u["closes_at"] != lot["closes_at"] for u in watcher.lot_updates()))
        moved = next(u for u in watcher.lot_updates() if u["closes_at"] != lot["closes_at"])
        assert parse_time(moved["closes_at"]) > closes and moved["extension_count"] == 1
        watcher.until(lambda _: any(u["status"] == "CLOSED" for u in watcher.lot_updates()), timeout=40)
        closed = watcher.lot_updates()[-1]
        assert (closed["status"], closed["outcome"], closed["reserve_met"]) == ("CLOSED", outcome, outcome == "SOLD")
        assert extended


def test_add_to_end_with_one_extension_extends_once_and_the_sweep_closes(app_stack, admin, alice, bob):
    """Soft-close rules per lot: alice's bid in the window adds 5 s to the
    close; bob's, which takes the lead, is accepted but the one extension is used."""
    closes = utc_now() + timedelta(seconds=7)  # time for the watcher and both bids on a loaded machine
    lot = admin.create_lot(
        closes_at=format_time(closes), soft_close_window_s=10, soft_close_extension_s=5,
        soft_close_mode="add_to_end", max_extensions=1,
    )
    assert (lot["soft_close_mode"], lot["soft_close_trigger"], lot["max_extensions"]) == ("add_to_end", "any_bid", 1)
    extended = format_time(parse_time(lot["closes_at"]) + timedelta(seconds=5))
    with Watcher(f"{app_stack.endpoints['websocket']}/?lot_id={lot['lot_id']}") as watcher:
        first = alice.bid(lot["lot_id"], "10.00")
        assert alice.wait_for_outcome(first["bid_id"])["status"] == "ACCEPTED"
        second = bob.bid(lot["lot_id"], "12.00")
        assert bob.wait_for_outcome(second["bid_id"])["status"] == "ACCEPTED"
        watcher.until(lambda _: any(u["version"] == 3 for u in watcher.lot_updates()))
        after_bids = next(u for u in watcher.lot_updates() if u["version"] == 3)
        assert (after_bids["closes_at"], after_bids["extension_count"], after_bids["leader"]) == (extended, 1, "Bidder 2")
        watcher.until(lambda _: any(u["status"] == "CLOSED" for u in watcher.lot_updates()), timeout=40)
        closed = watcher.lot_updates()[-1]
        assert (closed["status"], closed["outcome"], closed["closes_at"], closed["extension_count"]) == ("CLOSED", "SOLD", extended, 1)
    assert [e["data"]["closes_at"] for e in events_of(admin, lot["lot_id"]) if e["type"] == "BidPlaced"] == [extended, extended]


def queued_messages(app_stack) -> int:
    sqs = app_stack.client("sqs")
    url = app_stack.app.outputs["ProcessBidQueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def events_of(admin, lot_id):
    return admin.get(f"/lots/{lot_id}/events").json()["events"]


def test_same_post_twice_with_one_idempotency_key_makes_one_bid(app_stack, admin, alice):
    lot = admin.create_lot()
    key = f"key-{lot['lot_id']}"
    first = alice.post("/bid", {"lot_id": lot["lot_id"], "amount": "10.00"}, headers={"Idempotency-Key": key})
    second = alice.post("/bid", {"lot_id": lot["lot_id"], "amount": "10.00"}, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 202 and first.json()["bid_id"] == second.json()["bid_id"]
    alice.wait_for_outcome(first.json()["bid_id"])
    eventually(lambda: queued_messages(app_stack) == 0, timeout=30)  # a second command, had one been queued, is decided
    assert [e["type"] for e in events_of(admin, lot["lot_id"])] == ["LotCreated", "BidPlaced"]


# Through the gateway: a raw body, a missing field, a body past the limit, and the
# authorizer's refusals. Each other shape PlaceBid refuses (an extra field, a claimed bidder,
# a negative, zero, NaN, exponent or over-precise amount, a number for a string, an unknown
# lot) is checked where it is decided, in tests/unit/handlers/test_input_shapes.py.
BAD_BIDS = [
    ("malformed JSON", "{oops", None, 400),
    ("missing amount", {"lot_id": "LOT"}, None, 400),
    ("oversized body", {"lot_id": "LOT", "amount": "10.00", "pad": "x" * 40_000}, None, 413),
    ("no token", {"lot_id": "LOT", "amount": "10.00"}, "", 401),
    ("forged token", {"lot_id": "LOT", "amount": "10.00"}, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ.", 401),
]


@pytest.mark.parametrize(("case", "body", "token", "status"), BAD_BIDS, ids=[c[0] for c in BAD_BIDS])
def test_bad_input_gets_a_clear_4xx_and_writes_nothing(app_stack, api, admin, alice, case, body, token, status):
    lot = admin.create_lot()
    if isinstance(body, dict) and body.get("lot_id") == "LOT":
        body = body | {"lot_id": lot["lot_id"]}
    client = alice if token is None else Client(api, token or None)
    before = queued_messages(app_stack)
    if isinstance(body, str):
        response = client.post("/bid", data=body, headers={"Content-Type": "application/json"})
    else:
        response = client.post("/bid", body)
    assert response.status_code == status, response.text
    # The API's error shape, also for API Gateway's own 401 (the template's GatewayResponses).
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert queued_messages(app_stack) == before
    assert len(events_of(admin, lot["lot_id"])) == 1


def test_bad_lot_terms_are_refused(admin):
    for terms in ({"currency": "EURO"}, {"starting_price": "1.001"}, {"closes_at": "yesterday"},
                  {"closes_at": format_time(utc_now() - timedelta(minutes=1))}, {"seller": "mallory"}):
        response = admin.post("/lots", {"title": "x", "currency": "EUR", "starting_price": "1.00",
                                        "closes_at": format_time(utc_now() + timedelta(hours=1))} | terms)
        assert 400 <= response.status_code < 500, (terms, response.text)


def test_poison_message_does_not_stop_later_bids_of_its_lot(app_stack, admin, alice):
    lot = admin.create_lot()
    app_stack.client("sqs").send_message(
        QueueUrl=app_stack.app.outputs["ProcessBidQueueUrl"], MessageBody="not a command {",
        MessageGroupId=lot["lot_id"], MessageDeduplicationId=f"poison-{lot['lot_id']}",
    )
    placed = alice.bid(lot["lot_id"], "10.00")
    assert alice.wait_for_outcome(placed["bid_id"])["status"] == "ACCEPTED"
    eventually(lambda: queued_messages(app_stack) == 0)


def test_openapi_document_lists_the_routes(api):
    document = Client(api).get("/openapi.json").json()
    assert {"/bid", "/lots", "/lots/{lot_id}", "/bids/{bid_id}", "/lots/{lot_id}/cancel", "/lots/{lot_id}/events"} <= set(document["paths"])


def test_gone_connections_are_removed_on_the_first_failed_post_but_connecting_ones_kept(app_stack, admin, alice):
    from adapters.connections import ConnectionStore

    lot = admin.create_lot()
    table = app_stack.app.outputs["ConnectionsTableName"]
    client = app_stack.client("dynamodb")
    store = ConnectionStore(client, table)
    store.connect("vanished", bidder=None)
    store.subscribe("vanished", lot["lot_id"])
    client.update_item(TableName=table, Key={"PK": {"S": "CONN#vanished"}, "SK": {"S": "META"}},
                       UpdateExpression="SET connected_at = :old", ExpressionAttributeValues={":old": {"N": "1"}})
    store.connect("connecting", bidder=None)  # its $connect has not finished: API Gateway says gone too
    store.subscribe("connecting", lot["lot_id"])
    placed = alice.bid(lot["lot_id"], "10.00")
    alice.wait_for_outcome(placed["bid_id"])
    eventually(lambda: "vanished" not in set(store.watching_lot(lot["lot_id"])))
    assert "connecting" in set(store.watching_lot(lot["lot_id"]))
