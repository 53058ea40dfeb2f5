"""Registrations and blocks as use cases on the in-memory recorder: who may register, the
review's transitions, paddles given once per bidder across a sale, limits in the lots'
currency, blocks; and every change an event that replays and travels in time."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from ledger.domain.commands import AddSaleLots, CreateLot, CreateSale
from ledger.domain.errors import BidderRefused, InvalidCommand, InvalidState, NotAllowed, RegistrationNotFound
from ledger.domain.registration import (
    BidderBlocked,
    RegistrationApproved,
    RegistrationRequested,
    RegistrationState,
    fold_registration,
    registration_id,
    standing_id,
)
from ledger.domain.values import format_time, utc_now
from projections.registrations import registration_view
from tests.support.app import build_test_app


def _sale(app, registration="approval", currencies=("EUR", "EUR")):
    sale = CreateSale.model_validate({
        "title": "Estate", "interval_s": 60, "registration": registration,
        "first_closes_at": format_time(utc_now() + timedelta(hours=1)),
        "lots": [{"title": f"Lot {i}", "currency": c, "starting_price": "10.00"} for i, c in enumerate(currencies)]})
    page = app.sales.create_sale(sale, seller="sam")
    return app.registrations.sale_scope(page.sale.sale_id)


def test_a_bidder_registers_pending_and_the_seller_approves_with_a_paddle_and_a_limit():
    app = build_test_app()
    scope = _sale(app)
    state, asked = app.registrations.register(scope, "alice")
    assert asked and state.status == "PENDING" and state.paddle is None
    assert app.registrations.register(scope, "alice") == (state, False)  # asked again: as it is
    approved = app.registrations.approve(scope, "alice", "sam", False, Decimal("500.00"))
    assert (approved.status, approved.paddle, approved.limit, approved.currency) == ("APPROVED", 1, Decimal("500.00"), "EUR")
    view = registration_view(approved)
    assert (view.sale_id, view.lot_id, view.limit, view.paddle) == (scope.scope_id, None, "500.00", 1)
    app.registrations.register(scope, "bob")
    assert app.registrations.approve(scope, "bob", "root", True, None).paddle == 2
    again = app.registrations.approve(scope, "alice", "sam", False, Decimal("800.00"))  # a new limit, the same paddle
    assert (again.paddle, again.limit, again.version) == (1, Decimal("800.00"), 3)


def test_suspended_declined_and_asked_again():
    app = build_test_app()
    scope = _sale(app)
    app.registrations.register(scope, "alice")
    with pytest.raises(InvalidState):
        app.registrations.suspend(scope, "alice", "sam", False, "did not pay")  # pending: not approved yet
    app.registrations.approve(scope, "alice", "sam", False, None)
    assert app.registrations.suspend(scope, "alice", "sam", False, "did not pay").status == "SUSPENDED"
    declined = app.registrations.decline(scope, "alice", "sam", False, "no references")
    assert (declined.status, declined.reason, declined.paddle) == ("DECLINED", "no references", 1)
    state, asked = app.registrations.register(scope, "alice")
    assert asked and state.status == "PENDING" and state.paddle == 1  # the paddle stays hers
    assert app.registrations.approve(scope, "alice", "sam", False, None).paddle == 1


def test_who_may_register_and_review():
    app = build_test_app()
    scope = _sale(app)
    with pytest.raises(BidderRefused) as refused:
        app.registrations.register(scope, "sam")
    assert refused.value.code == "SELLER_CANNOT_BID"
    with pytest.raises(InvalidCommand):
        app.registrations.register(_sale(app, registration="open"), "alice")
    app.registrations.register(scope, "alice")
    with pytest.raises(NotAllowed):
        app.registrations.approve(scope, "alice", "bob", False, None)
    with pytest.raises(NotAllowed):
        app.registrations.of_scope(scope, "bob", False, None, 10)
    with pytest.raises(RegistrationNotFound):
        app.registrations.decline(scope, "nobody", "sam", False, "who?")


def test_a_limit_is_in_the_lots_one_currency():
    app = build_test_app()
    # A sale that needs approval keeps its lots' one currency: lots in another are refused,
    # created or added; an open sale may mix them.
    with pytest.raises(InvalidCommand, match="in its currency, EUR"):
        _sale(app, currencies=("EUR", "USD"))
    scope = _sale(app)
    with pytest.raises(InvalidCommand, match="in its currency, EUR"):
        app.sales.add_lots(scope.scope_id, AddSaleLots.model_validate(
            {"lots": [{"title": "Clock", "currency": "USD", "starting_price": "10.00"}]}), seller="sam")
    assert scope.currency == "EUR" and _sale(app, registration="open", currencies=("EUR", "USD")).currency is None
    app.registrations.register(scope, "alice")
    assert app.registrations.approve(scope, "alice", "sam", False, Decimal("100.00")).currency == "EUR"
    jpy = app.registrations.lot_scope(app.lots.create_lot(CreateLot.model_validate({
        "title": "Netsuke", "currency": "JPY", "starting_price": "1000", "registration": "approval",
        "closes_at": format_time(utc_now() + timedelta(hours=1))}), seller="sam").lot_id)
    app.registrations.register(jpy, "alice")
    with pytest.raises(InvalidCommand):
        app.registrations.approve(jpy, "alice", "sam", False, Decimal("100.50"))


def test_lists_and_every_change_an_event_that_replays_and_travels_in_time():
    app = build_test_app()
    scope = _sale(app)
    for user in ("carol", "alice", "bob"):
        app.registrations.register(scope, user)
    app.registrations.approve(scope, "bob", "sam", False, Decimal("50.00"))
    page, cursor = app.registrations.of_scope(scope, "sam", False, None, 2)
    assert [(s.status, s.user_id) for s in page] == [("APPROVED", "bob"), ("PENDING", "alice")]
    assert [s.user_id for s in app.registrations.of_scope(scope, "root", True, None, 2, cursor)[0]] == ["carol"]
    assert [s.user_id for s in app.registrations.of_scope(scope, "sam", False, "PENDING", 10)[0]] == ["alice", "carol"]
    assert [s.scope for s in app.registrations.of_bidder("bob", 10)[0]] == [scope.key]
    events = list(app.registrations.events(registration_id(scope.key, "bob")))
    assert [type(e) for e in events] == [RegistrationRequested, RegistrationApproved]
    assert all(e.compute_hash() == e.hash for e in events) and events[1].prev_hash == events[0].hash
    assert fold_registration(events) == app.registrations.find(scope.key, "bob")
    then = app.registrations.as_of(registration_id(scope.key, "bob"), 1)
    assert isinstance(then, RegistrationState) and then.status == "PENDING"


def test_an_administrator_blocks_and_unblocks_a_bidder():
    app = build_test_app()
    with pytest.raises(NotAllowed):
        app.registrations.block("alice", "sam", False, "did not pay")
    assert app.registrations.unblock("alice", "root", True).blocked is False  # never blocked: nothing recorded
    assert app.registrations.block("alice", "root", True, "did not pay")[0].blocked
    assert app.registrations.block("alice", "root", True, "again")[0].reason == "did not pay"  # blocked already
    assert app.registrations.standing("alice").blocked
    assert app.registrations.unblock("alice", "root", True).blocked is False
    events = list(app.registrations.events(standing_id("alice")))
    assert [type(e).__name__ for e in events] == ["BidderBlocked", "BidderUnblocked"] and isinstance(events[0], BidderBlocked)


def test_verify_checks_a_registrations_chain_and_that_its_state_is_their_fold():
    from projections.audit import verify_registration

    app = build_test_app()
    scope = _sale(app)
    app.registrations.register(scope, "alice")
    app.registrations.approve(scope, "alice", "sam", False, None)
    reg_id = registration_id(scope.key, "alice")
    assert verify_registration(app.registrations, reg_id).ok
    store = app.queries.store
    store._registrations[reg_id]["paddle"] = 7  # type: ignore[attr-defined]
    assert verify_registration(app.registrations, reg_id).problem == "the stored state is not the fold of the events"
    store._registration_events[reg_id][1] = store._registration_events[reg_id][1].__class__(  # type: ignore[attr-defined]
        originator_id=reg_id, originator_version=2, topic=store._registration_events[reg_id][1].topic,  # type: ignore[attr-defined]
        state=store._registration_events[reg_id][1].state.replace(b'"paddle":1', b'"paddle":7'))  # type: ignore[attr-defined]
    assert verify_registration(app.registrations, reg_id).first_bad_version == 2


def test_lots_and_sales_stored_before_registrations_are_open():
    from ledger.domain.events import LotCreated
    from ledger.domain.sales import SaleRecord
    from ledger.snapshot_item import snapshot_from_item, snapshot_to_item
    from projections.views import lot_summary

    app = build_test_app()
    lot = app.lots.create_lot(CreateLot.model_validate({
        "title": "Vase", "currency": "EUR", "starting_price": "10.00",
        "closes_at": format_time(utc_now() + timedelta(hours=1))}), seller="sam")
    item = snapshot_to_item(lot)
    assert "registration" not in item  # an open lot's item is as it was
    assert lot_summary(snapshot_from_item(lot.lot_id, item), utc_now()).registration == "open"
    created = next(iter(app.queries.lot_events(lot.lot_id)))
    assert isinstance(created, LotCreated) and created.registration is None
    assert "registration" not in created.content()  # its hash is the hash it had before registrations
    old_sale = {"sale_id": "s", "title": "Spring", "seller": "sam", "interval_s": 60,
                "first_closes_at": "2030-01-01T00:00:00.000Z", "lot_ids": ["a"], "created_at": "2029-01-01T00:00:00.000Z"}
    assert SaleRecord.model_validate(old_sale).registration == "open"
