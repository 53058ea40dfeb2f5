"""Dispute reports from real stored events: an accepted bid, a BELOW_MINIMUM
rejection, and a LOT_CLOSED rejection of a bid placed after an extension."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from ledger.domain.commands import CloseLot, CreateLot, PlaceBid
from ledger.domain.errors import BidNotFound
from ledger.domain.values import format_time
from projections.dispute import dispute_markdown, dispute_report
from tests.support.app import execute_one


@pytest.fixture
def auction(service, clock):
    """alice 10.00 (v2), bob 10.25 rejected (v3), bob 11.00 in the soft-close window
    extends the close (v4), carol bids after the extended close: LOT_CLOSED (v5), then
    the lot closes SOLD to bob (v6)."""
    opens = clock.now
    closes = opens + timedelta(minutes=10)
    lot = service.lots.create_lot(
        CreateLot(lot_id=f"d-{uuid.uuid4().hex[:10]}", title="Clock", currency="EUR", starting_price="10.00",
                  opens_at=opens, closes_at=closes, soft_close_window_s=120, soft_close_extension_s=120),
        seller="sam",
    )
    bids = {
        "alice": PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot.lot_id, bidder="alice", amount="10.00", placed_at=opens + timedelta(minutes=1)),
        "bob_low": PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot.lot_id, bidder="bob", amount="10.25", placed_at=opens + timedelta(minutes=2)),
        "bob": PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot.lot_id, bidder="bob", amount="11.00", placed_at=closes - timedelta(seconds=30)),
        "carol_late": PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot.lot_id, bidder="carol", amount="20.00", placed_at=closes + timedelta(seconds=95)),
    }
    for command in bids.values():
        execute_one(service.commands, command)
    execute_one(service.commands, CloseLot(lot_id=lot.lot_id, requested_at=closes + timedelta(minutes=5)))
    return {"lot": lot, "bids": bids, "closes": closes}


def test_report_on_an_accepted_bid(service, auction):
    report = dispute_report(service.queries, auction["bids"]["bob"].bid_id, auditor=True)
    assert report["bid"]["bidder"] == "bob" and report["bid"]["amount"] == "11.00"
    assert report["bid"]["placed_at"] == format_time(auction["closes"] - timedelta(seconds=30))
    assert report["outcome"]["status"] == "ACCEPTED" and report["outcome"]["reason"] is None
    assert report["outcome"]["minimum"] == "10.50" and report["outcome"]["version"] == 4
    assert report["lot_state_met"]["version"] == 3 and report["lot_state_met"]["leader"] == "alice"
    assert report["lot_state_met"]["current_price"] == "10.00"
    assert report["close_time_then"]["in_force"] == format_time(auction["closes"])
    assert report["close_time_then"]["extensions_before"] == []
    assert report["close_time_then"]["rule"] == {"soft_close_window_s": 120, "soft_close_extension_s": 120,
                                                 "soft_close_mode": "from_bid", "soft_close_trigger": "any_bid", "max_extensions": None}
    assert report["close_time_then"]["this_bid"] == {
        "closes_at": format_time(auction["closes"] + timedelta(seconds=90)), "effect": "EXTENDED",
        "explanation": f"it moved the close from {format_time(auction['closes'])} to "
        f"{format_time(auction['closes'] + timedelta(seconds=90))} (120 s after the bid); extension 1 (no cap)"}
    assert [r["version"] for r in report["bids_before"]] == [2, 3]
    assert [r["version"] for r in report["bids_after"]] == [5]
    assert report["final_result"]["outcome"] == "SOLD" and report["final_result"]["leader"] == "bob"
    # Bob's maximum 11.00 beat Alice's 10.00 by one increment (0.50): the price is 10.50.
    assert report["final_result"]["price"] == "10.50"
    assert report["outcome"]["explanation"] == "your maximum 11.00 took the lead; the price moved to 10.50, the least that keeps you ahead"
    assert report["final_result"]["extensions"] == [
        {"version": 4, "from": format_time(auction["closes"]), "to": format_time(auction["closes"] + timedelta(seconds=90))}
    ]
    assert report["verification"]["chain_ok"] is True and report["verification"]["events_checked"] == 6
    assert report["verification"]["cited_versions"] == [2, 3, 4, 5]


def test_report_on_a_below_minimum_rejection(service, auction):
    report = dispute_report(service.queries, auction["bids"]["bob_low"].bid_id, auditor=True)
    assert (report["outcome"]["status"], report["outcome"]["reason"]) == ("REJECTED", "BELOW_MINIMUM")
    assert report["outcome"]["minimum"] == "10.50" and report["outcome"]["current_price"] == "10.00"
    assert "minimum next bid" in report["outcome"]["rule"]
    assert report["lot_state_met"]["version"] == 2 and report["lot_state_met"]["leader_alias"] == "Bidder 1"
    assert [r["version"] for r in report["bids_before"]] == [2]


def test_report_on_a_late_bid_after_an_extension(service, auction):
    report = dispute_report(service.queries, auction["bids"]["carol_late"].bid_id, auditor=True)
    extended = auction["closes"] + timedelta(seconds=90)
    assert (report["outcome"]["status"], report["outcome"]["reason"]) == ("REJECTED", "LOT_CLOSED")
    assert report["bid"]["placed_at"] == format_time(auction["closes"] + timedelta(seconds=95))
    assert report["close_time_then"]["scheduled"] == format_time(auction["closes"])
    assert report["close_time_then"]["in_force"] == format_time(extended)
    assert report["close_time_then"]["extensions_before"] == [
        {"version": 4, "from": format_time(auction["closes"]), "to": format_time(extended)}
    ]
    assert report["deciding_event"]["data"]["closes_at"] == format_time(extended)
    assert report["lot_state_met"]["status"] == "OPEN"
    assert report["close_time_then"]["this_bid"]["explanation"] == "a rejected bid never moves the close"
    markdown = dispute_markdown(report)
    assert "LOT_CLOSED" in markdown and "hash chain: intact" in markdown
    assert "- soft close: a bid in the last 120 s, if accepted, moves the close to 120 s after the bid; no cap but the hard close" in markdown


def test_report_explains_a_leader_change_rule_and_its_cap(service, clock):
    """add_to_end, leader_change, max_extensions 1: alice's first bid extends (v2); bob's
    maximum answered by alice's does not (v3); carol takes the lead but the one extension is
    used (v4)."""
    opens = clock.now
    closes = opens + timedelta(minutes=10)
    lot = service.lots.create_lot(
        CreateLot(lot_id=f"d-{uuid.uuid4().hex[:10]}", title="Clock", currency="EUR", starting_price="10.00", opens_at=opens,
                  closes_at=closes, soft_close_mode="add_to_end", soft_close_trigger="leader_change", max_extensions=1),
        seller="sam",
    )
    bids = [PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot.lot_id, bidder=bidder, amount=amount, placed_at=closes + timedelta(seconds=at))
            for bidder, amount, at in [("alice", "15.00", -30), ("bob", "12.00", 30), ("carol", "20.00", 60)]]
    for command in bids:
        execute_one(service.commands, command)
    first, answered, capped = (dispute_report(service.queries, b.bid_id, auditor=True) for b in bids)
    assert first["close_time_then"]["this_bid"]["effect"] == "EXTENDED"
    assert first["close_time_then"]["this_bid"]["explanation"].endswith("(120 s added to the close in force); extension 1 (at most 1)")
    assert answered["close_time_then"]["this_bid"]["effect"] == "NOT_A_LEADER_CHANGE"
    assert capped["close_time_then"]["this_bid"] == {
        "closes_at": format_time(closes + timedelta(seconds=120)), "effect": "EXTENSIONS_USED",
        "explanation": "the lot had had the most extensions its terms allow (1): the close stayed"}
    assert capped["lot_state_met"]["soft_close_mode"] == "add_to_end" and "sc" not in capped["lot_state_met"]
    assert "if it changes the leader, moves the close to 120 s added to the close; at most 1 extensions" in dispute_markdown(capped)


def test_no_report_for_an_unknown_bid(service):
    with pytest.raises(BidNotFound):
        dispute_report(service.queries, "nope", auditor=True)
