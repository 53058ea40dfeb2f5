"""The service's use cases and the handlers that call them, on the in-memory recorder:
the application wired by `build`, no DynamoDB and no Java. (The same service tests run
on DynamoDB Local in tests/integration; `--ledger-backend=memory` runs those here too.)"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bootstrap import App
from handlers import connect, lot_api
from ledger.domain.commands import CancelLot, CloseLot, CreateLot, PlaceBid
from ledger.domain.errors import BidNotFound, InvalidCommand, LotNotFound, NotAllowed, SnapshotChanged
from ledger.memory import InMemoryApplicationLotRecorder
from ledger.snapshot_item import snapshot_to_item
from projections.audit import fix, replay, verify
from projections.dispute import dispute_report
from tests.support.app import build_test_app, execute_one
from tests.support.events import FakeContext, rest_event

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
SELLER = {"sub": "sam", "cognito:username": "sam", "cognito:groups": "sellers", "custom:seller_handle": "sam"}
ALICE = {"sub": "alice"}
ADMIN = {"sub": "root", "cognito:groups": "admin"}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def app() -> App:
    return build_test_app(clock=Clock())


def new_lot(app: App, **terms) -> str:
    lot_id = f"lot-{uuid.uuid4().hex[:10]}"
    app.lots.create_lot(
        CreateLot(lot_id=lot_id, title="Vase", currency="EUR", starting_price="10.00",
                  opens_at=START, closes_at=START + timedelta(minutes=10), **terms),
        seller="sam",
    )
    return lot_id


def bid(app: App, lot_id: str, bidder: str, amount: str, minutes: float = 1) -> PlaceBid:
    command = PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot_id, bidder=bidder, amount=amount,
                       placed_at=START + timedelta(minutes=minutes))
    execute_one(app.commands, command)
    return command


def test_the_test_app_is_on_the_in_memory_recorder(app):
    assert isinstance(app.commands.store, InMemoryApplicationLotRecorder)
    assert build_test_app().commands.store is not app.commands.store  # each app its own store


def test_bids_are_decided_once_and_the_lot_replays_and_verifies(app):
    lot_id = new_lot(app)
    first = bid(app, lot_id, "alice", "10.00")
    again = execute_one(app.commands, first)
    assert again.duplicate and again.bid.status == "ACCEPTED"
    bid(app, lot_id, "bob", "10.10", minutes=2)  # below the increment: rejected
    lot = app.queries.get_lot(lot_id)
    assert (lot.version, lot.bid_count, lot.rejected_count, lot.leader) == (3, 1, 1, "alice")
    assert replay(app.queries, lot_id).ok and verify(app.queries, lot_id).ok


def test_time_travel_and_did_not_exist_then(app):
    lot_id = new_lot(app)
    bid(app, lot_id, "alice", "10.00")
    bid(app, lot_id, "bob", "12.00", minutes=2)
    assert str(app.queries.lot_as_of(lot_id, version=2).current_price) == "10.00"
    with pytest.raises(LotNotFound, match="did not exist then"):
        app.queries.lot_as_of(lot_id, at=datetime(2001, 1, 1, tzinfo=UTC))  # events carry the time they were recorded
    with pytest.raises(LotNotFound):
        app.queries.lot_as_of("no-such-lot", version=1)


def test_the_event_log_is_for_administrators_and_pages(app):
    lot_id = new_lot(app)
    for minute in range(1, 4):
        bid(app, lot_id, f"bidder-{minute}", f"{10 + minute}.00", minutes=minute)
    with pytest.raises(NotAllowed):
        app.queries.lot_history(lot_id, is_admin=False)
    events, next_after = app.queries.lot_history(lot_id, is_admin=True, limit=2)
    assert [e.originator_version for e in events] == [1, 2] and next_after == 2
    events, next_after = app.queries.lot_history(lot_id, is_admin=True, after_version=2, limit=2)
    assert [e.originator_version for e in events] == [3, 4] and next_after is None


def test_a_bid_is_shown_to_its_bidder_only_and_a_dispute_needs_a_decision(app):
    lot_id = new_lot(app)
    placed = bid(app, lot_id, "alice", "10.00")
    assert app.admission.own_bid(placed.bid_id, "alice").status == "ACCEPTED"
    with pytest.raises(BidNotFound):
        app.admission.own_bid(placed.bid_id, "bob")
    assert dispute_report(app.queries, placed.bid_id)["outcome"]["status"] == "ACCEPTED"
    with pytest.raises(BidNotFound, match="there is no such bid"):
        dispute_report(app.queries, "no-such-bid")


def test_fix_refuses_a_snapshot_that_moved_on(app):
    lot_id = new_lot(app)
    stored = app.queries.stored_snapshot(lot_id)
    app.commands.replace_snapshot(stored | {"title": "tampered"}, expected_version=1)
    report = replay(app.queries, lot_id)
    assert [d.field for d in report.differences] == ["title"]
    bid(app, lot_id, "alice", "10.00")  # a live writer moves the lot to version 2
    with pytest.raises(SnapshotChanged, match="changed since"):
        fix(app.commands, report)


def test_open_lots_by_close_time_and_the_close(app):
    later = new_lot(app)
    sooner = new_lot(app, soft_close_window_s=0)
    app.commands.execute(sooner, [CloseLot(lot_id=sooner, requested_at=START + timedelta(hours=1))])
    assert app.queries.get_lot(sooner).status == "CLOSED"
    assert [lot.lot_id for lot in app.open_lots().lots] == [later]


def test_the_list_shows_open_lots_then_ended_ones_and_pages_on_with_one_cursor(app):
    def lot_closing_in(minutes: int) -> str:
        lot_id = f"lot-{uuid.uuid4().hex[:10]}"
        app.lots.create_lot(
            CreateLot(lot_id=lot_id, title="Vase", currency="EUR", starting_price="10.00", opens_at=START,
                      closes_at=START + timedelta(minutes=minutes), soft_close_window_s=0),
            seller="sam",
        )
        return lot_id

    in_30, in_10, in_20 = lot_closing_in(30), lot_closing_in(10), lot_closing_in(20)
    first_closed, then_closed, cancelled = lot_closing_in(1), lot_closing_in(2), lot_closing_in(3)
    for minutes, lot_id in ((5, first_closed), (6, then_closed)):
        app.commands.clock.now = START + timedelta(minutes=minutes)
        app.commands.execute(lot_id, [CloseLot(lot_id=lot_id, requested_at=app.commands.clock.now)])
    app.commands.clock.now = START + timedelta(minutes=7)
    app.commands.cancel_lot(CancelLot(lot_id=cancelled, cancelled_by="root", requested_at=app.commands.clock.now), is_admin=True)

    def ids(status, limit=50, cursor=None):
        page = app.queries.list_lots(status, limit, cursor)
        return [lot.lot_id for lot in page.lots], page.next_cursor

    def ended_at(lot_id):
        lot = app.queries.get_lot(lot_id)
        return lot.closed_at or lot.cancelled_at

    # Most recently ended first (events are stamped when decided: lots closed within the same
    # millisecond go by lot id, descending).
    ended = sorted((first_closed, then_closed, cancelled), key=lambda lot_id: (ended_at(lot_id), lot_id), reverse=True)
    assert ended_at(cancelled) >= ended_at(then_closed) >= ended_at(first_closed)
    assert ids("open") == ([in_10, in_20, in_30], None)
    assert ids("closed") == (ended, None)
    everything = [in_10, in_20, in_30, *ended]
    assert ids("all") == (everything, None)
    paged, cursor = [], None
    while True:
        page, cursor = ids("all", 4 if cursor is None else 1, cursor)
        paged += page
        if cursor is None:
            break
    assert paged == everything  # each lot once, across the open and the ended part
    first_page, cursor = ids("all", 4)
    assert ids("open", 5, cursor) == ([], None)  # an ended position is past every open lot
    assert ids("closed", 5, ids("open", 1)[1]) == (ended, None)  # an open position is before every ended lot
    assert ids("closed", 2) == (ended[:2], ids("all", 5)[1])
    with pytest.raises(InvalidCommand):
        app.queries.list_lots("all", 5, "2030-01-01T12:10:00.000Z#lot-x")


def call(module, event, app):
    response = module.handler(event, FakeContext(), app)
    return response["statusCode"], json.loads(response["body"])


def test_rest_routes_answer_ledger_errors_in_the_api_shape(app):
    lot_id = new_lot(app)
    status, body = call(lot_api, rest_event("GET", f"/lots/{lot_id}/events", resource="/lots/{lot_id}/events",
                                            path_parameters={"lot_id": lot_id}, claims=ALICE), app)
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")
    status, body = call(lot_api, rest_event("GET", f"/lots/{lot_id}/events", resource="/lots/{lot_id}/events",
                                            path_parameters={"lot_id": lot_id}, claims=ADMIN), app)
    assert status == 200 and [e["type"] for e in body["events"]] == ["LotCreated"]
    status, body = call(lot_api, rest_event("GET", "/bids/nope", resource="/bids/{bid_id}",
                                            path_parameters={"bid_id": "nope"}, claims=ALICE), app)
    assert (status, body["error"]["code"]) == (404, "BID_NOT_FOUND")
    status, body = call(lot_api, rest_event("GET", f"/lots/{lot_id}", resource="/lots/{lot_id}",
                                            path_parameters={"lot_id": lot_id}, query={"as_of_version": "1"}), app)
    assert (status, body["version"]) == (200, 1)
    status, body = call(lot_api, rest_event("GET", f"/lots/{lot_id}", resource="/lots/{lot_id}",
                                            path_parameters={"lot_id": lot_id}, query={"as_of": "2001-01-01T00:00:00Z"}), app)
    assert (status, body["error"]["code"]) == (404, "LOT_NOT_FOUND")


def test_websocket_refusals_use_the_same_error_body(app):
    event = {"requestContext": {"routeKey": "$connect", "connectionId": "c-1"}, "queryStringParameters": {"lot_id": "no-such-lot"}}
    status, body = call(connect, event, app)
    assert status == 404 and body["error"] == {"code": "LOT_NOT_FOUND", "message": "no lot 'no-such-lot'",
                                               "details": {"lot_id": "no-such-lot"}}
    event = {"requestContext": {"routeKey": "subscribe", "connectionId": "c-1"}, "body": '{"action": "subscribe", "lot_id": "no-such-lot"}'}
    status, body = call(connect, event, app)
    assert status == 404 and body["type"] == "error" and body["error"]["code"] == "LOT_NOT_FOUND"


def test_the_snapshot_cache_keeps_the_most_recently_used_lots_within_its_bound(app):
    from ledger.service.cache import LruCache
    from ledger.service.commands import KnownSnapshot

    cache: LruCache[str, KnownSnapshot] = LruCache(size=2)
    lots = [app.queries.get_lot(new_lot(app)) for _ in range(3)]
    cache.put(lots[0].lot_id, KnownSnapshot.of(lots[0], snapshot_to_item(lots[0])))
    cache.put(lots[1].lot_id, KnownSnapshot.of(lots[1], snapshot_to_item(lots[1])))
    assert cache.get(lots[0].lot_id) is not None  # now the most recently used
    cache.put(lots[2].lot_id, KnownSnapshot.of(lots[2], snapshot_to_item(lots[2])))
    assert len(cache) == 2
    assert cache.get(lots[1].lot_id) is None
    known = cache.get(lots[0].lot_id)
    assert known is not None and known.state == lots[0] and known.item == snapshot_to_item(lots[0])
    cache.drop(lots[0].lot_id)
    assert cache.get(lots[0].lot_id) is None and len(cache) == 1
