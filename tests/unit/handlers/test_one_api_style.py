"""One API style, through the handlers on the in-memory recorder and queue: what the API
can already see is refused at once (a closed or cancelled lot, a maximum whose next step it
could not take), lists answer `items` and `next`, `you.last_bid` is never a rejected
amount, and a malformed request's problem reads as plain words. (Every route and documented
error: tests/unit/handlers/test_every_documented_error.py.)"""

from __future__ import annotations

from ledger.domain import rules
from ledger.domain.bidder_records import records_from
from ledger.domain.values import format_decimal
from tests.unit.handlers.test_every_documented_error import ALICE, BOB, SELLER, World


def test_a_confirmed_absurd_bid_is_refused_and_the_lot_stays_biddable():
    w = World()
    lot_id = w.lot()
    status, refused = w.call("POST", "/bid", body={"lot_id": lot_id, "amount": "999999999999999999.99", "confirm": True},
                             claims=ALICE)
    assert status == 422 and refused["error"]["details"]["reason"] == rules.AMOUNT_TOO_LARGE, refused
    assert refused["error"]["details"]["largest"] == "999999999999999899.99"
    assert w.sqs.waiting == []
    w.bid(lot_id, "999999999999999899.99", confirm=True)
    status, view = w.call("GET", "/lots/{lot_id}", {"lot_id": lot_id})
    # The minimum next bid is an amount the API takes, and bob can send it.
    assert (view["leader"], view["minimum_bid"]) == ("Bidder 1", "10.50")
    w.bid(lot_id, view["minimum_bid"], claims=BOB)


def test_a_bid_on_a_closed_or_cancelled_lot_is_refused_at_once_but_a_retry_of_a_recorded_bid_is_answered():
    w = World()
    for lot_id, code in ((w.closed_lot(), "LOT_CLOSED"), (w.cancelled_lot(), "LOT_CANCELLED")):
        status, refused = w.call("POST", "/bid", body={"lot_id": lot_id, "amount": "60.00"}, claims=ALICE)
        assert (status, refused["error"]["code"]) == (409, code) and w.sqs.waiting == []
    lot_id = w.lot(buy_now_price="50.00")
    w.bid(lot_id, "20.00", bid_id="alice-1")
    assert w.call("POST", "/lots/{lot_id}/cancel", {"lot_id": lot_id}, claims={"sub": "root", "cognito:groups": "admin"})[0] == 200
    status, again = w.call("POST", "/bid", body={"lot_id": lot_id, "amount": "20.00", "bid_id": "alice-1"}, claims=ALICE)
    assert (status, again["status"]) == (202, "ACCEPTED")


def test_time_travel_past_the_last_version_is_a_404_in_the_error_shape():
    w = World()
    lot_id = w.lot()
    status, body = w.call("GET", "/lots/{lot_id}", {"lot_id": lot_id}, query={"as_of_version": "999"})
    assert status == 404 and body["error"]["code"] == "VERSION_NOT_FOUND"
    assert body["error"]["details"] == {"lot_id": lot_id, "version": 999, "last_version": 1}


def test_lists_answer_items_and_next_and_get_lots_keeps_lots_for_one_release():
    w = World()
    lot_id = w.lot()
    w.bid(lot_id, "10.00")
    status, lots = w.call("GET", "/lots", query={"limit": "1"})
    assert status == 200 and [lot["lot_id"] for lot in lots["items"]] == [lot_id] and lots["lots"] == lots["items"]
    assert set(lots) == {"items", "next", "lots"}
    status, mine = w.call("GET", "/me/bids", claims=ALICE)
    assert status == 200 and set(mine) == {"items", "next"}
    status, events = w.call("GET", "/lots/{lot_id}/events", {"lot_id": lot_id}, claims={"sub": "root", "cognito:groups": "admin"},
                            query={"limit": "1"})
    assert status == 200 and events["next"] == "1" and events["items"] == events["events"]


def test_your_last_bid_is_never_a_rejected_amount():
    w = World()
    lot_id = w.lot()
    w.bid(lot_id, "20.00")
    w.bid(lot_id, "15.00")  # alice leads: BELOW_OWN_MAXIMUM
    # The records `you` and GET /me/bids read, as the broadcast writes them from the lot's events.
    records = records_from(w.app.queries.lot_events(lot_id), "EUR")
    assert [(r["bidder"], r["last_bid"], r["maximum"], r["version"]) for r in records] == [("alice", "20.00", "20.00", 3)]


def test_a_malformed_request_names_the_field_in_plain_words():
    w = World()
    status, body = w.call("POST", "/bid", body={"lot_id": w.lot(), "amount": "-1"}, claims=ALICE)
    assert status == 400 and body["error"]["code"] == "INVALID_REQUEST"
    assert body["error"]["message"] == "the request is not valid: see amount"
    problem = body["error"]["details"]["errors"][0]["problem"]
    assert not problem.startswith("Value error") and "decimal string" in problem
    assert format_decimal(rules.LARGEST_AMOUNT_TAKEN) == "1000000000000000000"


def test_a_sale_whose_first_close_has_passed_is_refused_for_the_sale_not_for_its_first_lot():
    w = World()
    body = {"title": "Spring", "interval_s": 60, "first_closes_at": "2001-01-01T00:00:00Z",
            "lots": [{"title": "Jug", "currency": "EUR", "starting_price": "5.00"}]}
    status, refused = w.call("POST", "/sales", body=body, claims=SELLER)
    assert (status, refused["error"]["code"], refused["error"]["details"]["field"]) == (422, "RULE_BROKEN", "first_closes_at")
    assert refused["error"]["message"] == "first_closes_at must be in the future" and "lot 1" not in refused["error"]["message"]


def test_my_bids_says_whether_the_reserve_is_met():
    """A leader below the reserve is not "winning": GET /me/bids says so, as the lot page does."""
    w = World()
    lot_id = w.lot(reserve_price="25.00")
    w.bid(lot_id, "20.00")  # alice leads at 10.00, below the reserve
    status, mine = w.call("GET", "/me/bids", claims=ALICE)
    assert status == 200 and [(i["status"], i["reserve_met"]) for i in mine["items"]] == [("LEADING", False)]
    w.bid(lot_id, "30.00", claims=BOB)  # bob leads at 20.50, still below the reserve
    w.bid(lot_id, "40.00")  # alice leads again at 30.50: the reserve is met
    status, mine = w.call("GET", "/me/bids", claims=ALICE)
    assert [(i["status"], i["reserve_met"]) for i in mine["items"]] == [("LEADING", True)]
