"""Who sells, as the public sees it: a seller's handle and the lot ids it reserves
(ledger/domain/sellers.py), on the service's in-memory recorder; lots and sales stored
before handles still read, with no handle."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from ledger.domain.commands import CreateLot, CreateSale
from ledger.domain.errors import LotIdReserved, LotNotFound
from ledger.domain.events import LotCreated
from ledger.domain.lot import Lot
from ledger.domain.sales import SaleRecord
from ledger.domain.sellers import ListedAs, derived_handle, is_handle
from ledger.domain.state import fold
from ledger.domain.values import format_time, utc_now
from ledger.snapshot_item import snapshot_from_item, snapshot_to_item
from projections.sales import sale_view
from projections.views import lot_summary
from tests.support.app import build_test_app

OLD_EVENT = Path(__file__).parents[2] / "fixtures" / "ledger" / "lot_created_before_soft_close_rules.json"
SALLY = ListedAs("sally")


def terms(**given: object) -> CreateLot:
    return CreateLot.model_validate({"title": "Blue vase", "currency": "EUR", "starting_price": "10.00",
                                     "closes_at": format_time(utc_now() + timedelta(hours=1))} | given)


def test_handles_are_short_lower_case_words_without_a_dash() -> None:
    assert is_handle("sally") and is_handle("s2") and is_handle("a" * 24)
    for not_one in ("s", "Sally", "sal-ly", "2sally", "a" * 25, "", None, "sally "):
        assert not is_handle(not_one), not_one


def test_a_derived_handle_is_stable_is_a_handle_and_does_not_show_the_user_id() -> None:
    sub = "0d6f2a58-1b9c-4e1f-9e0a-5a7f2c3b4d5e"
    assert derived_handle(sub) == derived_handle(sub) != derived_handle("another")
    assert is_handle(derived_handle(sub)) and sub[:8] not in derived_handle(sub)


def test_a_lot_id_left_out_is_generated_with_the_seller_s_handle() -> None:
    lot = build_test_app().lots.create_lot(terms(), seller="sub-sally", listed_as=SALLY)
    assert lot.lot_id.startswith("sally-") and len(lot.lot_id) <= 64
    assert lot.seller_handle == "sally" and lot_summary(lot, utc_now()).seller == "sally"


def test_a_seller_names_lots_only_under_their_own_prefix_and_nothing_is_written_otherwise() -> None:
    app = build_test_app()
    assert app.lots.create_lot(terms(lot_id="sally-vase"), seller="sub-sally", listed_as=SALLY).lot_id == "sally-vase"
    for squatted in ("rolex-2027", "sal-vase", "sallyvase", "bob-vase"):
        with pytest.raises(LotIdReserved) as refused:
            app.lots.create_lot(terms(lot_id=squatted), seller="sub-sally", listed_as=SALLY)
        assert refused.value.code == "LOT_ID_RESERVED"
        assert refused.value.details == {"field": "lot_id", "lot_id": squatted, "reserved_prefix": "sally-"}
        assert "leave lot_id out" in refused.value.message
        with pytest.raises(LotNotFound):
            app.queries.get_lot(squatted)
    assert app.lots.create_lot(terms(lot_id="rolex-2027"), seller="sub-ada",
                               listed_as=ListedAs("ada", any_lot_id=True)).seller_handle == "ada"


def test_a_sale_s_lots_carry_the_seller_s_prefix_and_handle() -> None:
    app = build_test_app()
    first = format_time(utc_now() + timedelta(hours=1))
    sale = CreateSale.model_validate({"sale_id": "spring", "title": "Spring", "interval_s": 60, "first_closes_at": first,
                                      "lots": [{"lot_id": "sally-1", "title": "Tea set", "currency": "EUR",
                                                "starting_price": "10.00"},
                                               {"title": "Clock", "currency": "EUR", "starting_price": "10.00"}]})
    page = app.sales.create_sale(sale, seller="sub-sally", listed_as=SALLY)
    lots = page.lots
    assert lots[0].lot_id == "sally-1" and lots[1].lot_id.startswith("sally-")
    assert {lot.seller_handle for lot in lots} == {"sally"} and sale_view(page, utc_now()).seller == "sally"
    squatting = sale.model_copy(update={"sale_id": "autumn", "lots": [sale.lots[0].model_copy(update={"lot_id": "bob-1"})]})
    with pytest.raises(LotIdReserved) as refused:
        app.sales.create_sale(squatting, seller="sub-sally", listed_as=SALLY)
    assert refused.value.details["field"] == "lots.0.lot_id"
    with pytest.raises(LotNotFound):
        app.queries.get_lot("bob-1")


def test_a_lot_created_before_handles_reads_with_no_seller_and_verifies() -> None:
    stored_doc = json.loads(OLD_EVENT.read_text())
    mapper = build_test_app().commands.mapper
    new_shape = mapper.to_stored_event(Lot.create(terms(), "sam", utc_now(), seller_handle="sam").pending_events[0])
    stored = type(new_shape)(originator_id=stored_doc["originator_id"], originator_version=stored_doc["originator_version"],
                             topic=stored_doc["topic"], state=json.dumps(stored_doc["state"]).encode())
    event = mapper.to_domain_event(stored)
    assert isinstance(event, LotCreated) and event.seller_handle is None
    assert event.compute_hash() == event.hash == stored_doc["state"]["hash"]
    state = fold([event])
    assert state is not None and state.seller_handle is None and "seller_handle" not in snapshot_to_item(state)
    assert snapshot_from_item(state.lot_id, snapshot_to_item(state)).seller_handle is None
    assert lot_summary(state, utc_now()).seller is None


def test_a_sale_stored_before_handles_reads_with_no_seller() -> None:
    item = {"sale_id": "old", "title": "Old sale", "seller": "sub", "interval_s": 60,
            "first_closes_at": "2026-01-01T00:00:00.000000Z", "lot_ids": ["a"], "created_at": "2026-01-01T00:00:00.000000Z"}
    sale = SaleRecord.model_validate(item)
    assert sale.seller_handle is None and "seller_handle" not in sale.to_item()
