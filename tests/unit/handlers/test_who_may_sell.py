"""Who may sell, at the API on the in-memory recorder: the sellers group and administrators
create lots and sales (or anyone signed in, where ANYONE_MAY_SELL is "true"); anyone else
gets 403 in the API's error shape and nothing is written. Public views show the seller's
handle, never their user id; a seller's lot ids carry their handle."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from bootstrap import App, build
from handlers import lot_api
from ledger.domain.values import format_time, utc_now
from tests.support.app import IN_MEMORY
from tests.support.events import FakeContext, rest_event

MALLORY = {"sub": "mallory-sub", "cognito:username": "mallory"}
SALLY = {"sub": "sally-sub", "cognito:username": "sally", "cognito:groups": "sellers", "custom:seller_handle": "sally"}
SELLER_WITHOUT_HANDLE = {"sub": "tom-sub", "cognito:username": "tom", "cognito:groups": "sellers"}
ADA = {"sub": "ada-sub", "cognito:username": "ada", "cognito:groups": "admin"}


def call(app: App, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = lot_api.handler(rest_event(method, path, **kwargs), FakeContext(), app)
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def lot_terms(**given: Any) -> dict[str, Any]:
    return {"title": "Blue vase", "currency": "EUR", "starting_price": "10.00",
            "closes_at": format_time(utc_now() + timedelta(minutes=30))} | given


def sale_terms(**given: Any) -> dict[str, Any]:
    return {"title": "Spring", "interval_s": 60, "first_closes_at": format_time(utc_now() + timedelta(minutes=30)),
            "lots": [{"title": "Tea set", "currency": "EUR", "starting_price": "10.00"}]} | given


@pytest.fixture
def app() -> App:
    return build(IN_MEMORY)


def test_a_user_outside_the_sellers_group_may_not_create_a_lot_or_a_sale_and_nothing_is_written(app: App) -> None:
    status, body = call(app, "POST", "/lots", body=lot_terms(lot_id="mallory-vase"), claims=MALLORY)
    assert status == 403 and body["error"]["code"] == "FORBIDDEN" and "'sellers' group" in body["error"]["message"]
    assert call(app, "GET", "/lots/mallory-vase", resource="/lots/{lot_id}",
                path_parameters={"lot_id": "mallory-vase"})[0] == 404
    status, body = call(app, "POST", "/sales", body=sale_terms(sale_id="fake"), claims=MALLORY)
    assert status == 403 and body["error"]["code"] == "FORBIDDEN"
    assert call(app, "GET", "/sales/fake", resource="/sales/{sale_id}", path_parameters={"sale_id": "fake"})[0] == 404
    assert call(app, "GET", "/lots", query={"status": "all"})[1]["items"] == []


def test_a_seller_s_lot_shows_their_handle_and_never_their_user_id(app: App) -> None:
    status, lot = call(app, "POST", "/lots", body=lot_terms(), claims=SALLY)
    assert status == 201 and lot["seller"] == "sally" and lot["lot_id"].startswith("sally-")
    _, read = call(app, "GET", f"/lots/{lot['lot_id']}", resource="/lots/{lot_id}",
                   path_parameters={"lot_id": lot["lot_id"]})
    assert read["seller"] == "sally" and "sally-sub" not in json.dumps(read)
    assert call(app, "GET", "/lots")[1]["items"][0]["seller"] == "sally"
    status, sale = call(app, "POST", "/sales", body=sale_terms(sale_id="spring"), claims=SALLY)
    assert status == 201 and sale["seller"] == "sally" and sale["lots"][0]["seller"] == "sally"
    assert "sally-sub" not in json.dumps(sale)


def test_another_seller_s_lot_id_is_refused_saying_how_ids_are_reserved(app: App) -> None:
    status, body = call(app, "POST", "/lots", body=lot_terms(lot_id="rolex-2027"), claims=SALLY)
    assert status == 403 and body["error"]["code"] == "LOT_ID_RESERVED"
    assert body["error"]["details"] == {"field": "lot_id", "lot_id": "rolex-2027", "reserved_prefix": "sally-"}
    assert "start with 'sally-'" in body["error"]["message"]
    assert call(app, "GET", "/lots/rolex-2027", resource="/lots/{lot_id}",
                path_parameters={"lot_id": "rolex-2027"})[0] == 404
    status, body = call(app, "POST", "/sales", body=sale_terms(lots=[{"lot_id": "bob-1", "title": "Tea set",
                                                                      "currency": "EUR", "starting_price": "10.00"}]),
                        claims=SALLY)
    assert status == 403 and body["error"]["details"]["field"] == "lots.0.lot_id"
    # An administrator names lots as they wish.
    assert call(app, "POST", "/lots", body=lot_terms(lot_id="rolex-2027"), claims=ADA)[0] == 201


def test_a_seller_without_a_handle_is_listed_under_one_derived_from_their_user_id(app: App) -> None:
    status, lot = call(app, "POST", "/lots", body=lot_terms(), claims=SELLER_WITHOUT_HANDLE)
    assert status == 201 and lot["seller"].startswith("u") and lot["lot_id"].startswith(lot["seller"] + "-")
    assert call(app, "POST", "/lots", body=lot_terms(), claims=SELLER_WITHOUT_HANDLE)[1]["seller"] == lot["seller"]


def test_a_handle_the_api_does_not_take_is_refused(app: App) -> None:
    status, body = call(app, "POST", "/lots", body=lot_terms(), claims=SALLY | {"custom:seller_handle": "Sally's"})
    assert status == 403 and "seller handle" in body["error"]["message"]


def test_where_anyone_may_sell_every_signed_in_user_may() -> None:
    app = build({**IN_MEMORY, "ANYONE_MAY_SELL": "true"})
    status, lot = call(app, "POST", "/lots", body=lot_terms(), claims=MALLORY)
    assert status == 201 and lot["seller"].startswith("u")
    with pytest.raises(ValueError, match="ANYONE_MAY_SELL"):
        build({**IN_MEMORY, "ANYONE_MAY_SELL": "yes"})
