"""The public log on the local stack: a bid's events reach the log through the Bids stream
(LogSequencerFunction, under its IAM policy), a checkpoint is signed on demand, the lot's
public proof passes the standalone checker, and a consistent rewrite of the lot in the table
is caught by the monitor (`samsold log monitor`, and the stack's own on its schedule) and by
`samsold log verify`, naming the lot and the version. A bidder's receipt opens their own
commitments, for them alone; erasing them keeps every proof."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from local.cognito.user_pool import subject_for
from samsold_cli.main import app
from tests.e2e.helpers import Client, eventually

runner = CliRunner(env={"COLUMNS": "250"})
CHECKER = Path(__file__).resolve().parents[2] / "tools" / "check_proof.py"
REWRITE = Path(__file__).resolve().parents[2] / "scripts" / "rewrite_lot.py"


def samsold(app_stack, *args: str):
    return runner.invoke(app, [*args, "--data-dir", str(app_stack.data_dir)], catch_exceptions=False)


def _in_log(app_stack, api: str, lot_id: str, versions: int, now: bool = False) -> bool:
    """Whether the lot's proof has `versions` events; `now`: sequence the lot's pending events first (not waiting for the stream)."""
    lots = ["--lot", lot_id] if now else []
    assert samsold(app_stack, "log", "checkpoint", *lots).exit_code in (0, 1)  # 1: nothing sequenced yet (or the log busy)
    proof = Client(api).get(f"/lots/{lot_id}/proof")
    return proof.status_code == 200 and len(proof.json()["events"]) == versions


def _scheduled_monitor_findings(app_stack) -> list[str]:
    item = app_stack.client("dynamodb").get_item(
        TableName=app_stack.app.outputs["LogMonitorTableName"], Key={"PK": {"S": "MONITOR"}}, ConsistentRead=True).get("Item")
    return [finding["S"] for finding in (item or {}).get("findings", {}).get("L", [])]


def test_from_a_bid_to_a_proof_checked_without_samsold_and_a_rewrite_caught(app_stack, api, dev_auth, tmp_path) -> None:
    seller, alice = Client(api, dev_auth.mint("sally", seller=True)), Client(api, dev_auth.mint("alice"))
    lot = seller.create_lot()["lot_id"]
    alice.wait_for_outcome(alice.bid(lot, "10.00")["bid_id"])
    alice.wait_for_outcome(alice.bid(lot, "15.00")["bid_id"])
    eventually(lambda: _in_log(app_stack, api, lot, 3), timeout=60, every=1)

    public = Client(api)
    (tmp_path / "key.pem").write_text(public.get("/log/key").json()["public_key_pem"])
    (tmp_path / "trusted").write_text(public.get("/log/checkpoint").text)
    (tmp_path / "proof.json").write_text(public.get(f"/lots/{lot}/proof").text)
    checked = subprocess.run([sys.executable, "-I", str(CHECKER), str(tmp_path / "proof.json"), str(tmp_path / "key.pem"),
                              str(tmp_path / "trusted")], capture_output=True, text=True)
    assert checked.returncode == 0 and f"lot {lot}: versions 1-3" in checked.stdout, checked.stderr
    result = runner.invoke(app, ["verify-proof", str(tmp_path / "proof.json"), "--key", str(tmp_path / "key.pem")])
    assert result.exit_code == 0, result.output
    state = str(tmp_path / "monitor.json")
    monitored = samsold(app_stack, "log", "monitor", "--state", state)
    assert monitored.exit_code == 0, monitored.output

    rewritten = subprocess.run([sys.executable, str(REWRITE), lot, "2", "11.00", "--data-dir", str(app_stack.data_dir)],
                               capture_output=True, text=True)
    assert rewritten.returncode == 0, rewritten.stderr
    assert samsold(app_stack, "verify", lot).exit_code == 0  # the chain alone sees nothing
    against_log = samsold(app_stack, "log", "verify", lot)
    assert against_log.exit_code == 1 and f"lot {lot} version 2" in against_log.output
    alice.wait_for_outcome(alice.bid(lot, "20.00")["bid_id"])
    eventually(lambda: _in_log(app_stack, api, lot, 4), timeout=60, every=1)
    monitored = samsold(app_stack, "log", "monitor", "--state", state)
    assert monitored.exit_code == 1 and f"lot {lot} version 2" in monitored.output, monitored.output
    # The stack's own monitor (LogMonitorFunction, on its schedule, under its IAM policy) caught it too.
    eventually(lambda: any(f"lot {lot} version 2" in finding for finding in _scheduled_monitor_findings(app_stack)),
               timeout=60, every=1)
    stale = runner.invoke(app, ["verify-proof", str(tmp_path / "proof.json"), "--key", str(tmp_path / "key.pem")])
    assert stale.exit_code == 0  # the proof taken before the rewrite still holds: it is the evidence


def test_a_receipt_is_its_bidders_alone_and_an_erasure_keeps_every_proof(app_stack, api, dev_auth, tmp_path) -> None:
    seller = Client(api, dev_auth.mint("sally", seller=True))
    bob, eve = (Client(api, dev_auth.mint(name)) for name in ("bob-erased", "eve"))
    lot = seller.create_lot()["lot_id"]
    bid_id = bob.bid(lot, "10.00")["bid_id"]
    bob.wait_for_outcome(bid_id)
    eventually(lambda: _in_log(app_stack, api, lot, 2, now=True), timeout=60, every=1)

    receipt = bob.get(f"/bids/{bid_id}/receipt")
    assert receipt.status_code == 200, receipt.text
    assert eve.get(f"/bids/{bid_id}/receipt").status_code == 404 == eve.get("/bids/no-such-bid/receipt").status_code
    assert Client(api).get(f"/bids/{bid_id}/receipt").status_code == 401
    (tmp_path / "key.pem").write_text(Client(api).get("/log/key").json()["public_key_pem"])
    (tmp_path / "receipt.json").write_text(json.dumps(receipt.json()["proof"]))
    checked = subprocess.run([sys.executable, "-I", str(CHECKER), str(tmp_path / "receipt.json"), str(tmp_path / "key.pem")],
                             capture_output=True, text=True)
    bidder = subject_for("bob-erased")
    assert checked.returncode == 0 and f'version 2 bidder: "{bidder}"' in checked.stdout, checked.stderr

    private = samsold(app_stack, "prove", lot, "--private")
    assert private.exit_code == 0 and len(json.loads(private.output)["disclosures"]) == 3, private.output
    refused = samsold(app_stack, "erase", "--bidder", bidder)
    assert refused.exit_code == 1 and "still open" in refused.output, refused.output
    assert samsold(app_stack, "lots", "cancel", lot, "--reason", "withdrawn").exit_code == 0
    erased = samsold(app_stack, "erase", "--bidder", bidder)
    assert erased.exit_code == 0 and "erased: 3 disclosures" in erased.output, erased.output
    assert bob.get(f"/bids/{bid_id}/receipt").status_code == 404
    assert samsold(app_stack, "verify", lot).exit_code == 0
    eventually(lambda: _in_log(app_stack, api, lot, 3, now=True), timeout=60, every=1)
    (tmp_path / "proof.json").write_text(Client(api).get(f"/lots/{lot}/proof").text)
    again = subprocess.run([sys.executable, "-I", str(CHECKER), str(tmp_path / "proof.json"), str(tmp_path / "key.pem")],
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
