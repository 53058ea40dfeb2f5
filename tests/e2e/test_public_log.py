"""The public log on the local stack: a bid's events reach the log through the Bids stream
(LogSequencerFunction, under its IAM policy), a checkpoint is signed on demand, the lot's
public proof passes the standalone checker, and a consistent rewrite of the lot in the table
is caught by the monitor and by `samsold log verify`, naming the lot and the version."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from ledger.dynamodb.items import put_event
from samsold_cli.main import app
from samsold_cli.target import resolve_target
from tests.e2e.helpers import Client, eventually

runner = CliRunner(env={"COLUMNS": "250"})
CHECKER = Path(__file__).resolve().parents[2] / "tools" / "check_proof.py"


def samsold(app_stack, *args: str):
    return runner.invoke(app, [*args, "--data-dir", str(app_stack.data_dir)], catch_exceptions=False)


def _in_log(app_stack, api: str, lot_id: str, versions: int) -> bool:
    assert samsold(app_stack, "log", "checkpoint").exit_code in (0, 1)  # 1: nothing sequenced yet
    proof = Client(api).get(f"/lots/{lot_id}/proof")
    return proof.status_code == 200 and len(proof.json()["events"]) == versions


def test_from_a_bid_to_a_proof_checked_without_samsold_and_a_rewrite_caught(app_stack, api, dev_auth, tmp_path) -> None:
    seller, alice = Client(api, dev_auth.mint("sally")), Client(api, dev_auth.mint("alice"))
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
    assert samsold(app_stack, "log", "monitor", "--state", state).exit_code == 0

    _rewrite_amount(app_stack, lot, version=2, amount="11.00")
    assert samsold(app_stack, "verify", lot).exit_code == 0  # the chain alone sees nothing
    against_log = samsold(app_stack, "log", "verify", lot)
    assert against_log.exit_code == 1 and f"lot {lot} version 2" in against_log.output
    alice.wait_for_outcome(alice.bid(lot, "20.00")["bid_id"])
    eventually(lambda: _in_log(app_stack, api, lot, 4), timeout=60, every=1)
    monitored = samsold(app_stack, "log", "monitor", "--state", state)
    assert monitored.exit_code == 1 and f"lot {lot} version 2" in monitored.output, monitored.output
    stale = runner.invoke(app, ["verify-proof", str(tmp_path / "proof.json"), "--key", str(tmp_path / "key.pem")])
    assert stale.exit_code == 0  # the proof taken before the rewrite still holds: it is the evidence


def _rewrite_amount(app_stack, lot_id: str, version: int, amount: str) -> None:
    """Rewrite the lot in the Bids table as an insider could: the amount, every later hash, the head."""
    target = resolve_target(app_stack.data_dir)
    service = target.app
    events = list(service.queries.lot_events(lot_id))
    prev_hash = events[version - 2].hash
    client = service.commands.store.client  # type: ignore[attr-defined]
    for event in events[version - 1 :]:
        changes: dict[str, object] = {"prev_hash": prev_hash, "hash": ""}
        if event.version == version:
            changes["amount"] = Decimal(amount)
        event = dataclasses.replace(event, **changes)  # type: ignore[arg-type]
        prev_hash = event.hash
        client.put_item(**{k: v for k, v in put_event(target.output("BidsTableName"),
                                                       service.commands.mapper.to_stored_event(event))["Put"].items()
                           if k != "ConditionExpression"})
    client.update_item(TableName=target.output("BidsTableName"), Key={"PK": {"S": f"LOT#{lot_id}"}, "SK": {"S": "SNAPSHOT"}},
                       UpdateExpression="SET head_hash = :h", ExpressionAttributeValues={":h": {"S": prev_hash}})
