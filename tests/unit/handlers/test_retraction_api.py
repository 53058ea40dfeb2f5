"""Retraction by an administrator through the REST handler, on the in-memory recorder and
queue: the lot falls back, the bid's status says RETRACTED, and every refusal is a 4xx in
the API's shape that writes nothing. The projections that show it (history, time travel,
dispute, replay and verify, the bidders' records) are checked on the same lot."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from bootstrap import App
from handlers import process_bid
from ledger.domain.bidder_records import records_from
from ledger.domain.commands import CloseLot
from ledger.domain.events import BidRetracted
from ledger.domain.values import format_time, utc_now
from projections.audit import replay, verify
from projections.dispute import dispute_markdown, dispute_report
from tests.support.app import execute_one
from tests.support.events import FakeContext
from tests.support.queue import InMemorySqs
from tests.unit.handlers.test_handlers_in_memory import api

ALICE = {"sub": "alice"}
BOB = {"sub": "bob"}
SELLER = {"sub": "sam", "cognito:username": "sam", "cognito:groups": "sellers", "custom:seller_handle": "sam"}
ADMIN = {"sub": "root", "cognito:groups": "admin"}


def create_lot(app: App, **terms: Any) -> str:
    terms = {"lot_id": f"sam-lot-{uuid.uuid4().hex[:8]}", "title": "Blue vase", "currency": "EUR",
             "starting_price": "10.00", "closes_at": format_time(utc_now() + timedelta(minutes=30))} | terms
    status, lot = api(app, "POST", "/lots", body=terms, claims=SELLER)
    assert status == 201, lot
    return str(lot["lot_id"])


def place(app: App, sqs: InMemorySqs, lot_id: str, amount: str, claims: dict[str, str]) -> str:
    status, placed = api(app, "POST", "/bid", body={"lot_id": lot_id, "amount": amount}, claims=claims)
    assert status == 202, placed
    while (batch := sqs.next_batch()) is not None:
        assert process_bid.handler(batch, FakeContext(), app)["batchItemFailures"] == []
    return str(placed["bid_id"])


def retract(app: App, lot_id: str, bid_id: str, claims: dict[str, str], body: Any = None) -> tuple[int, Any]:
    path = f"/lots/{lot_id}/bids/{bid_id}/retract"
    return api(app, "POST", path, resource="/lots/{lot_id}/bids/{bid_id}/retract",
               path_parameters={"lot_id": lot_id, "bid_id": bid_id},
               body={"reason": "shill bidding"} if body is None else body, claims=claims)


def view(app: App, lot_id: str, **query: str) -> dict[str, Any]:
    status, lot = api(app, "GET", f"/lots/{lot_id}", resource="/lots/{lot_id}", path_parameters={"lot_id": lot_id},
                      query=query or None)
    assert status == 200, lot
    return lot


def bid_status(app: App, bid_id: str, claims: dict[str, str]) -> dict[str, Any]:
    status, outcome = api(app, "GET", f"/bids/{bid_id}", resource="/bids/{bid_id}", path_parameters={"bid_id": bid_id},
                          claims=claims)
    assert status == 200, outcome
    return outcome


def test_an_admin_retracts_the_leaders_bid_and_the_lot_falls_back(app, sqs):
    lot_id = create_lot(app)
    place(app, sqs, lot_id, "30.00", ALICE)
    top = place(app, sqs, lot_id, "50.00", BOB)
    before = view(app, lot_id)
    assert (before["current_price"], before["leader"], before["bid_count"]) == ("31.00", "Bidder 2", 2)

    status, after = retract(app, lot_id, top, ADMIN)
    assert status == 200, after
    assert (after["current_price"], after["leader"], after["bid_count"], after["version"]) == ("10.00", "Bidder 1", 1, 4)
    assert after["closes_at"] == before["closes_at"]
    # The public history no longer shows the retracted bid as standing.
    assert [b["bidder"] for b in after["recent_bids"]] == ["Bidder 1"]
    outcome = bid_status(app, top, BOB)
    assert (outcome["status"], outcome["reason"], outcome["leading"]) == ("RETRACTED", "shill bidding", False)
    assert bid_status(app, place(app, sqs, lot_id, "40.00", BOB), BOB)["status"] == "ACCEPTED"  # Bob may bid again

    # Time travel shows the lot before and after; replay and verify are clean.
    assert view(app, lot_id, as_of_version="3")["leader"] == "Bidder 2"
    assert view(app, lot_id, as_of_version="4")["leader"] == "Bidder 1"
    assert replay(app.queries, lot_id).ok and verify(app.queries, lot_id).ok

    # The event log (history) shows the retraction with what the lot became.
    status, page = api(app, "GET", f"/lots/{lot_id}/events", resource="/lots/{lot_id}/events",
                       path_parameters={"lot_id": lot_id}, claims=ADMIN)
    retraction = next(e for e in page["events"] if e["type"] == "BidRetracted")
    assert {"bid_id": top, "bidder": "bob", "retracted_by": "root", "reason": "shill bidding",
            "price": "10.00", "leader": "alice", "bid_count": 1}.items() <= retraction["data"].items()

    # The dispute report of the retracted bid says so: by whom, why, what the lot became.
    report = dispute_report(app.queries, top, auditor=True)
    assert report["retraction"]["retracted_by"] == "root" and report["retraction"]["reason"] == "shill bidding"
    assert {"price": "10.00", "leader": "alice", "leader_alias": "Bidder 1"}.items() <= report["retraction"]["lot_after"].items()
    assert "**RETRACTED** by `root`" in dispute_markdown(report)
    # The bidder's report says so too, without the administrator's or the new leader's ids.
    theirs = dispute_report(app.queries, top)
    assert theirs["retraction"]["reason"] == "shill bidding" and theirs["retraction"]["lot_after"]["leader_alias"] == "Bidder 1"
    assert "root" not in json.dumps(theirs) and "alice" not in json.dumps(theirs)
    assert "**RETRACTED** by an administrator" in dispute_markdown(theirs)
    assert dispute_report(app.queries, place(app, sqs, lot_id, "60.00", ALICE))["retraction"] is None


def test_the_retracted_bidders_record_falls_back_to_their_standing_maximum(app, sqs):
    lot_id = create_lot(app)
    place(app, sqs, lot_id, "20.00", ALICE)
    place(app, sqs, lot_id, "25.00", BOB)
    raise_ = place(app, sqs, lot_id, "40.00", BOB)
    assert retract(app, lot_id, raise_, ADMIN)[0] == 200
    events = list(app.queries.lot_events(lot_id))
    assert isinstance(events[-1], BidRetracted) and str(events[-1].bidder_maximum) == "25.00"
    records = {r["bidder"]: r for r in records_from(events, "EUR")}
    assert records["bob"]["maximum"] == "25.00" and records["bob"]["last_bid"] == "40.00"
    assert view(app, lot_id)["leader"] == "Bidder 2"  # Bob's 25.00 still beats Alice's 20.00


@pytest.mark.parametrize(
    ("claims", "body", "status", "code"),
    [
        (BOB, None, 403, "FORBIDDEN"),
        (ADMIN, {}, 400, "INVALID_REQUEST"),  # the reason is required
        (ADMIN, {"reason": " padded "}, 400, "INVALID_REQUEST"),
        (ADMIN, {"reason": "x", "extra": 1}, 400, "INVALID_REQUEST"),
        (ADMIN, {"reason": 7}, 400, "INVALID_REQUEST"),
    ],
)
def test_refusals_write_nothing(app, sqs, claims, body, status, code):
    lot_id = create_lot(app)
    bid_id = place(app, sqs, lot_id, "30.00", ALICE)
    version = view(app, lot_id)["version"]
    answer = retract(app, lot_id, bid_id, claims, body)
    assert (answer[0], answer[1]["error"]["code"]) == (status, code)
    assert view(app, lot_id)["version"] == version and bid_status(app, bid_id, ALICE)["status"] == "ACCEPTED"


def test_unknown_rejected_retracted_and_closed_are_refused_with_their_codes(app, sqs):
    lot_id = create_lot(app)
    accepted = place(app, sqs, lot_id, "30.00", ALICE)
    rejected = place(app, sqs, lot_id, "20.00", ALICE)  # the leader's lower maximum: BELOW_OWN_MAXIMUM
    assert retract(app, "no-such-lot", accepted, ADMIN)[1]["error"]["code"] == "LOT_NOT_FOUND"
    status, body = retract(app, lot_id, "no-such-bid", ADMIN)
    assert (status, body["error"]["code"]) == (404, "BID_NOT_FOUND")
    assert retract(app, lot_id, rejected, ADMIN)[1]["error"]["code"] == "BID_NOT_ACCEPTED"
    assert retract(app, lot_id, accepted, ADMIN)[0] == 200
    assert retract(app, lot_id, accepted, ADMIN)[1]["error"]["code"] == "BID_ALREADY_RETRACTED"
    other = create_lot(app, closes_at=format_time(utc_now() + timedelta(seconds=2)), soft_close_window_s=0)
    bid_id = place(app, sqs, other, "30.00", ALICE)
    execute_one(app.commands, CloseLot(lot_id=other, requested_at=utc_now() + timedelta(seconds=3)))
    status, body = retract(app, other, bid_id, ADMIN)
    assert (status, body["error"]["code"], body["error"]["details"]["status"]) == (409, "LOT_NOT_OPEN", "CLOSED")


def test_the_bid_command_says_a_retracted_bid_in_words():
    from samsold_cli.ops import outcome_words

    assert outcome_words({"status": "RETRACTED", "reason": "shill bidding"}) == ("RETRACTED by an administrator: shill bidding", 1)
