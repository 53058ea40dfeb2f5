"""The dispute report for the person who asked, on the in-memory recorder: the bidder's
report (the default) never names another bidder's user id or maximum, not even after the
close; it gives the bidder their own maxima and the public prices. The auditor's report
(`auditor=True`) keeps everything."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bootstrap import App
from ledger.domain.commands import CloseLot, CreateLot, PlaceBid
from projections.dispute import dispute_markdown, dispute_report
from tests.support.app import build_test_app, execute_one

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
# Alice's maxima: private to her and to administrators.
ALICE_MAXIMA = ("30.00", "60.00")


@pytest.fixture
def auction() -> tuple[App, dict[str, str], str]:
    """alice 30.00 (takes the lead at 10.00), bob 20.00 (answered by alice's maximum: 20.50),
    alice raises to 60.00 (private), bob 25.00 (answered: 26.00), bob 15.00 (BELOW_MINIMUM)."""
    app = build_test_app(clock=lambda: START)
    lot = app.lots.create_lot(
        CreateLot(lot_id="vase", title="Blue vase", currency="EUR", starting_price="10.00", reserve_price="100.00",
                  opens_at=START, closes_at=START + timedelta(hours=1)),
        seller="sam",
    )
    bids = {}
    for minute, (name, bidder, amount) in enumerate(
        [("alice", "alice", "30.00"), ("bob", "bob", "20.00"), ("alice_raise", "alice", "60.00"),
         ("bob_again", "bob", "25.00"), ("bob_low", "bob", "15.00")], start=1,
    ):
        bids[name] = f"bid-{name}"
        execute_one(app.commands, PlaceBid(bid_id=bids[name], lot_id=lot.lot_id, bidder=bidder, amount=amount,
                                           placed_at=START + timedelta(minutes=minute)))
    return app, bids, lot.lot_id


def private_parts(report: dict) -> list[str]:
    text = json.dumps(report) + dispute_markdown(report)
    return [secret for secret in ("alice", *ALICE_MAXIMA, "100.00", "sam") if secret in text]


@pytest.mark.parametrize("which", ["bob", "bob_again", "bob_low"])
def test_bobs_report_shows_no_other_bidders_id_or_maximum_while_open_or_after_the_close(auction, which):
    app, bids, lot_id = auction
    assert private_parts(dispute_report(app.queries, bids[which])) == []
    execute_one(app.commands, CloseLot(lot_id=lot_id, requested_at=START + timedelta(hours=2)))
    report = dispute_report(app.queries, bids[which])
    assert report["audience"] == "bidder" and report["final_result"]["status"] == "CLOSED"
    assert private_parts(report) == []


def test_bobs_report_gives_his_own_maxima_and_the_public_prices(auction):
    app, bids, _ = auction
    report = dispute_report(app.queries, bids["bob_again"])
    assert (report["bid"]["bidder"], report["bid"]["amount"], report["bid"]["bidder_alias"]) == ("bob", "25.00", "Bidder 2")
    assert report["outcome"]["explanation"] == (
        "your maximum 25.00 was not above the leader's maximum (or equal to it and placed later), so the leader's "
        "maximum answered it automatically and the price moved to 26.00")
    rows = report["bids_around"]
    # Alice's raise (version 4) is private: neither listed nor counted.
    assert [(r["version"], r["bidder"], r.get("your_maximum"), r["price_after"]) for r in rows] == [
        (2, "Bidder 1", None, "10.00"), (3, "you", "20.00", "20.50"), (5, "you", "25.00", "26.00"), (6, "you", "15.00", None)
    ]
    final = report["final_result"]
    assert (final["leader_alias"], final["you_lead"], final["your_maximum"], final["reserve_met"]) == ("Bidder 1", False, "25.00", False)
    assert "leader" not in report["lot_state_met"] or report["lot_state_met"]["leader"] in (None, "Bidder 1")
    markdown = dispute_markdown(report)
    assert "| 5 (this bid) | you | your maximum 25.00, answered automatically by the leader | 26.00 |" in markdown


def test_the_auditors_report_keeps_every_id_and_maximum(auction):
    app, bids, _ = auction
    report = dispute_report(app.queries, bids["bob_again"], auditor=True)
    assert report["audience"] == "auditor"
    assert set(private_parts(report)) >= {"alice", "60.00"}
    assert "Not for bidders" in dispute_markdown(report)
