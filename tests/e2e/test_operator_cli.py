"""The operator's `samsold` commands against the running local stack (found through
its data directory's endpoints.json): history, as-of, replay, verify, dispute, dlq."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.domain.commands import LotCommandMessage, PlaceBid, caller_bid_id
from ledger.domain.values import format_time, utc_now
from ledger.dynamodb import event_key, lot_key, to_item
from ledger.dynamodb.table import bid_key
from local.cognito.user_pool import subject_for
from samsold_bench.main import app as bench_app
from samsold_cli.main import app
from tests.e2e.helpers import Client, Watcher, eventually

runner = CliRunner(env={"COLUMNS": "250"})  # wide enough that Rich tables do not fold cells


def samsold(app_stack, *args: str):
    return runner.invoke(app, [*args, "--data-dir", str(app_stack.data_dir)], catch_exceptions=False)


@pytest.fixture(scope="module")
def disputed(app_stack, api, dev_auth):
    """A lot with an accepted bid, a BELOW_MINIMUM rejection, a soft-close extension and a
    LOT_CLOSED rejection of a bid placed after the extended close."""
    seller = Client(api, dev_auth.mint("sally", seller=True))
    alice, bob, carol = (Client(api, dev_auth.mint(name)) for name in ("alice", "bob", "carol"))
    # Every bid is in the window and moves the close to 10 s after itself: the three bids,
    # each waited for, land before the close however loaded the machine (3 s was too short
    # under load: the third bid came after the close and was refused LOT_CLOSED).
    closes = utc_now() + timedelta(seconds=8)
    lot = seller.create_lot(closes_at=format_time(closes), soft_close_window_s=60, soft_close_extension_s=10)
    accepted = alice.bid(lot["lot_id"], "10.00")
    # Placed while Alice's bid still waits in the queue, so the API admits it on the minimum
    # it sees (10.00); the processor decides it after hers (minimum 10.50).
    low = bob.bid(lot["lot_id"], "10.10")
    alice.wait_for_outcome(accepted["bid_id"])
    bob.wait_for_outcome(low["bid_id"])
    extending = bob.bid(lot["lot_id"], "10.50")
    bob.wait_for_outcome(extending["bid_id"])
    extended_close = alice.get(f"/lots/{lot['lot_id']}").json()["closes_at"]
    eventually(lambda: utc_now().isoformat() > extended_close.replace("Z", "+00:00"), timeout=60)
    late = carol.bid(lot["lot_id"], "50.00")
    assert carol.wait_for_outcome(late["bid_id"])["reason"] == "LOT_CLOSED"
    # The sweep closes it soon after: wait, so no test here races the close (replay --fix
    # rightly refuses to overwrite a snapshot that moved on since it was compared).
    eventually(lambda: alice.get(f"/lots/{lot['lot_id']}").json()["status"] == "CLOSED", timeout=30)
    return {"lot": lot["lot_id"], "accepted": accepted["bid_id"], "low": low["bid_id"], "late": late["bid_id"],
            "extended_close": extended_close}


def test_help_lists_every_command_with_one_line():
    result = runner.invoke(app, ["--help"])
    for command in ("dev", "token", "lots", "bid", "watch", "history", "as-of", "replay", "verify", "dispute", "dlq"):
        assert command in result.output
    # The benchmarks are samsold-bench's, not the operator's.
    result = runner.invoke(bench_app, ["--help"])
    for command in ("replay", "load", "processor", "fanout", "close", "capacity"):
        assert command in result.output


def test_history_shows_every_event_with_its_numbers(app_stack, disputed):
    result = samsold(app_stack, "history", disputed["lot"], "--json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert [r["type"] for r in records] == ["LotCreated", "BidPlaced", "BidRejected", "BidPlaced", "BidRejected", "LotClosed"]
    assert records[2]["data"]["reason"] == "BELOW_MINIMUM" and records[2]["data"]["minimum"] == "10.50"
    assert records[3]["data"]["closes_at"] == disputed["extended_close"]
    assert all(r["prev_hash"] == p["hash"] for p, r in zip(records, records[1:], strict=False))
    only_bob = json.loads(samsold(app_stack, "history", disputed["lot"], "--bidder", subject_for("bob"), "--json").output)
    assert [r["version"] for r in only_bob] == [3, 4]
    table = samsold(app_stack, "history", disputed["lot"])
    assert "BELOW_MINIMUM" in table.output and "LOT_CLOSED" in table.output


def test_as_of_by_version_and_time(app_stack, disputed):
    result = samsold(app_stack, "as-of", disputed["lot"], "--version", "2")
    state = json.loads(result.output)
    assert (state["version"], state["current_price"], state["bid_count"]) == (2, "10.00", 1)
    history = json.loads(samsold(app_stack, "history", disputed["lot"], "--json").output)
    at_third = json.loads(samsold(app_stack, "as-of", disputed["lot"], "--time", history[2]["recorded_at"]).output)
    assert at_third["version"] == 3
    assert samsold(app_stack, "as-of", disputed["lot"]).exit_code == 2


def test_dispute_reports(app_stack, disputed, tmp_path):
    accepted = json.loads(samsold(app_stack, "dispute", "--bid", disputed["accepted"], "--auditor", "--json").output)
    assert (accepted["outcome"]["status"], accepted["outcome"]["version"], accepted["outcome"]["minimum"]) == ("ACCEPTED", 2, "10.00")
    assert accepted["lot_state_met"]["version"] == 1 and accepted["verification"]["chain_ok"]
    # The stack's public log is asked: the checkpoint covering the bid's event, or when one will.
    assert accepted["public_log"]["status"] in ("IN_LOG", "NOT_YET_IN_LOG") and accepted["public_log"]["version"] == 2

    low = json.loads(samsold(app_stack, "dispute", "--bid", disputed["low"], "--auditor", "--json").output)
    assert (low["outcome"]["reason"], low["outcome"]["minimum"], low["outcome"]["current_price"]) == ("BELOW_MINIMUM", "10.50", "10.00")
    assert low["lot_state_met"]["leader"] == subject_for("alice")  # --auditor: ids

    late = json.loads(samsold(app_stack, "dispute", "--bid", disputed["late"], "--auditor", "--json").output)
    assert late["outcome"]["reason"] == "LOT_CLOSED"
    assert late["close_time_then"]["in_force"] == disputed["extended_close"]
    assert [x["version"] for x in late["close_time_then"]["extensions_before"]] == [2, 4]  # both bids fell in the window
    assert late["bids_before"][-1]["version"] == 4 and late["bid"]["bidder"] == subject_for("carol")

    report = tmp_path / "dispute.md"
    result = samsold(app_stack, "dispute", "--bid", disputed["late"], "--markdown", str(report))
    assert result.exit_code == 0 and "LOT_CLOSED" in report.read_text()
    # Without --auditor, the report for carol, the bidder: no other bidder's id.
    assert subject_for("alice") not in report.read_text() and subject_for("bob") not in report.read_text()
    assert samsold(app_stack, "dispute", "--bid", "no-such-bid").exit_code == 1


def test_replay_finds_drift_and_fix_repairs_it_and_is_broadcast(app_stack, disputed, api, dev_auth):
    lot_key_ = {"PK": {"S": lot_key(disputed["lot"])}, "SK": {"S": "SNAPSHOT"}}
    dynamodb = app_stack.client("dynamodb")
    table = app_stack.app.outputs["BidsTableName"]
    dynamodb.update_item(TableName=table, Key=lot_key_, UpdateExpression="SET bid_count = :n",
                         ExpressionAttributeValues={":n": {"N": "99"}})
    drifted = samsold(app_stack, "replay", disputed["lot"])
    assert drifted.exit_code == 1 and "bid_count" in drifted.output and "99" in drifted.output
    with Watcher(f"{app_stack.endpoints['websocket']}/?lot_id={disputed['lot']}") as watcher:
        fixed = samsold(app_stack, "replay", disputed["lot"], "--fix")
        assert fixed.exit_code == 0, fixed.output
        watcher.until(lambda _: any(u["bid_count"] == 2 for u in watcher.lot_updates()))
    assert samsold(app_stack, "replay", "--all").exit_code == 0


def test_verify_names_the_first_bad_version(app_stack, api, dev_auth):
    client = Client(api, dev_auth.mint("vera", seller=True))
    dynamodb = app_stack.client("dynamodb")
    table = app_stack.app.outputs["BidsTableName"]
    lots = []
    for _ in range(3):
        lot = client.create_lot()
        for amount in ("10.00", "20.00", "30.00"):
            bidder = Client(api, dev_auth.mint(f"b-{uuid.uuid4().hex[:6]}"))
            bidder.wait_for_outcome(bidder.bid(lot["lot_id"], amount)["bid_id"])
        lots.append(lot["lot_id"])
        assert samsold(app_stack, "verify", lot["lot_id"]).exit_code == 0

    def item(lot_id, version):
        key = {"PK": {"S": lot_key(lot_id)}, "SK": {"S": event_key(version)}}
        return key, dynamodb.get_item(TableName=table, Key=key)["Item"]

    # The stack is shared: the lots are put back as they were after, so the public log's
    # monitor (tests/e2e/test_public_log.py) finds nothing of this test's doing.
    originals = [item(lots[0], 3)[1], item(lots[1], 2)[1], item(lots[2], 3)[1], item(lots[2], 4)[1]]
    try:
        changed_key, changed = item(lots[0], 3)
        state = json.loads(changed["state"]["B"])
        state["sealed"]["amount"] = state["sealed"]["amount"][::-1]  # the bid's maximum, committed to another value
        changed["state"]["B"] = json.dumps(state).encode()
        dynamodb.put_item(TableName=table, Item=changed)
        deleted_key, _ = item(lots[1], 2)
        dynamodb.delete_item(TableName=table, Key=deleted_key)
        _, three = item(lots[2], 3)
        _, four = item(lots[2], 4)
        three["SK"], four["SK"] = four["SK"], three["SK"]
        dynamodb.put_item(TableName=table, Item=three)
        dynamodb.put_item(TableName=table, Item=four)

        for lot_id, bad_version in zip(lots, (3, 2, 3), strict=True):
            result = samsold(app_stack, "verify", lot_id)
            assert result.exit_code == 1 and f"version {bad_version}" in result.output and lot_id in result.output
        everything = samsold(app_stack, "verify", "--all")
        assert everything.exit_code == 1 and all(lot_id in everything.output for lot_id in lots)
    finally:
        for original in originals:
            dynamodb.put_item(TableName=table, Item=original)


def test_dlq_redrive_moves_a_message_back_and_it_is_processed(app_stack, api, dev_auth):
    seller = Client(api, dev_auth.mint("sam", seller=True))
    dora = Client(api, dev_auth.mint("dora"))
    lot = seller.create_lot()
    command = PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot["lot_id"], bidder=subject_for("dora"), amount="12.00", placed_at=utc_now())
    # Its request record, as PlaceBid wrote it when it admitted the bid (without one it is parked).
    request = {"PK": bid_key(command.bid_id), "SK": "REQUEST", **command.model_dump(mode="json")}
    app_stack.client("dynamodb").put_item(TableName=app_stack.app.outputs["BidsTableName"], Item=to_item(request))
    sqs = app_stack.client("sqs")
    sqs.send_message(QueueUrl=app_stack.app.outputs["ProcessBidDeadLetterQueueUrl"],
                     MessageBody=LotCommandMessage(command=command).model_dump_json(),
                     MessageGroupId=lot["lot_id"], MessageDeduplicationId=command.bid_id)
    listed = samsold(app_stack, "dlq", "list")
    # Every dead-letter queue of the template, each by name.
    assert "bids: 1 message" in listed.output and lot["lot_id"] in listed.output
    assert "fan-out: empty" in listed.output and "close-timers: empty" in listed.output
    assert samsold(app_stack, "dlq", "redrive").exit_code == 0
    assert dora.wait_for_outcome(command.bid_id)["status"] == "ACCEPTED"
    assert "bids: empty" in samsold(app_stack, "dlq", "list", "--queue", "bids").output


def test_lots_and_bid_commands(app_stack):
    created = samsold(app_stack, "lots", "create", "--title", "Teapot", "--starting-price", "5.00", "--as", "tess")
    lot = json.loads(created.output)
    assert lot["title"] == "Teapot"
    placed = json.loads(samsold(app_stack, "bid", lot["lot_id"], "5.00", "--as", "ulla", "--no-wait").output)
    assert placed["status"] == "PENDING"
    shown = json.loads(samsold(app_stack, "lots", "show", lot["lot_id"], "--json").output)
    assert shown["lot_id"] == lot["lot_id"]
    table = samsold(app_stack, "lots", "show", lot["lot_id"]).output
    assert "status" in table and "OPEN" in table and "Teapot" in table
    assert lot["lot_id"] in samsold(app_stack, "lots", "list").output
    refused = samsold(app_stack, "bid", lot["lot_id"], "5.001", "--as", "ulla")
    assert refused.exit_code == 1 and "CURRENCY_PRECISION" in refused.output


def test_bid_asks_for_confirm_far_above_the_minimum(app_stack, api, dev_auth):
    lot = json.loads(samsold(app_stack, "lots", "create", "--title", "Jug", "--starting-price", "5.00", "--as", "tess").output)
    key = f"ulla-{uuid.uuid4().hex[:8]}"
    bid_id = caller_bid_id(subject_for("ulla"), key)  # the key is Ulla's own
    asked = samsold(app_stack, "bid", lot["lot_id"], "50.01", "--as", "ulla", "--bid-id", key)
    assert asked.exit_code == 1
    assert "more than 10 times the minimum bid of 5.00 EUR" in asked.output and "--confirm" in asked.output
    ulla = Client(api, dev_auth.mint("ulla"))
    assert ulla.get(f"/bids/{bid_id}").status_code == 404  # nothing recorded
    placed = json.loads(samsold(app_stack, "bid", lot["lot_id"], "50.01", "--as", "ulla", "--bid-id", key, "--confirm",
                                "--no-wait").output)
    assert (placed["bid_id"], placed["status"]) == (bid_id, "PENDING")
    assert ulla.wait_for_outcome(bid_id)["status"] == "ACCEPTED"


def test_commands_need_no_aws_configuration_for_the_local_stack(app_stack, disputed):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"HOME": str(app_stack.data_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "samsold_cli.main", "verify", disputed["lot"], "--data-dir", str(app_stack.data_dir)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_bid_waits_for_its_outcome_and_says_it_in_words(app_stack):
    lot = json.loads(samsold(app_stack, "lots", "create", "--title", "Kettle", "--starting-price", "5.00", "--as", "tess").output)
    leading = samsold(app_stack, "bid", lot["lot_id"], "20.00", "--as", "vic")
    assert leading.exit_code == 0 and "ACCEPTED, leading at 5.00 (your maximum 20.00)" in leading.output
    outbid = samsold(app_stack, "bid", lot["lot_id"], "10.00", "--as", "walt")
    assert outbid.exit_code == 0 and "ACCEPTED but outbid" in outbid.output and "the price is now 10.50" in outbid.output
    # Below even the starting price: refused by the API (asked again of the lot as stored), never queued.
    rejected = samsold(app_stack, "bid", lot["lot_id"], "4.00", "--as", "xena")
    assert rejected.exit_code == 1 and "422 BELOW_MINIMUM" in rejected.output and '"minimum_bid": "11.00"' in rejected.output
    refused = samsold(app_stack, "bid", lot["lot_id"], "15.00", "--as", "vic")  # the leader's lower maximum: queued, rejected
    assert refused.exit_code == 1 and "REJECTED BELOW_OWN_MAXIMUM" in refused.output
    unsigned = samsold(app_stack, "bid", lot["lot_id"], "30.00")
    assert unsigned.exit_code == 2 and "samsold token NAME" in unsigned.output


def test_lots_list_fits_80_columns_without_cutting_ids_or_times(app_stack):
    lot = json.loads(samsold(app_stack, "lots", "create", "--title", "A long title " * 6 + "end", "--starting-price", "5.00",
                             "--as", "tess").output)  # a generated id: tess- and 20 hex digits
    narrow = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["lots", "list", "--data-dir", str(app_stack.data_dir)])
    assert narrow.exit_code == 0 and max(map(len, narrow.output.splitlines())) <= 80
    date, _, time = lot["closes_at"].removesuffix("Z").partition("T")
    assert lot["lot_id"] in narrow.output and date in narrow.output and time in narrow.output


def test_readme_dispute_commands_work_as_written(app_stack, api, dev_auth, tmp_path):
    """README's "Investigating a dispute" (lines naming `sally-vase` and `$BOB_2`), run by a shell
    with `samsold` on its PATH, on the walk-through's lot (with ids of its own here)."""
    seller = Client(api, dev_auth.mint("sally", seller=True, handle="sally"))
    alice, bob = (Client(api, dev_auth.mint(name)) for name in ("alice", "bob"))
    lot_id = f"sally-vase-{uuid.uuid4().hex[:8]}"
    seller.create_lot(lot_id=lot_id, reserve_price="25.00")
    alice.wait_for_outcome(alice.bid(lot_id, "10.00")["bid_id"])
    bob.wait_for_outcome(bob.bid(lot_id, "30.00")["bid_id"])
    bob_2 = bob.bid(lot_id, "28.00")["bid_id"]
    assert bob.wait_for_outcome(bob_2)["reason"] == "BELOW_OWN_MAXIMUM"

    section = Path("README.md").read_text().split("## Investigating a dispute", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [line for line in section.splitlines() if re.search(r"\bsally-vase\b|\$BOB_2\b", line)]
    assert len(lines) >= 8
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "samsold").write_text(f'#!/bin/sh\nexec {sys.executable} -m samsold_cli.main "$@"\n')
    (bin_dir / "samsold").chmod(0o755)
    env = os.environ | {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SAMSOLD_DATA_DIR": str(app_stack.data_dir),
                        "PYTHONPATH": str(Path.cwd()), "COLUMNS": "80"}
    script = f"set -e\nBOB_2={bob_2}\n" + "\n".join(re.sub(r"\bsally-vase\b", lot_id, line) for line in lines)
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Bidder 2" in result.stdout and "BELOW_OWN_MAXIMUM" in (tmp_path / "dispute.md").read_text()
    # The document to send Bob names no other bidder and not Alice's maximum.
    assert subject_for("alice") not in (tmp_path / "dispute.md").read_text()


def test_watch_prints_a_lots_news_signed_in_with_the_token_out_of_the_url(app_stack, api, dev_auth):
    """`samsold watch LOT --as NAME` subscribes as the page does: the token as a subprotocol."""
    lot = Client(api, dev_auth.mint("sally", seller=True)).create_lot()
    watched: dict[str, object] = {}
    watching = threading.Thread(target=lambda: watched.update(
        result=samsold(app_stack, "watch", lot["lot_id"], "--as", "wendy", "--count", "2")))
    watching.start()
    table = app_stack.app.outputs["ConnectionsTableName"]
    eventually(lambda: app_stack.client("dynamodb").query(
        TableName=table, KeyConditionExpression="PK = :pk", ConsistentRead=True,
        ExpressionAttributeValues={":pk": {"S": f"LOT#{lot['lot_id']}"}})["Items"])
    wendy = Client(api, dev_auth.mint("wendy"))
    wendy.bid(lot["lot_id"], "10.00")
    watching.join(60)
    result = watched["result"]
    assert result.exit_code == 0, result.output
    types = {json.loads(line)["type"] for line in result.stdout.splitlines()}  # stderr: "watching ..."
    assert "bid.outcome" in types  # wendy's own news: the token was taken


def test_lots_cancel_and_lists_with_status(app_stack):
    lot = json.loads(samsold(app_stack, "lots", "create", "--title", "Stool", "--starting-price", "5.00", "--as", "tess").output)
    cancelled = samsold(app_stack, "lots", "cancel", lot["lot_id"], "--reason", "withdrawn by the seller")
    assert cancelled.exit_code == 0 and f"lot {lot['lot_id']} CANCELLED" in cancelled.output, cancelled.output
    assert "CANCELLED" in samsold(app_stack, "lots", "show", lot["lot_id"]).output
    closed = samsold(app_stack, "lots", "list", "--status", "closed").output  # most recently ended first
    # An ended lot shows what it became, never OPEN.
    assert [line.split()[1] for line in closed.splitlines() if line.split()[:1] == [lot["lot_id"]]] == ["CANCELLED"], closed
    assert "1 lot, 2 events checked" in samsold(app_stack, "verify", lot["lot_id"]).output


def test_history_reveal_puts_each_id_beside_its_alias_and_wide_is_never_cut(app_stack, api, dev_auth):
    lot = Client(api, dev_auth.mint("sally", seller=True)).create_lot()
    for name, amount in (("alice", "10.00"), ("bob", "12.00")):
        bidder = Client(api, dev_auth.mint(name))
        bidder.wait_for_outcome(bidder.bid(lot["lot_id"], amount)["bid_id"])
    narrow = CliRunner(env={"COLUMNS": "80"})
    revealed = json.loads(samsold(app_stack, "history", lot["lot_id"], "--reveal", "--json").output)
    assert [(r["data"]["bidder"], r["data"]["bidder_alias"]) for r in revealed if r["type"] == "BidPlaced"] == [
        (subject_for("alice"), "Bidder 1"), (subject_for("bob"), "Bidder 2")]
    wide = narrow.invoke(app, ["history", lot["lot_id"], "--wide", "--reveal", "--data-dir", str(app_stack.data_dir)])
    rows = [line for line in wide.output.splitlines() if "BidPlaced" in line]
    assert len(rows) == 2 and all(len(line) > 80 for line in rows), wide.output
    assert f"Bidder 1 ({subject_for('alice')})" in rows[0] and f"Bidder 2 ({subject_for('bob')})" in rows[1]


def test_a_sale_retry_with_first_closes_in_is_refused_and_says_why(app_stack, tmp_path):
    sale_id = f"s{uuid.uuid4().hex[:8]}"
    (tmp_path / "sale.json").write_text(json.dumps({"title": "Retry sale", "interval_s": 60, "lots": [
        {"lot_id": f"seller-{sale_id}-1", "title": "Tea set", "currency": "EUR", "starting_price": "10.00"}]}))
    create = ["sales", "create", str(tmp_path / "sale.json"), "--sale-id", sale_id, "--first-closes-in", "600"]
    first = samsold(app_stack, *create)
    assert first.exit_code == 0 and "1 lot, closing" in first.output, first.output
    again = samsold(app_stack, *create)
    assert again.exit_code == 1 and "409" in again.output and "put first_closes_at in the file" in again.output
    assert f"samsold sales show {sale_id}" in " ".join(again.output.split())
