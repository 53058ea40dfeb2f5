"""Staggered sales (`POST /sales`) on the in-memory recorder: the close times, strict input,
the refusals that write nothing, and each lot's own soft close."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from bootstrap import App
from handlers import lot_api
from ledger.domain import rules
from ledger.domain.commands import MAX_SALE_REQUEST_LOTS, CreateLot, CreateSale, PlaceBid
from ledger.domain.errors import InvalidCommand, LotAlreadyExists, SaleAlreadyExists, SaleNotFound
from ledger.domain.events import GENESIS_HASH, LotCreated
from ledger.domain.values import format_time
from projections.audit import verify
from tests.support.app import build_test_app
from tests.support.events import FakeContext, rest_event

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
FIRST_CLOSE = START + timedelta(minutes=10)
SELLER = {"sub": "sam", "cognito:username": "sam", "cognito:groups": "sellers", "custom:seller_handle": "sam"}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> App:
    return build_test_app(clock=clock)


def sale_body(**fields: Any) -> dict[str, Any]:
    lots = [{"lot_id": f"sam-{n}", "title": f"Lot {n}", "currency": "EUR", "starting_price": "10.00"} for n in (1, 2, 3)]
    return {"sale_id": "spring", "title": "Spring sale", "interval_s": 60,
            "first_closes_at": format_time(FIRST_CLOSE), "lots": lots} | fields


def api(app: App, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = lot_api.handler(rest_event(method, path, **kwargs), FakeContext(), app)
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def get_sale(app: App, sale_id: str) -> tuple[int, Any]:
    return api(app, "GET", f"/sales/{sale_id}", resource="/sales/{sale_id}", path_parameters={"sale_id": sale_id})


# --- the rule ---------------------------------------------------------------------------

def test_lots_close_a_fixed_interval_apart_in_the_order_given():
    assert rules.sale_close_times(FIRST_CLOSE, 90, 3) == [FIRST_CLOSE, FIRST_CLOSE + timedelta(seconds=90),
                                                          FIRST_CLOSE + timedelta(seconds=180)]


def test_a_sale_whose_last_lot_would_close_after_the_latest_time_is_refused():
    with pytest.raises(InvalidCommand, match="last lot"):
        rules.check_sale_close_times(rules.sale_close_times(datetime(2999, 12, 31, 23, 59, tzinfo=UTC), 60, 2), FIRST_CLOSE)


def test_a_sale_whose_first_close_has_passed_is_refused_for_first_closes_at_not_for_a_lot():
    with pytest.raises(InvalidCommand, match="first_closes_at must be in the future") as refused:
        rules.check_sale_close_times(rules.sale_close_times(FIRST_CLOSE, 60, 2), FIRST_CLOSE)
    assert refused.value.details["field"] == "first_closes_at" and "lot_index" not in refused.value.details


# --- strict input -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"interval_s": "60"}, "interval_s"),
        ({"interval_s": True}, "interval_s"),
        ({"interval_s": 60.5}, "interval_s"),
        ({"interval_s": 0}, "interval_s"),
        ({"interval_s": 3601}, "interval_s"),
        ({"title": "Spring\x00sale"}, "title"),
        ({"title": "Spring sale\n"}, "title"),
        ({"first_closes_at": 1893499200}, "first_closes_at"),
        ({"first_closes_at": "2030-01-01T12:10:00"}, "first_closes_at"),
        ({"lots": []}, "lots"),
        ({"lots": [{"title": "Lot", "currency": "EUR", "starting_price": "1.00"}] * (MAX_SALE_REQUEST_LOTS + 1)}, "lots"),
        ({"lots": [{"title": "Lot", "currency": "EUR", "starting_price": "1.00", "closes_at": "2030-01-01T12:10:00Z"}]},
         "lots.0.closes_at"),
        ({"lots": [{"title": "Lot", "currency": "EUR", "starting_price": 10}]}, "lots.0.starting_price"),
        ({"sale_id": "spring sale"}, "sale_id"),
        ({"sale_id": "s" * 33}, "sale_id"),
        ({"seller": "mallory"}, "seller"),
    ],
)
def test_hostile_sale_input_is_refused(fields, where):
    with pytest.raises(ValidationError) as refused:
        CreateSale.model_validate(sale_body(**fields))
    assert where in {".".join(str(p) for p in e["loc"]) for e in refused.value.errors()}


def test_a_sale_request_of_500_lots_is_taken():
    lots = [{"title": "Lot", "currency": "EUR", "starting_price": "1.00"} for _ in range(MAX_SALE_REQUEST_LOTS)]
    assert len(CreateSale.model_validate(sale_body(lots=lots)).lots) == MAX_SALE_REQUEST_LOTS == 500


# --- the service ------------------------------------------------------------------------

def test_a_sale_creates_its_lots_in_order_each_with_its_close_time(app):
    made = app.sales.create_sale(CreateSale.model_validate(sale_body()), seller="sam")
    lots = made.lots
    assert [lot.lot_id for lot in lots] == ["sam-1", "sam-2", "sam-3"] and made.sale.committed_lots == 3
    assert [lot.closes_at for lot in lots] == rules.sale_close_times(FIRST_CLOSE, 60, 3)
    assert {(lot.seller, lot.sale_id, lot.status) for lot in lots} == {("sam", "spring", "OPEN")}
    again = app.sales.get_sale("spring")
    assert again.sale == made.sale and again.lots == lots and again.next_position is None
    created = next(app.queries.lot_events("sam-2"))
    assert isinstance(created, LotCreated) and created.sale_id == "spring"
    assert verify(app.queries, "sam-2").ok


def test_a_late_bid_extends_only_its_own_lot(app, clock):
    app.sales.create_sale(CreateSale.model_validate(sale_body()), seller="sam")
    clock.now = FIRST_CLOSE + timedelta(seconds=30)  # lot 2 closes in 30 s: inside its soft-close window
    [result] = app.commands.execute("sam-2", [PlaceBid(bid_id="late", lot_id="sam-2", bidder="alice", amount="10.00",
                                                      placed_at=clock.now)])
    assert result.bid is not None and result.bid.status == "ACCEPTED"
    lots = app.sales.get_sale("spring").lots
    assert [lot.closes_at for lot in lots] == [FIRST_CLOSE, clock.now + timedelta(seconds=120),
                                               FIRST_CLOSE + timedelta(seconds=120)]


def test_a_sale_with_a_lot_that_exists_writes_nothing(app):
    app.lots.create_lot(CreateLot(lot_id="sam-2", title="Mine", currency="EUR", starting_price="1.00",
                                     closes_at=FIRST_CLOSE), seller="sam")
    with pytest.raises(LotAlreadyExists) as refused:
        app.sales.create_sale(CreateSale.model_validate(sale_body()), seller="sam")
    assert refused.value.details == {"lot_ids": ["sam-2"]}
    assert app.queries.find_lot("sam-1") is None and app.queries.find_lot("sam-3") is None
    with pytest.raises(SaleNotFound):
        app.sales.get_sale("spring")


def test_a_sale_id_is_taken_once(app):
    app.sales.create_sale(CreateSale.model_validate(sale_body()), seller="sam")
    lots = [{"lot_id": "other", "title": "Other", "currency": "EUR", "starting_price": "1.00"}]
    with pytest.raises(SaleAlreadyExists):
        app.sales.create_sale(CreateSale.model_validate(sale_body(lots=lots)), seller="sam")
    assert app.queries.find_lot("other") is None


def test_a_lot_twice_in_a_sale_is_refused(app):
    lots = sale_body()["lots"][:2] + [sale_body()["lots"][0]]
    with pytest.raises(InvalidCommand, match="twice") as refused:
        app.sales.create_sale(CreateSale.model_validate(sale_body(lots=lots)), seller="sam")
    assert refused.value.details["field"] == "lots.2.lot_id"
    assert app.queries.find_lot("sam-1") is None


def test_a_lot_whose_terms_break_a_rule_is_named(app):
    lots = sale_body()["lots"]
    # Lot 3 closes 120 s after the first close: a hard close before that breaks its terms.
    lots[2] |= {"hard_close_at": format_time(FIRST_CLOSE + timedelta(seconds=60))}
    with pytest.raises(InvalidCommand, match="lot 3") as refused:
        app.sales.create_sale(CreateSale.model_validate(sale_body(lots=lots)), seller="sam")
    assert refused.value.details.items() >= {"lot_index": 2, "lot_id": "sam-3", "field": "hard_close_at"}.items()
    assert app.queries.find_lot("sam-1") is None


def test_a_sale_closing_in_the_past_is_refused(app):
    with pytest.raises(InvalidCommand, match="closes_at must be in the future"):
        app.sales.create_sale(CreateSale.model_validate(sale_body(first_closes_at=format_time(START))), seller="sam")


def test_a_lot_created_before_sales_hashes_as_it_did():
    fields = dict(originator_id="old", originator_version=1, timestamp=START, prev_hash=GENESIS_HASH,
                  originator_topic="ledger.domain.lot:Lot", title="Vase", seller="sam", currency="EUR",
                  starting_price=10, reserve_price=None, increment={"type": "fixed", "step": "1.00"},
                  opens_at=START, closes_at=FIRST_CLOSE, soft_close_window_s=120, soft_close_extension_s=120,
                  hard_close_at=None)
    plain = LotCreated(**fields)  # type: ignore[arg-type]
    assert "sale_id" not in plain.content()
    in_sale = LotCreated(**fields, sale_id="spring")  # type: ignore[arg-type]
    assert in_sale.content()["sale_id"] == "spring" and in_sale.hash != plain.hash


# --- the routes -------------------------------------------------------------------------

def test_post_sales_answers_201_with_the_lots_and_get_lists_them_in_order(app):
    status, created = api(app, "POST", "/sales", body=sale_body(), claims=SELLER)
    assert status == 201, created
    assert created["sale_id"] == "spring" and [lot["lot_id"] for lot in created["lots"]] == ["sam-1", "sam-2", "sam-3"]
    status, sale = get_sale(app, "spring")
    assert status == 200
    # (The routes read the wall clock: lots that open at the test clock's 2030 are SCHEDULED.)
    assert [(lot["lot_id"], lot["closes_at"], lot["status"], lot["sale_id"]) for lot in sale["lots"]] == [
        ("sam-1", "2030-01-01T12:10:00.000Z", "SCHEDULED", "spring"),
        ("sam-2", "2030-01-01T12:11:00.000Z", "SCHEDULED", "spring"),
        ("sam-3", "2030-01-01T12:12:00.000Z", "SCHEDULED", "spring"),
    ]
    assert (sale["title"], sale["interval_s"], sale["first_closes_at"]) == ("Spring sale", 60, "2030-01-01T12:10:00.000Z")
    status, lot = api(app, "GET", "/lots/sam-2", resource="/lots/{lot_id}", path_parameters={"lot_id": "sam-2"})
    assert (status, lot["sale_id"]) == (200, "spring")


@pytest.mark.parametrize(
    ("body", "claims", "status", "code"),
    [
        (sale_body(), None, 401, "UNAUTHORIZED"),
        (sale_body(interval_s="60"), SELLER, 400, "INVALID_REQUEST"),
        (sale_body(lots=[]), SELLER, 400, "INVALID_REQUEST"),
        (sale_body(lots=sale_body()["lots"] * 2), SELLER, 422, "RULE_BROKEN"),
    ],
)
def test_refused_sales_answer_in_the_error_shape_and_write_nothing(app, body, claims, status, code):
    answered, error = api(app, "POST", "/sales", body=body, claims=claims)
    assert (answered, error["error"]["code"]) == (status, code)
    assert get_sale(app, "spring")[0] == 404 and app.queries.find_lot("sam-1") is None


def test_the_same_request_again_is_answered_with_the_sale_it_made(app, clock):
    status, first = api(app, "POST", "/sales", body=sale_body(), claims=SELLER)
    assert status == 201
    clock.now += timedelta(seconds=5)  # a retry after a lost answer
    assert api(app, "POST", "/sales", body=sale_body(), claims=SELLER) == (201, first)
    clock.now = FIRST_CLOSE + timedelta(minutes=5)  # even once its lots' close times have passed
    assert api(app, "POST", "/sales", body=sale_body(), claims=SELLER) == (201, first)
    assert [e.originator_version for e in app.queries.lot_events("sam-1")] == [1]  # nothing written again


def test_an_existing_lot_or_sale_answers_409(app):
    assert api(app, "POST", "/sales", body=sale_body(), claims=SELLER)[0] == 201
    status, error = api(app, "POST", "/sales", body=sale_body(title="Another sale"), claims=SELLER)
    assert (status, error["error"]["code"]) == (409, "SALE_ALREADY_EXISTS")
    status, error = api(app, "POST", "/sales", body=sale_body(), claims={"sub": "mallory", "cognito:groups": "admin"})
    assert (status, error["error"]["code"]) == (409, "SALE_ALREADY_EXISTS")
    status, error = api(app, "POST", "/sales", body=sale_body(sale_id="autumn"), claims=SELLER)
    assert (status, error["error"]["code"], error["error"]["details"]) == (
        409, "LOT_ALREADY_EXISTS", {"lot_ids": ["sam-1", "sam-2", "sam-3"]})
    assert get_sale(app, "autumn")[0] == 404


def test_an_unknown_sale_is_404(app):
    status, error = get_sale(app, "nope")
    assert (status, error["error"]["code"]) == (404, "SALE_NOT_FOUND")


def test_a_damaged_sale_item_is_a_500_in_the_error_shape_confined_to_the_sale(app):
    assert api(app, "POST", "/sales", body=sale_body(), claims=SELLER)[0] == 201
    app.commands.store._sales["spring"]["lot_ids"] = "sam-1"  # type: ignore[attr-defined]
    status, error = get_sale(app, "spring")
    assert (status, error["error"]["code"], error["error"]["details"]) == (500, "SALE_UNREADABLE", {"sale_id": "spring"})
    status, lot = api(app, "GET", "/lots/sam-1", resource="/lots/{lot_id}", path_parameters={"lot_id": "sam-1"})
    assert (status, lot["sale_id"]) == (200, "spring")
