"""Every route of the OpenAPI document, and every error it documents, answered as
documented: for each (route, status, code) the document lists (`x-error-codes`), a request
that gets exactly that status and code in the API's error shape; and each route's success.
On the in-memory recorder and queue, so the walk takes about a second."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from adapters.command_queue import CommandQueue
from bootstrap import App
from handlers import lot_api, place_bid, process_bid
from handlers.openapi import documented_errors, openapi_document
from ledger.domain.values import format_time, utc_now
from tests.support.app import build_test_app
from tests.support.events import FakeContext, rest_event
from tests.support.queue import QUEUE_URL, InMemorySqs

ALICE = {"sub": "alice"}
BOB = {"sub": "bob"}
SELLER = {"sub": "sam", "cognito:username": "sam", "cognito:groups": "sellers", "custom:seller_handle": "sam"}
ADMIN = {"sub": "root", "cognito:groups": "admin"}


class World:
    """An App on the in-memory recorder and queue, with helpers to make what a request needs."""

    def __init__(self) -> None:
        self.sqs = InMemorySqs()
        self.app = build_test_app(command_queue=CommandQueue(self.sqs, QUEUE_URL), close_grace_seconds=0)
        self.count = 0

    def call(self, method: str, template: str, params: dict[str, str] | None = None, *, app: App | None = None,
             **kwargs: Any) -> tuple[int, Any]:
        path = template.format(**(params or {}))
        module = place_bid if template in ("/bid", "/lots/{lot_id}/buy") else lot_api
        event = rest_event(method, path, resource=template, path_parameters=params, **kwargs)
        response = module.handler(event, FakeContext(), app or self.app)
        return response["statusCode"], json.loads(response["body"]) if response.get("body") else None

    def lot(self, **terms: Any) -> str:
        self.count += 1
        terms = {"lot_id": f"sam-lot-{self.count}", "title": "Blue vase", "currency": "EUR", "starting_price": "10.00",
                 "closes_at": format_time(utc_now() + timedelta(minutes=30))} | terms
        status, lot = self.call("POST", "/lots", body=terms, claims=SELLER)
        assert status == 201, lot
        return str(lot["lot_id"])

    def process(self) -> None:
        while (batch := self.sqs.next_batch()) is not None:
            assert process_bid.handler(batch, FakeContext(), self.app)["batchItemFailures"] == []

    def bid(self, lot_id: str, amount: str, claims: dict[str, str] = ALICE, bid_id: str | None = None,
            confirm: bool = False) -> str:
        body = {"lot_id": lot_id, "amount": amount} | ({"bid_id": bid_id} if bid_id else {}) | ({"confirm": True} if confirm else {})
        status, answer = self.call("POST", "/bid", body=body, claims=claims)
        assert status == 202, answer
        self.process()
        return str(answer["bid_id"])

    def closed_lot(self) -> str:
        lot_id = self.lot(buy_now_price="50.00")
        assert self.call("POST", "/lots/{lot_id}/buy", {"lot_id": lot_id}, claims=BOB)[0] == 202
        self.process()
        return lot_id

    def cancelled_lot(self) -> str:
        lot_id = self.lot()
        assert self.call("POST", "/lots/{lot_id}/cancel", {"lot_id": lot_id}, claims=ADMIN)[0] == 200
        return lot_id

    def unreadable_lot(self) -> str:
        lot_id = self.lot(buy_now_price="50.00")
        self.app.queries.store._snapshots[lot_id]["closes_at"] = "not a time"  # type: ignore[attr-defined]
        return lot_id

    def sale(self) -> str:
        body = {"sale_id": f"sale-{self.count}", "title": "Spring", "interval_s": 60,
                "first_closes_at": format_time(utc_now() + timedelta(minutes=30)),
                "lots": [{"lot_id": f"sam-s{self.count}-1", "title": "Jug", "currency": "EUR", "starting_price": "5.00"}]}
        self.count += 1
        status, sale = self.call("POST", "/sales", body=body, claims=SELLER)
        assert status == 201, sale
        return str(sale["sale_id"])

    def approval_sale(self) -> str:
        """A sale that needs approval: its bidders register first."""
        self.count += 1
        body = {"sale_id": f"approval-{self.count}", "title": "Estate", "interval_s": 60, "registration": "approval",
                "first_closes_at": format_time(utc_now() + timedelta(minutes=30)),
                "lots": [{"lot_id": f"sam-a{self.count}-1", "title": "Jug", "currency": "EUR", "starting_price": "5.00"}]}
        status, sale = self.call("POST", "/sales", body=body, claims=SELLER)
        assert status == 201, sale
        return str(sale["sale_id"])

    def blocked_alice(self) -> bool:
        assert self.call("POST", "/bidders/{user_id}/block", {"user_id": "alice"}, body={"reason": "unpaid"}, claims=ADMIN)[0] == 200
        return True

    def registered(self, kind: str, approved: bool = False, **terms: Any) -> dict[str, str]:
        """Alice's registration for a new approval sale (`kind` "sale") or lone lot ("lot"): path parameters."""
        params = {"sale_id": self.approval_sale()} if kind == "sale" else {"lot_id": self.lot(registration="approval", **terms)}
        path = "/sales/{sale_id}" if kind == "sale" else "/lots/{lot_id}"
        assert self.call("POST", f"{path}/registrations", params, claims=ALICE)[0] == 201
        params = params | {"user_id": "alice"}
        if approved:
            assert self.call("POST", f"{path}/registrations/{{user_id}}/approve", params, claims=SELLER)[0] == 200
        return params

    def storage_down(self) -> App:
        """An App whose storage does not answer: every call of its recorder raises OperationalError."""
        app = build_test_app(command_queue=CommandQueue(self.sqs, QUEUE_URL))
        store = app.queries.store

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise OperationalError("the storage is not answering")

        for name in dir(type(store)):
            if not name.startswith("_") and callable(getattr(store, name)):
                setattr(store, name, fail)
        return app


Request = Callable[[World], tuple[int, Any]]
LOT = "/lots/{lot_id}"
RETRACT = "/lots/{lot_id}/bids/{bid_id}/retract"
SALE_LOTS = "/sales/{sale_id}/lots"
ERASE = "/bidders/{user_id}/erase"


def _with_body(method: str, path: str, params: Callable[[World], dict[str, str]] | None, body: Any,
               claims: dict[str, str] = ADMIN, **kwargs: Any) -> Request:
    return lambda w: w.call(method, path, params(w) if params else None, body=body, claims=claims, **kwargs)


def _open(w: World) -> dict[str, str]:
    return {"lot_id": w.lot()}


def _bid_params(w: World) -> dict[str, str]:
    lot_id = w.lot()
    return {"lot_id": lot_id, "bid_id": w.bid(lot_id, "10.00")}


# The routes and a good request for each: (method, path) -> (its path parameters, its body, its caller's claims).
ROUTES: dict[tuple[str, str], tuple[Callable[[World], dict[str, str]] | None, Callable[[World], Any], dict[str, str]]] = {
    ("POST", "/bid"): (None, lambda w: {"lot_id": w.lot(), "amount": "10.00"}, ALICE),
    ("POST", "/lots/{lot_id}/buy"): (lambda w: {"lot_id": w.lot(buy_now_price="50.00")}, lambda w: None, ALICE),
    ("POST", "/lots"): (None, lambda w: {"title": "Jug", "currency": "EUR", "starting_price": "1.00",
                                         "closes_at": format_time(utc_now() + timedelta(minutes=5))}, SELLER),
    ("GET", "/lots"): (None, lambda w: None, {}),
    ("GET", LOT): (_open, lambda w: None, {}),
    ("POST", "/lots/{lot_id}/cancel"): (_open, lambda w: None, ADMIN),
    ("GET", "/lots/{lot_id}/events"): (_open, lambda w: None, ADMIN),
    ("POST", RETRACT): (_bid_params, lambda w: {"reason": "shill bidding"}, ADMIN),
    ("GET", "/bids/{bid_id}"): (lambda w: {"bid_id": w.bid(w.lot(), "10.00")}, lambda w: None, ALICE),
    ("GET", "/me/bids"): (None, lambda w: None, ALICE),
    ("GET", "/openapi.json"): (None, lambda w: None, {}),
    ("POST", "/sales"): (None, lambda w: {"title": "Spring", "interval_s": 60,
                                          "first_closes_at": format_time(utc_now() + timedelta(minutes=5)),
                                          "lots": [{"title": "Jug", "currency": "EUR", "starting_price": "5.00"}]}, SELLER),
    ("GET", "/sales/{sale_id}"): (lambda w: {"sale_id": w.sale()}, lambda w: None, {}),
    ("POST", SALE_LOTS): (lambda w: {"sale_id": w.sale()},
                          lambda w: {"lots": [{"title": "Pot", "currency": "EUR", "starting_price": "5.00"}]}, SELLER),
    ("POST", ERASE): (lambda w: {"user_id": "alice"}, lambda w: None, ADMIN),
    ("GET", "/me/registrations"): (None, lambda w: None, ALICE),
    ("POST", "/bidders/{user_id}/block"): (lambda w: {"user_id": "alice"}, lambda w: {"reason": "did not pay"}, ADMIN),
    ("POST", "/bidders/{user_id}/unblock"): (lambda w: {"user_id": "alice"}, lambda w: None, ADMIN),
}
SCOPES = {"sale": "/sales/{sale_id}", "lot": "/lots/{lot_id}"}
for _kind, _path in SCOPES.items():
    ROUTES |= {
        ("POST", f"{_path}/registrations"): (
            (lambda w: {"sale_id": w.approval_sale()}) if _kind == "sale" else (lambda w: {"lot_id": w.lot(registration="approval")}),
            lambda w: None, ALICE),
        ("GET", f"{_path}/registrations"): (lambda w, k=_kind: w.registered(k), lambda w: None, SELLER),
        ("POST", f"{_path}/registrations/{{user_id}}/approve"): (lambda w, k=_kind: w.registered(k),
                                                                lambda w: {"limit": "500.00"}, SELLER),
        ("POST", f"{_path}/registrations/{{user_id}}/decline"): (lambda w, k=_kind: w.registered(k),
                                                                lambda w: {"reason": "no references"}, SELLER),
        ("POST", f"{_path}/registrations/{{user_id}}/suspend"): (lambda w, k=_kind: w.registered(k, approved=True),
                                                                lambda w: {"reason": "did not pay"}, SELLER),
    }


def good(route: tuple[str, str], **change: Any) -> Request:
    """The route's good request, with `params`, `body`, `claims`, `query`, `headers` or `app` changed."""
    def request(w: World) -> tuple[int, Any]:
        params, body, claims = ROUTES[route]
        given = {"params": params(w) if params else None, "body": body(w), "claims": claims or None}
        for name, value in change.items():
            given[name] = value(w) if callable(value) else value
        params_ = given.pop("params")
        return w.call(route[0], route[1], params_, **given)
    return request


def _params(**values: Any) -> Callable[[World], dict[str, str]]:
    return lambda w: {k: (v(w) if callable(v) else v) for k, v in values.items()}


def _generic(method: str, path: str, status: int, code: str) -> Request | None:
    route = (method, path)
    body_route = method == "POST"
    if (status, code) == (400, "INVALID_REQUEST"):
        if path == "/lots/{lot_id}/buy":
            return good(route, body={"bid_id": "not an id!"})
        if body_route:
            return good(route, body=lambda w: {**(ROUTES[route][1](w) or {}), "extra": 1})
        return good(route, query={"limit": "0"} if path in ("/lots", "/me/bids", "/lots/{lot_id}/events") else None,
                    params=(lambda w: {k: "bad id!" for k in (ROUTES[route][0] or (lambda _: {}))(w)}))
    if (status, code) == (400, "INVALID_JSON"):
        return good(route, body="{")
    if (status, code) == (401, "UNAUTHORIZED"):
        if path == LOT:
            return good(route, headers={"Authorization": "Bearer nonsense"})
        return good(route, claims=None)
    if (status, code) == (413, "BODY_TOO_LARGE"):
        return good(route, body="x" * 20_000)
    if (status, code) == (415, "UNSUPPORTED_MEDIA_TYPE"):
        return good(route, headers={"Content-Type": "text/plain"})
    if (status, code) == (503, "TRANSIENT"):
        return good(route, app=lambda w: w.storage_down())
    if (status, code) == (404, "LOT_NOT_FOUND"):
        if path == "/bid":
            return good(route, body={"lot_id": "no-such-lot", "amount": "10.00"})
        return good(route, params=lambda w: {**(ROUTES[route][0] or (lambda _: {}))(w), "lot_id": "no-such-lot"})
    if (status, code) == (500, "LOT_UNREADABLE"):
        if path == "/bid":
            return good(route, body=lambda w: {"lot_id": w.unreadable_lot(), "amount": "10.00"})
        return good(route, params=lambda w: {**(ROUTES[route][0] or (lambda _: {}))(w), "lot_id": w.unreadable_lot()})
    if (status, code) == (403, "FORBIDDEN"):
        return good(route, claims=BOB)
    return None


def _buy(lot: Callable[[World], str], **change: Any) -> Request:
    return good(("POST", "/lots/{lot_id}/buy"), params=lambda w: {"lot_id": lot(w)}, **change)


def _bid_body(lot: Callable[[World], str], amount: str = "10.00", **extra: Any) -> Request:
    return good(("POST", "/bid"), body=lambda w: {"lot_id": lot(w), "amount": amount, **extra})


def _reused(path: str) -> Request:
    def request(w: World) -> tuple[int, Any]:
        lot_id = w.lot(buy_now_price="50.00")
        w.bid(w.lot(), "10.00", bid_id="taken")
        if path == "/bid":
            return w.call("POST", "/bid", body={"lot_id": lot_id, "amount": "11.00", "bid_id": "taken"}, claims=ALICE)
        return w.call("POST", path, {"lot_id": lot_id}, body={"bid_id": "taken"}, claims=ALICE)
    return request


def _retract(bid: Callable[[World], dict[str, str]]) -> Request:
    return good(("POST", RETRACT), params=bid)


def _retracted_twice(w: World) -> tuple[int, Any]:
    params = _bid_params(w)
    assert w.call("POST", RETRACT, params, body={"reason": "shill"}, claims=ADMIN)[0] == 200
    return w.call("POST", RETRACT, params, body={"reason": "shill"}, claims=ADMIN)


def _rejected_bid(w: World) -> dict[str, str]:
    lot_id = w.lot()
    w.bid(lot_id, "10.00")
    return {"lot_id": lot_id, "bid_id": w.bid(lot_id, "10.05", claims=BOB)}


def _sale_again(code: str) -> Request:
    def request(w: World) -> tuple[int, Any]:
        sale_id = w.sale()
        _, sale = w.call("GET", "/sales/{sale_id}", {"sale_id": sale_id})
        body = ROUTES[("POST", "/sales")][1](w)
        if code == "SALE_ALREADY_EXISTS":
            body["sale_id"] = sale_id
        else:
            body["lots"][0]["lot_id"] = sale["lots"][0]["lot_id"]
        return w.call("POST", "/sales", body=body, claims=SELLER)
    return request


def _changed_sale(**item: Any) -> Callable[[World], dict[str, str]]:
    """A sale whose stored item has `item`'s attributes."""
    def params(w: World) -> dict[str, str]:
        sale_id = w.sale()
        w.app.queries.store._sales[sale_id] |= item  # type: ignore[attr-defined]
        return {"sale_id": sale_id}
    return params


def _unreadable_sale(w: World) -> tuple[int, Any]:
    sale_id = w.sale()
    w.app.queries.store._sales[sale_id]["first_closes_at"] = "not a time"  # type: ignore[attr-defined]
    return w.call("GET", "/sales/{sale_id}", {"sale_id": sale_id})


def _erase(bids: Callable[[World], object], moved_on: bool = False, damaged: bool = False,
           claims: dict[str, str] = ALICE) -> Request:
    """Erase the bidder (`claims`) after `bids` (a closed lot is BOB's purchase): with the lot's
    snapshot moved on by another writer at the refold, or damaged."""
    def request(w: World) -> tuple[int, Any]:
        made = bids(w)
        store = w.app.queries.store
        if damaged:
            store._snapshots[str(made)]["closes_at"] = "not a time"  # type: ignore[attr-defined]
        if moved_on:
            def moved(*args: Any, **kwargs: Any) -> None:
                raise IntegrityError("the snapshot moved on")
            store.replace_snapshot = moved  # type: ignore[method-assign]
        return w.call("POST", ERASE, {"user_id": claims["sub"]}, claims=ADMIN)
    return request


def _squatting(route: tuple[str, str]) -> Request:
    """The good request with another seller's lot id (the seller's own start with "sam-")."""
    def body(w: World) -> Any:
        good_body = ROUTES[route][1](w)
        if route == ("POST", "/lots"):
            return good_body | {"lot_id": "rolex-2027"}
        return good_body | {"lots": [good_body["lots"][0] | {"lot_id": "rolex-2027"}]}
    return good(route, body=body)


SPECIFIC: dict[tuple[str, str, int, str], Request] = {
    ("POST", "/lots", 403, "LOT_ID_RESERVED"): _squatting(("POST", "/lots")),
    ("POST", "/sales", 403, "LOT_ID_RESERVED"): _squatting(("POST", "/sales")),
    ("POST", "/bid", 409, "LOT_CLOSED"): _bid_body(World.closed_lot),
    ("POST", "/bid", 403, "NOT_REGISTERED"): _bid_body(lambda w: w.lot(registration="approval")),
    ("POST", "/bid", 403, "REGISTRATION_PENDING"): _bid_body(lambda w: w.registered("lot")["lot_id"]),
    ("POST", "/bid", 403, "BIDDER_BLOCKED"): _bid_body(lambda w: w.blocked_alice() and w.lot()),
    ("POST", "/lots/{lot_id}/buy", 403, "NOT_REGISTERED"): _buy(lambda w: w.lot(buy_now_price="50.00", registration="approval")),
    ("POST", "/lots/{lot_id}/buy", 403, "REGISTRATION_PENDING"): _buy(
        lambda w: w.registered("lot", buy_now_price="50.00")["lot_id"]),
    ("POST", "/lots/{lot_id}/buy", 403, "BIDDER_BLOCKED"): _buy(lambda w: w.blocked_alice() and w.lot(buy_now_price="50.00")),
    ("POST", "/bid", 409, "LOT_CANCELLED"): _bid_body(World.cancelled_lot),
    ("POST", "/bid", 409, "IDEMPOTENCY_KEY_REUSED"): _reused("/bid"),
    ("POST", "/bid", 422, "RULE_BROKEN"): _bid_body(World.lot, "999999999999999999.99", confirm=True),
    ("POST", "/bid", 422, "CONFIRMATION_REQUIRED"): _bid_body(World.lot, "1000.00"),
    ("POST", "/lots/{lot_id}/buy", 409, "BUY_NOW_NOT_OFFERED"): _buy(World.lot),
    ("POST", "/lots/{lot_id}/buy", 409, "LOT_CLOSED"): _buy(World.closed_lot),
    ("POST", "/lots/{lot_id}/buy", 409, "LOT_CANCELLED"): _buy(lambda w: w.cancelled_lot()),
    ("POST", "/lots/{lot_id}/buy", 409, "LOT_NOT_OPEN"): _buy(
        lambda w: w.lot(buy_now_price="50.00", opens_at=format_time(utc_now() + timedelta(minutes=5)))),
    ("POST", "/lots/{lot_id}/buy", 409, "SELLER_CANNOT_BID"): _buy(lambda w: w.lot(buy_now_price="50.00"), claims=SELLER),
    ("POST", "/lots/{lot_id}/buy", 409, "IDEMPOTENCY_KEY_REUSED"): _reused("/lots/{lot_id}/buy"),
    ("POST", "/lots/{lot_id}/buy", 422, "RULE_BROKEN"): _buy(lambda w: w.lot(buy_now_price="50.00"), body={"bid_id": "a"},
                                                            headers={"Idempotency-Key": "b"}),
    ("POST", "/lots", 409, "LOT_ALREADY_EXISTS"): good(("POST", "/lots"), body=lambda w: {
        **ROUTES[("POST", "/lots")][1](w), "lot_id": w.lot()}),
    ("POST", "/lots", 422, "RULE_BROKEN"): good(("POST", "/lots"), body=lambda w: {
        **ROUTES[("POST", "/lots")][1](w), "closes_at": format_time(utc_now() - timedelta(minutes=1))}),
    ("GET", LOT, 404, "VERSION_NOT_FOUND"): good(("GET", LOT), query={"as_of_version": "99"}),
    ("GET", LOT, 422, "RULE_BROKEN"): good(("GET", LOT), query={"as_of_version": "1", "as_of": "2030-01-01T00:00:00Z"}),
    ("POST", "/lots/{lot_id}/cancel", 409, "INVALID_STATE"): good(("POST", "/lots/{lot_id}/cancel"),
                                                                  params=lambda w: {"lot_id": w.closed_lot()}),
    ("GET", "/lots/{lot_id}/events", 422, "RULE_BROKEN"): good(("GET", "/lots/{lot_id}/events"),
                                                               query={"cursor": "1", "after_version": "1"}),
    ("POST", RETRACT, 404, "BID_NOT_FOUND"): _retract(lambda w: {"lot_id": w.lot(), "bid_id": "no-such-bid"}),
    ("POST", RETRACT, 409, "LOT_NOT_OPEN"): _retract(lambda w: {"lot_id": w.closed_lot(), "bid_id": "x"}),
    ("POST", RETRACT, 409, "BID_NOT_ACCEPTED"): _retract(_rejected_bid),
    ("POST", RETRACT, 409, "BID_ALREADY_RETRACTED"): _retracted_twice,
    ("GET", "/bids/{bid_id}", 404, "BID_NOT_FOUND"): good(("GET", "/bids/{bid_id}"), params={"bid_id": "no-such-bid"}),
    ("POST", "/sales", 409, "SALE_ALREADY_EXISTS"): _sale_again("SALE_ALREADY_EXISTS"),
    ("POST", "/sales", 409, "LOT_ALREADY_EXISTS"): _sale_again("LOT_ALREADY_EXISTS"),
    ("POST", "/sales", 422, "RULE_BROKEN"): good(("POST", "/sales"), body=lambda w: {
        **ROUTES[("POST", "/sales")][1](w), "first_closes_at": format_time(utc_now() - timedelta(minutes=1))}),
    ("GET", "/sales/{sale_id}", 404, "SALE_NOT_FOUND"): good(("GET", "/sales/{sale_id}"), params={"sale_id": "no-such-sale"}),
    ("GET", "/sales/{sale_id}", 500, "SALE_UNREADABLE"): _unreadable_sale,
    ("POST", "/sales", 413, "BODY_TOO_LARGE"): good(("POST", "/sales"), body="x" * 1_100_000),
    ("POST", SALE_LOTS, 413, "BODY_TOO_LARGE"): good(("POST", SALE_LOTS), body="x" * 1_100_000),
    ("POST", SALE_LOTS, 404, "SALE_NOT_FOUND"): good(("POST", SALE_LOTS), params={"sale_id": "no-such-sale"}),
    ("POST", SALE_LOTS, 409, "SALE_CLOSING"): good(("POST", SALE_LOTS), params=_changed_sale(
        first_closes_at=format_time(utc_now() - timedelta(seconds=1)))),
    ("POST", SALE_LOTS, 409, "LOT_ALREADY_EXISTS"): good(("POST", SALE_LOTS), body=lambda w: {"lots": [
        {"lot_id": w.lot(), "title": "Pot", "currency": "EUR", "starting_price": "5.00"}]}),
    ("POST", SALE_LOTS, 422, "RULE_BROKEN"): good(("POST", SALE_LOTS), body={"lots": [
        {"lot_id": "sam-twice", "title": "Pot", "currency": "EUR", "starting_price": "5.00"}] * 2}),
    ("POST", SALE_LOTS, 422, "SALE_FULL"): good(("POST", SALE_LOTS), params=_changed_sale(reserved=1000)),
    ("POST", SALE_LOTS, 500, "SALE_UNREADABLE"): good(("POST", SALE_LOTS), params=_changed_sale(first_closes_at="not a time")),
    ("POST", ERASE, 400, "INVALID_REQUEST"): good(("POST", ERASE), params={"user_id": "bad id!"}),
    ("POST", ERASE, 409, "INVALID_STATE"): _erase(lambda w: w.bid(w.lot(), "10.00")),
    ("POST", ERASE, 409, "SNAPSHOT_CHANGED"): _erase(World.closed_lot, moved_on=True, claims=BOB),
    ("POST", ERASE, 500, "LOT_UNREADABLE"): _erase(World.closed_lot, damaged=True, claims=BOB),
    ("GET", "/me/registrations", 400, "INVALID_REQUEST"): good(("GET", "/me/registrations"), query={"limit": "0"}),
    ("POST", "/bidders/{user_id}/unblock", 400, "INVALID_REQUEST"): good(("POST", "/bidders/{user_id}/unblock"),
                                                                       params={"user_id": "bad id!"}),
    **{("POST", f"/bidders/{{user_id}}/{action}", 404, "NOT_FOUND"): good(
        ("POST", f"/bidders/{{user_id}}/{action}"), params={"user_id": "\x84"}) for action in ("block", "unblock", "erase")},
}
for _kind, _path in SCOPES.items():
    _reviews = [f"{_path}/registrations/{{user_id}}/{action}" for action in ("approve", "decline", "suspend")]
    SPECIFIC |= {
        ("POST", f"{_path}/registrations", 403, "SELLER_CANNOT_BID"): good(("POST", f"{_path}/registrations"), claims=SELLER),
        ("POST", f"{_path}/registrations", 422, "RULE_BROKEN"): good(
            ("POST", f"{_path}/registrations"),
            params=(lambda w: {"sale_id": w.sale()}) if _kind == "sale" else (lambda w: {"lot_id": w.lot()})),
        ("POST", _reviews[0], 422, "RULE_BROKEN"): good(("POST", _reviews[0]), body={"limit": "1.001"}),
        ("POST", _reviews[2], 409, "INVALID_STATE"): good(("POST", _reviews[2]), params=lambda w, k=_kind: w.registered(k)),
        **{("POST", review, 404, "REGISTRATION_NOT_FOUND"): good(
            ("POST", review), params=lambda w, k=_kind: w.registered(k) | {"user_id": "nobody"}) for review in _reviews},
    }
    if _kind == "sale":
        SPECIFIC |= {(method, path, 404, "SALE_NOT_FOUND"): good(
            (method, path), params=lambda w, p=path: {"sale_id": "no-such-sale"} | ({"user_id": "alice"} if "user_id" in p else {}))
            for method, path in ROUTES if path.startswith("/sales/{sale_id}/registrations")}

# 429s are walked where they are answered: THROTTLED by the gateway
# (tests/integration/local/test_gateway_throttling.py), QUOTA_EXCEEDED by the per-user quotas
# (tests/unit/handlers/test_quotas_in_memory.py); this walk calls the functions on their own.
# The public log's routes need a log the sequencer wrote: their refusals are walked in
# tests/unit/handlers/test_log_routes.py, not here.
LOG_ROUTES = {("GET", "/log/checkpoint"), ("GET", "/log/checkpoints/{size}"), ("GET", "/log/key"),
              ("GET", "/log/consistency"), ("GET", "/lots/{lot_id}/proof"), ("GET", "/bids/{bid_id}/receipt")}
DOCUMENTED = sorted(case for case in documented_errors(openapi_document())
                    if case[2] != 429 and case[:2] not in LOG_ROUTES)


def test_every_route_is_walked_and_answers_its_success():
    document = openapi_document()
    routes = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert routes == set(ROUTES) | LOG_ROUTES
    for method, path in sorted(set(ROUTES)):
        world = World()
        status, _ = good((method, path))(world)
        success = {code for code in document["paths"][path][method.lower()]["responses"] if code.startswith("2")}
        assert str(status) in success, (method, path, status)


@pytest.mark.parametrize("case", DOCUMENTED, ids=lambda case: f"{case[0]} {case[1]} {case[2]} {case[3]}")
def test_every_documented_error_is_answered_as_documented(case):
    method, path, status, code = case
    request = SPECIFIC.get(case) or _generic(method, path, status, code)
    assert request is not None, f"no request walks {case}"
    answered, body = request(World())
    assert (answered, body["error"]["code"]) == (status, code), body
    assert set(body["error"]) <= {"code", "message", "details", "former_code"} and body["error"]["message"]
    assert "Value error" not in json.dumps(body) and code not in body["error"]["message"]


def test_every_request_here_walks_a_documented_error():
    assert set(SPECIFIC) <= set(DOCUMENTED)


def test_the_document_has_no_schema_nothing_refers_to():
    document = openapi_document()
    schemas = document["components"]["schemas"]
    text = json.dumps(document["paths"]) + json.dumps(schemas)
    unused = [name for name in schemas if name != "Error" and f'"#/components/schemas/{name}"' not in text]
    assert unused == [] and {"HTTPValidationError", "ValidationError", "BidAccepted"}.isdisjoint(schemas)
