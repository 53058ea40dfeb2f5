"""Retraction by an administrator end to end on the local runtime: the
REST route through the local gateway and LotApiFunction, the stream broadcaster telling the
watchers (lot.updated), the retracted bidder (bid.retracted) and the bidder it puts back in
the lead (bid.leading), and the refusals."""

from __future__ import annotations

import json
from datetime import timedelta

from ledger.domain.values import format_time, utc_now
from tests.e2e.helpers import Client, Watcher, eventually

REASON = "shill bidding: the bidder is the seller's second account"


def retract(client: Client, lot_id: str, bid_id: str, reason: str = REASON):
    return client.post(f"/lots/{lot_id}/bids/{bid_id}/retract", {"reason": reason})


def test_an_admin_retracts_the_leaders_bid_and_everyone_concerned_is_told(app_stack, admin, alice, bob, dev_auth):
    lot_id = admin.create_lot()["lot_id"]
    first = alice.bid(lot_id, "20.00")
    assert alice.wait_for_outcome(first["bid_id"])["status"] == "ACCEPTED"
    top = bob.bid(lot_id, "50.00")
    assert bob.wait_for_outcome(top["bid_id"])["status"] == "ACCEPTED"
    before = admin.get(f"/lots/{lot_id}").json()
    assert (before["current_price"], before["leader"], before["version"]) == ("20.50", "Bidder 2", 3)

    ws = app_stack.endpoints["websocket"]
    with Watcher(f"{ws}/?lot_id={lot_id}") as watcher, \
            Watcher(f"{ws}/", dev_auth.mint("bob")) as bobs_phone, \
            Watcher(f"{ws}/", dev_auth.mint("alice")) as alices_phone:
        refused = retract(bob, lot_id, top["bid_id"])  # not an administrator
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "FORBIDDEN")

        response = retract(admin, lot_id, top["bid_id"])
        assert response.status_code == 200, response.text
        after = response.json()
        # Alice's 20.00 alone: the first bid opens at the starting price; the close stays.
        assert (after["current_price"], after["leader"], after["bid_count"], after["version"]) == ("10.00", "Bidder 1", 1, 4)
        assert after["closes_at"] == before["closes_at"]
        assert [b["bidder"] for b in after["recent_bids"]] == ["Bidder 1"]

        watcher.until(lambda _: any(u["version"] == 4 for u in watcher.lot_updates()))
        update = next(u for u in watcher.lot_updates() if u["version"] == 4)
        assert (update["current_price"], update["leader"]) == ("10.00", "Bidder 1")
        bobs_phone.until(lambda messages: any(m.get("type") == "bid.retracted" for m in messages))
        assert [m for m in bobs_phone.messages if m.get("type") == "bid.retracted"] == [
            {"type": "bid.retracted", "lot_id": lot_id, "bid_id": top["bid_id"], "reason": REASON}
        ]
        alices_phone.until(lambda messages: any(m.get("type") == "bid.leading" for m in messages))
        assert [m for m in alices_phone.messages if m.get("type") == "bid.leading"] == [
            {"type": "bid.leading", "lot_id": lot_id, "current_price": "10.00"}
        ]

    status = bob.get(f"/bids/{top['bid_id']}").json()
    assert (status["status"], status["reason"], status["leading"]) == ("RETRACTED", REASON, False)
    again = retract(admin, lot_id, top["bid_id"])
    assert (again.status_code, again.json()["error"]["code"]) == (409, "BID_ALREADY_RETRACTED")
    # Bob's own record of the lot follows (the stream writes it): no bid of his stands.
    eventually(lambda: next((i for i in bob.get("/me/bids").json()["items"] if i["lot_id"] == lot_id), {}).get("status")
               == "OUTBID" and bob.get(f"/lots/{lot_id}").json()["you"]["maximum"] is None, timeout=10)
    # Time travel still shows the lot as it stood before.
    assert admin.get(f"/lots/{lot_id}", params={"as_of_version": "3"}).json()["leader"] == "Bidder 2"
    events = admin.get(f"/lots/{lot_id}/events").json()["events"]
    assert (events[-1]["type"], events[-1]["data"]["reason"], events[-1]["data"]["price"]) == ("BidRetracted", REASON, "10.00")


def test_a_retraction_on_a_closed_lot_is_refused(app_stack, admin, alice):
    # 4 s: time for the bid to be placed before the close on a loaded machine.
    lot = admin.create_lot(closes_at=format_time(utc_now() + timedelta(seconds=4)), soft_close_window_s=0)
    placed = alice.bid(lot["lot_id"], "12.00")
    assert alice.wait_for_outcome(placed["bid_id"])["status"] == "ACCEPTED"
    eventually(lambda: admin.get(f"/lots/{lot['lot_id']}").json()["status"] == "CLOSED", timeout=60, every=0.5)
    refused = retract(admin, lot["lot_id"], placed["bid_id"])
    assert refused.status_code == 409, refused.text
    assert (refused.json()["error"]["code"], refused.json()["error"]["details"]["status"]) == ("LOT_NOT_OPEN", "CLOSED")
    assert admin.get(f"/lots/{lot['lot_id']}").json()["version"] == 3  # nothing written
    missing = retract(admin, lot["lot_id"], "no-such-bid")
    assert missing.status_code == 409  # the lot's state is checked first: it is not open


def test_unknown_lot_and_bid_are_404(app_stack, admin, alice):
    assert retract(admin, "no-such-lot", "b-1").status_code == 404
    lot_id = admin.create_lot()["lot_id"]
    response = retract(admin, lot_id, "no-such-bid")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "BID_NOT_FOUND")
    assert admin.post(f"/lots/{lot_id}/bids/b-1/retract", {}).status_code == 400  # the reason is required


def test_the_operator_retracts_by_command_and_history_dispute_replay_and_verify_show_it(app_stack, admin, alice, bob):
    from typer.testing import CliRunner

    from samsold_cli.main import app

    runner = CliRunner(env={"COLUMNS": "250"})

    def samsold(*args: str):
        return runner.invoke(app, [*args, "--data-dir", str(app_stack.data_dir)], catch_exceptions=False)

    lot_id = admin.create_lot()["lot_id"]
    assert alice.wait_for_outcome(alice.bid(lot_id, "20.00")["bid_id"])["status"] == "ACCEPTED"
    top = bob.bid(lot_id, "50.00")["bid_id"]
    assert bob.wait_for_outcome(top)["status"] == "ACCEPTED"
    refused = samsold("retract", lot_id, top, "--reason", " padded ")
    assert refused.exit_code == 2  # the reason is checked by the API's own rule before anything is sent
    result = samsold("retract", lot_id, top, "--reason", REASON)
    assert result.exit_code == 0, result.output
    assert "now at 10.00 EUR, leader Bidder 1 (version 4)" in result.output
    assert samsold("retract", lot_id, top, "--reason", REASON).exit_code == 1  # BID_ALREADY_RETRACTED

    history = samsold("history", lot_id)
    assert history.exit_code == 0 and "RETRACTED bid" in history.output
    records = json.loads(samsold("history", lot_id, "--json").output)
    assert records[-1]["type"] == "BidRetracted" and records[-1]["data"]["retracted_by"] == "an admin"
    report = json.loads(samsold("dispute", "--bid", top, "--json").output)
    assert (report["retraction"]["reason"], report["retraction"]["lot_after"]["price"]) == (REASON, "10.00")
    assert report["verification"]["chain_ok"]
    assert samsold("verify", lot_id).exit_code == 0 and samsold("replay", lot_id).exit_code == 0
