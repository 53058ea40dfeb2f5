"""Sales of many lots on the in-memory recorder: lots added until the first close, continuing
the interval; each request seen whole or not at all, also when it stops half way (a write
made to fail), and completed by the same request sent again; a sale read a page at a time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from bootstrap import App
from handlers import lot_api
from ledger.domain import rules
from ledger.domain.commands import MAX_SALE_LOTS, AddSaleLots, CreateLot, CreateSale
from ledger.domain.errors import NotAllowed, SaleClosing, SaleFull, SaleNotFound
from ledger.domain.values import format_time
from ledger.service.quotas import LOTS_RECORD, QuotaLimits, Quotas
from projections.audit import verify
from tests.support.app import build_test_app
from tests.support.events import FakeContext, rest_event

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
FIRST_CLOSE = START + timedelta(minutes=10)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def app() -> App:
    return build_test_app(clock=Clock())


# A seller whose handle is the prefix `terms` gives lot ids ("lot-0", ...).
SELLER = {"sub": "sam", "cognito:groups": "sellers", "custom:seller_handle": "lot"}

def terms(count: int, prefix: str | None = "lot", start: int = 0) -> list[dict[str, Any]]:
    """`count` lots' terms; with no prefix, without lot ids (the request gives them)."""
    return [{"title": f"Lot {n}", "currency": "EUR", "starting_price": "10.00"} | ({"lot_id": f"{prefix}-{n}"} if prefix else {})
            for n in range(start, start + count)]


def create(app: App, lots: list[dict[str, Any]], seller: str = "sam") -> Any:
    body = {"sale_id": "big", "title": "Estate sale", "interval_s": 10, "first_closes_at": format_time(FIRST_CLOSE), "lots": lots}
    return app.sales.create_sale(CreateSale.model_validate(body), seller=seller)


def add(app: App, lots: list[dict[str, Any]], seller: str = "sam") -> Any:
    return app.sales.add_lots("big", AddSaleLots.model_validate({"lots": lots}), seller=seller)


def visible(app: App, lot_ids: list[str]) -> list[str]:
    return [lot_id for lot_id in lot_ids if app.queries.find_lot(lot_id) is not None]


def listed(app: App) -> set[str]:
    return {lot.lot_id for lot in app.queries.open_lots().lots}


class FailsOnce:
    """Makes the recorder's `method` fail at its `call`th call: a request stopped half way."""

    def __init__(self, app: App, method: str, call: int) -> None:
        self.store, self.method, self.left = app.commands.store, method, call
        self.real = getattr(self.store, method)
        setattr(self.store, method, self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.left -= 1
        if self.left == 0:
            setattr(self.store, self.method, self.real)
            raise RuntimeError(f"{self.method} failed (injected)")
        return self.real(*args, **kwargs)


def test_added_lots_close_after_the_last_continuing_the_interval(app):
    create(app, terms(3))
    added = add(app, terms(2, start=3))
    assert [lot.lot_id for lot in added.lots] == ["lot-3", "lot-4"] and added.sale.committed_lots == 5
    every = app.sales.get_sale("big").lots
    assert [lot.closes_at for lot in every] == rules.sale_close_times(FIRST_CLOSE, 10, 5)
    assert {lot.sale_id for lot in every} == {"big"} and verify(app.queries, "lot-4").ok


def test_a_sale_holds_a_thousand_lots_and_no_more(app):
    create(app, terms(500))
    add(app, terms(500, start=500))
    page = app.sales.get_sale("big", after=900)
    assert page.sale.committed_lots == MAX_SALE_LOTS and [lot.lot_id for lot in page.lots] == [f"lot-{n}" for n in range(900, 1000)]
    assert page.lots[-1].closes_at == FIRST_CLOSE + timedelta(seconds=10 * 999) and page.next_position is None
    with pytest.raises(SaleFull) as refused:
        add(app, terms(1, start=1000))
    assert refused.value.details["room"] == 0 and app.queries.find_lot("lot-1000") is None


def test_lots_are_added_only_before_the_first_close_and_by_the_seller(app):
    create(app, terms(2))
    with pytest.raises(NotAllowed):
        add(app, terms(1, start=2), seller="mallory")
    app.commands.clock.now = FIRST_CLOSE
    with pytest.raises(SaleClosing):
        add(app, terms(1, start=2))
    with pytest.raises(SaleNotFound):
        app.sales.add_lots("no-such-sale", AddSaleLots.model_validate({"lots": terms(1, start=2)}), seller="sam")
    assert visible(app, ["lot-2"]) == []


def test_a_sale_is_read_a_page_at_a_time_in_closing_order(app):
    create(app, terms(5))
    add(app, terms(4, start=5))
    seen, after = [], 0
    while True:
        page = app.sales.get_sale("big", after=after, limit=2)
        seen += [lot.lot_id for lot in page.lots]
        if page.next_position is None:
            break
        after = page.next_position
    assert seen == [f"lot-{n}" for n in range(9)]


@pytest.mark.parametrize("stage", ["drafts", "commit"])
def test_a_creation_stopped_before_its_commit_shows_nothing_and_completes_when_sent_again(app, stage):
    lot_ids = [f"lot-{n}" for n in range(120)]  # three draft transactions
    if stage == "drafts":
        FailsOnce(app, "insert_lot_drafts", 2)
    else:
        FailsOnce(app, "commit_sale_batch", 1)
    with pytest.raises(RuntimeError, match="injected"):
        create(app, terms(120))
    assert visible(app, lot_ids) == [] and not listed(app) & set(lot_ids)
    with pytest.raises(SaleNotFound):
        app.sales.get_sale("big")
    made = create(app, terms(120))  # sent again
    assert [lot.lot_id for lot in made.lots] == lot_ids
    assert visible(app, lot_ids) == lot_ids and set(lot_ids) <= listed(app)
    assert all([e.originator_version for e in app.queries.lot_events(lot_id)] == [1] for lot_id in lot_ids)


def test_an_addition_stopped_after_its_commit_is_seen_whole_and_opened_when_sent_again(app):
    create(app, terms(3))
    added = [f"lot-{n}" for n in range(3, 103)]
    FailsOnce(app, "open_drafts", 1)
    with pytest.raises(RuntimeError, match="injected"):
        add(app, terms(100, start=3))
    # Committed: every lot is seen (by its id and in the sale), though not every one listed yet.
    assert visible(app, added) == added
    assert [lot.lot_id for lot in app.sales.get_sale("big", after=3).lots] == added
    again = add(app, terms(100, start=3))
    assert [lot.lot_id for lot in again.lots] == added and set(added) <= listed(app)
    assert app.sales.get_sale("big").sale.committed_lots == 103


def test_an_addition_stopped_half_way_shows_nothing_and_another_request_continues_after_it(app):
    create(app, terms(3))
    FailsOnce(app, "insert_lot_drafts", 2)
    with pytest.raises(RuntimeError, match="injected"):
        add(app, terms(60, start=3))
    assert visible(app, [f"lot-{n}" for n in range(3, 63)]) == []
    # Its positions stay taken: the next request's lots close after them.
    other = add(app, terms(1, prefix="other"))
    assert other.lots[0].closes_at == FIRST_CLOSE + timedelta(seconds=10 * 63)
    assert [lot.lot_id for lot in app.sales.get_sale("big").lots] == ["lot-0", "lot-1", "lot-2", "other-0"]


def test_lots_given_no_id_get_the_same_ids_when_the_request_is_sent_again(app):
    first = create(app, terms(3, prefix=None))
    again = create(app, terms(3, prefix=None))
    assert [lot.lot_id for lot in again.lots] == [lot.lot_id for lot in first.lots]
    assert len({lot.lot_id for lot in first.lots}) == 3 and app.sales.get_sale("big").sale.committed_lots == 3


def test_the_quota_counts_every_lot_once_also_when_a_request_is_sent_again(app):
    app.lots.quotas = Quotas(app.commands.store, QuotaLimits(lots_per_day=150), clock=app.commands.clock)
    FailsOnce(app, "insert_lot_drafts", 2)
    with pytest.raises(RuntimeError):
        create(app, terms(100))
    create(app, terms(100))
    record = app.commands.store.get_quota("sam", LOTS_RECORD)
    assert record is not None and record["count"] == 100
    with pytest.raises(Exception, match="lots a day"):
        add(app, terms(51, start=100))


def test_a_sale_stored_before_batches_is_read_and_added_to(app):
    for n in range(2):
        create_lot_body = {"lot_id": f"old-{n}", "title": "Old", "currency": "EUR", "starting_price": "1.00",
                           "closes_at": format_time(FIRST_CLOSE + timedelta(seconds=10 * n))}
        app.lots.create_lot(CreateLot.model_validate(create_lot_body), seller="sam")
    app.commands.store._sales["big"] = {  # type: ignore[attr-defined]
        "sale_id": "big", "title": "Old sale", "seller": "sam", "interval_s": 10, "first_closes_at": format_time(FIRST_CLOSE),
        "lot_ids": ["old-0", "old-1"], "created_at": format_time(START), "request_hash": "x"}
    assert [lot.lot_id for lot in app.sales.get_sale("big").lots] == ["old-0", "old-1"]
    added = add(app, terms(1, start=2))
    assert added.lots[0].closes_at == FIRST_CLOSE + timedelta(seconds=20)
    assert [lot.lot_id for lot in app.sales.get_sale("big").lots] == ["old-0", "old-1", "lot-2"]


def test_post_sales_lots_answers_201_and_get_pages_with_a_cursor(app):
    create(app, terms(3))
    event = rest_event("POST", "/sales/big/lots", resource="/sales/{sale_id}/lots", path_parameters={"sale_id": "big"},
                       body={"lots": terms(2, start=3)}, claims=SELLER)
    response = lot_api.handler(event, FakeContext(), app)
    answer = json.loads(response["body"])
    assert response["statusCode"] == 201, answer
    assert [lot["lot_id"] for lot in answer["lots"]] == ["lot-3", "lot-4"] and answer["lot_count"] == 5
    pages, cursor = [], None
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        event = rest_event("GET", "/sales/big", resource="/sales/{sale_id}", path_parameters={"sale_id": "big"}, query=query)
        page = json.loads(lot_api.handler(event, FakeContext(), app)["body"])
        assert page["items"] == page["lots"] and page["lot_count"] == 5 and page["registration"] == "open"
        pages.append([lot["lot_id"] for lot in page["items"]])
        if (cursor := page["next"]) is None:
            break
    assert pages == [["lot-0", "lot-1"], ["lot-2", "lot-3"], ["lot-4"]]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"lots": []}, "lots"),
        ({"lots": terms(1) * 501}, "lots"),
        ({"lots": "lot-1"}, "lots"),
        ({"lots": [{"title": "Lot", "currency": "EUR", "starting_price": "1.00", "closes_at": "2030-01-01T12:10:00Z"}]},
         "lots.0.closes_at"),
        ({"lots": [{"title": "Lot", "currency": "EUR", "starting_price": 1}]}, "lots.0.starting_price"),
        ({"lots": [{"lot_id": "a b", "title": "Lot", "currency": "EUR", "starting_price": "1.00"}]}, "lots.0.lot_id"),
        ({"lots": terms(1), "interval_s": 5}, "interval_s"),
        ({"lots": terms(1), "sale_id": "other"}, "sale_id"),
    ],
)
def test_hostile_additions_are_refused_before_anything_is_read(body, where):
    with pytest.raises(ValidationError) as refused:
        AddSaleLots.model_validate(body)
    assert where in {".".join(str(p) for p in e["loc"]) for e in refused.value.errors()}


@pytest.mark.parametrize(("resource", "size", "status"), [
    ("/sales", 600_000, 201), ("/sales", 1_100_000, 413), ("/lots", 20_000, 413)])
def test_a_sale_s_body_may_be_up_to_1_mib_other_bodies_16_kib(app, resource, size, status):
    body = {"sale_id": "big", "title": "Estate sale", "interval_s": 10, "first_closes_at": format_time(FIRST_CLOSE),
            "lots": terms(3)} if resource == "/sales" else {"title": "x"}
    text = json.dumps(body)
    text = text[:-1] + " " * (size - len(text)) + "}"  # padded with white space to `size` bytes
    response = lot_api.handler(rest_event("POST", resource, resource=resource, body=text, claims=SELLER),
                               FakeContext(), app)
    assert response["statusCode"] == status, response["body"][:300]
