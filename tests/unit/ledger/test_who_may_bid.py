"""Bids decided against who may bid, in queue order: a blocked bidder's bids are refused on
every lot, and on a lot that needs approval only approved registrations bid (named by their
paddle); a change of a registration or a block between two bids is seen by the next one,
however the processor kept what it read (the lot's transaction checks it)."""

from __future__ import annotations

from datetime import timedelta

from ledger.domain.commands import AddSaleLots, CreateLot, CreateSale, PlaceBid
from ledger.domain.events import BidPlaced, BidRejected
from ledger.domain.values import format_time, utc_now
from tests.support.app import build_test_app

NOW = utc_now()


def _bid(app, lot_id: str, bidder: str, amount: str, n: list[int] = [0]):  # noqa: B006 - a counter of bid ids
    n[0] += 1
    command = PlaceBid(bid_id=f"b{n[0]}", lot_id=lot_id, bidder=bidder, amount=amount, placed_at=utc_now())
    return app.commands.execute(lot_id, [command])[0].bid


def _last_event(app, lot_id: str):
    return list(app.queries.lot_events(lot_id))[-1]


def _open_lot(app, **terms) -> str:
    return app.lots.create_lot(CreateLot.model_validate({
        "title": "Vase", "currency": "EUR", "starting_price": "10.00",
        "closes_at": format_time(NOW + timedelta(hours=1))} | terms), seller="sam").lot_id


def _approval_sale(app):
    """A sale that needs approval: the Jug created with it, the Bowl added after (`add_lots`)."""
    made = app.sales.create_sale(CreateSale.model_validate({
        "title": "Estate", "interval_s": 60, "registration": "approval", "first_closes_at": format_time(NOW + timedelta(hours=1)),
        "lots": [{"title": "Jug", "currency": "EUR", "starting_price": "10.00"}]}), seller="sam")
    added = app.sales.add_lots(made.sale.sale_id, AddSaleLots.model_validate({
        "lots": [{"title": "Bowl", "currency": "EUR", "starting_price": "10.00"}]}), seller="sam")
    return app.registrations.sale_scope(made.sale.sale_id), [lot.lot_id for lot in made.lots + added.lots]


def test_a_blocked_bidder_is_refused_everywhere_from_the_next_bid_on():
    app = build_test_app()
    lot_id = _open_lot(app)
    assert _bid(app, lot_id, "alice", "10.00").status == "ACCEPTED"  # the lot is kept in memory now
    app.registrations.block("alice", "root", True, "did not pay")
    refused = _bid(app, lot_id, "alice", "20.00")
    assert (refused.status, refused.reason) == ("REJECTED", "BIDDER_BLOCKED")
    event = _last_event(app, lot_id)
    assert isinstance(event, BidRejected) and event.reason == "BIDDER_BLOCKED" and event.registration_version is None
    app.registrations.unblock("alice", "root", True)
    assert _bid(app, lot_id, "alice", "20.00").status == "ACCEPTED"


def test_an_approval_sale_takes_bids_of_approved_registrations_only_named_by_paddle():
    app = build_test_app()
    scope, (jug, bowl) = _approval_sale(app)
    assert _bid(app, jug, "alice", "10.00").reason == "NOT_REGISTERED"
    assert _bid(app, bowl, "alice", "10.00").reason == "NOT_REGISTERED"  # an added lot needs approval too
    page = app.sales.get_sale(scope.scope_id)
    assert page.sale.registration == "approval" and [lot.registration for lot in page.lots] == ["approval"] * 2
    app.registrations.register(scope, "alice")
    assert _bid(app, jug, "alice", "10.00").reason == "REGISTRATION_PENDING"
    pending = _last_event(app, jug)
    assert isinstance(pending, BidRejected) and (pending.registration_status, pending.registration_version) == ("PENDING", 1)
    app.registrations.register(scope, "bob")
    app.registrations.approve(scope, "bob", "sam", False, None)  # paddle 1
    app.registrations.approve(scope, "alice", "sam", False, None)  # paddle 2
    assert _bid(app, jug, "alice", "10.00").status == "ACCEPTED"
    placed = _last_event(app, jug)
    assert isinstance(placed, BidPlaced) and (placed.alias, placed.registration_version) == (2, 2)
    assert app.queries.get_lot(jug).leader_name == "Paddle 2"
    assert _bid(app, bowl, "alice", "10.00").status == "ACCEPTED"
    assert app.queries.get_lot(bowl).leader_name == "Paddle 2"  # the same paddle on every lot of the sale
    app.registrations.suspend(scope, "alice", "sam", False, "did not pay")
    assert _bid(app, jug, "alice", "30.00").reason == "BIDDER_BLOCKED"
    app.registrations.decline(scope, "alice", "sam", False, "did not pay")
    assert _bid(app, jug, "alice", "30.00").reason == "NOT_REGISTERED"


def test_an_open_lot_never_reads_registrations():
    app = build_test_app()
    lot_id = _open_lot(app)
    assert _bid(app, lot_id, "alice", "10.00").status == "ACCEPTED"
    assert app.queries.get_lot(lot_id).leader_name == "Bidder 1"


def test_a_blocked_leader_s_maxima_stop_counting_on_open_lots_and_stand_on_closed_ones():
    """Blocking retracts the bidder's accepted bids on lots still open (the lot falls back to
    what the other bids give); on a lot that closed, the sale stands."""
    app = build_test_app()
    led, outbid = _open_lot(app), _open_lot(app)
    _bid(app, led, "bob", "12.00")
    _bid(app, led, "alice", "50.00")  # alice leads at 12.50 over bob's 12.00
    _bid(app, outbid, "alice", "20.00")
    _bid(app, outbid, "carol", "30.00")  # carol leads at 20.50: alice's maximum set the price
    state, withdrawn = app.registrations.block("alice", "root", True, "did not pay")
    assert state.blocked and withdrawn == 2
    lot = app.queries.get_lot(led)
    assert (lot.leader, str(lot.current_price)) == ("bob", "10.00")
    lot = app.queries.get_lot(outbid)
    assert (lot.leader, str(lot.current_price)) == ("carol", "10.00")
    assert app.registrations.block("alice", "root", True, "again") == (state, 0)


def test_the_dispute_report_names_the_registration_version_that_admitted_or_refused_a_bid():
    from projections.dispute import dispute_report

    app = build_test_app()
    scope, (jug, _) = _approval_sale(app)
    app.registrations.register(scope, "alice")
    refused = _bid(app, jug, "alice", "10.00")
    app.registrations.approve(scope, "alice", "sam", False, None)
    admitted = _bid(app, jug, "alice", "10.00")
    report = dispute_report(app.queries, admitted.bid_id, auditor=True)
    assert report["bid"]["registration_version"] == 2
    assert dispute_report(app.queries, refused.bid_id)["bid"]["registration_version"] == 1
    assert "was still waiting for approval" in dispute_report(app.queries, refused.bid_id)["outcome"]["rule"]
