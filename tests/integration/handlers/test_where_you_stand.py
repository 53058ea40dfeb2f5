"""Knowing where you stand, through the handlers on DynamoDB
Local: the broadcast keeps each bidder's record of a lot (from the stream) and tells each
bidder their own news (`bid.outbid` when they lose the lead, `lot.won` / `lot.lost` at the
close); a signed-in bidder's lot view says where they stand (`you`), and `GET /me/bids`
lists their lots. Only the `@connections` client is a fake (it records what each
connection received)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3

from bootstrap import App
from handlers import lot_api
from ledger.domain.commands import CloseLot
from ledger.dynamodb import lot_key
from tests.integration.handlers.test_broadcast_fan_out import (
    ALICE,
    BOB,
    SlowManagement,
    bid,
    connect,
    create_lot,
    run_broadcast,
)
from tests.support.app import execute_one
from tests.support.events import FakeContext, rest_event

CAROL = {"sub": "carol", "cognito:username": "carol"}


def snapshot_item(app: App, lot_id: str) -> dict[str, Any]:
    client = boto3.client("dynamodb", endpoint_url=app.env["AWS_ENDPOINT_URL_DYNAMODB"])
    key = {"PK": {"S": lot_key(lot_id)}, "SK": {"S": "SNAPSHOT"}}
    return client.get_item(TableName=app.env["BIDS_TABLE"], Key=key, ConsistentRead=True)["Item"]


def broadcast_since(app: App, lot_id: str, old_image: dict[str, Any]) -> dict[str, Any]:
    """Broadcast the lot's change from `old_image` to its stored snapshot; the new old image."""
    new_image = snapshot_item(app, lot_id)
    run_broadcast(app, {"Records": [{"eventName": "MODIFY", "eventSource": "aws:dynamodb",
                                     "dynamodb": {"Keys": {"PK": new_image["PK"], "SK": new_image["SK"]},
                                                  "NewImage": new_image, "OldImage": old_image}}]})
    return new_image


def get(app: App, path: str, claims: dict[str, str] | None = None, **kwargs: Any) -> tuple[int, Any]:
    response = lot_api.handler(rest_event("GET", path, claims=claims, **kwargs), FakeContext(), app)
    return response["statusCode"], json.loads(response["body"])


def news(management: SlowManagement, connection_id: str, kind: str) -> list[dict[str, Any]]:
    return [m for m in management.received.get(connection_id, []) if m["type"] == kind]


def test_each_bidder_hears_their_own_news_and_sees_where_they_stand(setup, management):
    app, sqs = setup
    lot_id = create_lot(app)
    phones = {name: connect(app, None, name) for name in ("alice", "bob", "carol")}
    image = snapshot_item(app, lot_id)

    bid(app, sqs, lot_id, "20.00", ALICE)
    bob_low = bid(app, sqs, lot_id, "15.00", BOB)  # recorded; Alice's maximum answers it
    image = broadcast_since(app, lot_id, image)
    assert [m["bid"]["leading"] for m in news(management, phones["alice"], "bid.outcome")] == [True]
    (bobs,) = news(management, phones["bob"], "bid.outcome")
    assert (bobs["bid"]["bid_id"], bobs["bid"]["leading"], bobs["bid"]["current_price"]) == (bob_low, False, "15.50")
    assert news(management, phones["alice"], "bid.outbid") == []  # she kept the lead

    bid(app, sqs, lot_id, "30.00", BOB)  # takes the lead from Alice
    image = broadcast_since(app, lot_id, image)
    assert news(management, phones["alice"], "bid.outbid") == [{"type": "bid.outbid", "lot_id": lot_id, "current_price": "20.50"}]
    assert news(management, phones["bob"], "bid.outbid") == [] and phones["carol"] not in management.received

    status, view = get(app, f"/lots/{lot_id}", claims=ALICE, resource="/lots/{lot_id}", path_parameters={"lot_id": lot_id})
    assert status == 200
    assert view["you"] == {"leading": False, "maximum": "20.00", "last_bid": "20.00", "status": "OUTBID",
                           "minimum_raise": None}
    _, view = get(app, f"/lots/{lot_id}", claims=BOB, resource="/lots/{lot_id}", path_parameters={"lot_id": lot_id})
    assert view["you"] == {"leading": True, "maximum": "30.00", "last_bid": "30.00", "status": "LEADING",
                           "minimum_raise": "31.00"}  # a raise of their maximum: one step above it
    _, view = get(app, f"/lots/{lot_id}", claims=CAROL, resource="/lots/{lot_id}", path_parameters={"lot_id": lot_id})
    assert view["you"] is None  # never bid
    _, anonymous = get(app, f"/lots/{lot_id}", resource="/lots/{lot_id}", path_parameters={"lot_id": lot_id})
    assert anonymous["you"] is None and "30.00" not in json.dumps(anonymous)  # maxima stay private

    status, mine = get(app, "/me/bids", claims=BOB)
    assert status == 200 and mine["next"] is None
    (item,) = [i for i in mine["items"] if i["lot_id"] == lot_id]
    assert {k: item[k] for k in ("status", "maximum", "current_price")} == {"status": "LEADING", "maximum": "30.00", "current_price": "20.50"}

    lot = app.queries.get_lot(lot_id)
    execute_one(app.commands, CloseLot(lot_id=lot_id, requested_at=lot.closes_at + timedelta(seconds=1)))
    broadcast_since(app, lot_id, image)
    assert news(management, phones["bob"], "lot.won") == [{"type": "lot.won", "lot_id": lot_id, "price": "20.50"}]
    assert news(management, phones["alice"], "lot.lost") == [{"type": "lot.lost", "lot_id": lot_id, "price": "20.50"}]
    assert news(management, phones["bob"], "lot.lost") == [] and phones["carol"] not in management.received

    statuses = {who: next(i["status"] for i in get(app, "/me/bids", claims=claims)[1]["items"] if i["lot_id"] == lot_id)
                for who, claims in (("alice", ALICE), ("bob", BOB))}
    assert statuses == {"alice": "LOST", "bob": "WON"}


def test_my_bids_pages_on_and_needs_a_signed_in_caller(setup):
    app, sqs = setup
    lots = sorted(create_lot(app) for _ in range(3))
    for lot_id in lots:
        image = snapshot_item(app, lot_id)
        bid(app, sqs, lot_id, "10.00", CAROL)
        broadcast_since(app, lot_id, image)
    seen: list[str] = []
    query: dict[str, str] = {"limit": "2"}
    while True:
        status, page = get(app, "/me/bids", claims=CAROL, query=query)
        assert status == 200 and len(page["items"]) <= 2
        seen += [item["lot_id"] for item in page["items"]]
        if page["next"] is None:
            break
        query = {"limit": "2", "cursor": page["next"]}
    assert set(lots) <= set(seen) and len(seen) == len(set(seen)) and seen == sorted(seen)
    status, refused = get(app, "/me/bids")
    assert status == 401 and refused["error"]["code"] == "UNAUTHORIZED"
