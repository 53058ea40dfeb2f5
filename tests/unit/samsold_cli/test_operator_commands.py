"""The operator's commands on the in-memory recorder (no stack, no Java): bidders by
alias, every "found nothing" an error, output within 80 columns, and the README's
commands runnable as written."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from bootstrap import App
from ledger.domain.commands import CreateLot, PlaceBid
from samsold_cli import audit
from samsold_cli.main import app, closing_summary, start_summary
from samsold_cli.ops import outcome_words
from tests.support.app import build_test_app, execute_one

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ALICE, BOB, CAROL = "8bfa837e-cbbe-5f59-b274-2ef522b3e42f", "89290a5d-45e8-5feb-aeaa-610eefd2174c", "c0ffee00-0000-5000-8000-000000000003"
runner = CliRunner(env={"COLUMNS": "80"})
README = Path(__file__).parents[3] / "README.md"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def ledger(monkeypatch) -> App:
    """A lot "vase" as in the README: Alice 10.00, Bob's 10.25 below the minimum (bob-1),
    Bob's maximum 30.00, Carol's 20.00 answered by it; Carol never led, so only after
    her accepted bid has she an alias."""
    clock = Clock()
    application = build_test_app(clock=clock)
    application.lots.create_lot(
        CreateLot(lot_id="vase", title="Blue vase", currency="EUR", starting_price="10.00",
                  opens_at=START, closes_at=START + timedelta(minutes=10)), seller="sally")
    for minute, (bidder, amount, bid_id) in enumerate(
        ((ALICE, "10.00", "a-1"), (BOB, "10.25", "bob-1"), (BOB, "30.00", "b-2"), (CAROL, "5.00", "c-1"), (CAROL, "20.00", "c-2")), 1
    ):
        clock.now = START + timedelta(minutes=minute)
        execute_one(application.commands, PlaceBid(bid_id=bid_id, lot_id="vase", bidder=bidder, amount=amount, placed_at=clock.now))
    monkeypatch.setattr(audit, "ledger_target", lambda *_: SimpleNamespace(app=application))
    return application


def samsold(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_history_names_bidders_by_alias_and_ids_only_with_reveal(ledger):
    table = samsold("history", "vase")
    assert table.exit_code == 0, table.output
    assert "Bidder 1" in table.output and "Bidder 2" in table.output and "Bidder 3" in table.output
    assert ALICE not in table.output and BOB not in table.output and "sally" not in table.output
    revealed = samsold("history", "vase", "--reveal")
    assert re.search(rf"Bidder 2\s+{BOB}", revealed.output) and re.search(r"seller\s+sally", revealed.output)
    records = json.loads(samsold("history", "vase", "--json").output)
    assert [r["data"].get("bidder") for r in records[1:]] == ["Bidder 1", "Bidder 2", "Bidder 2", "Bidder 3", "Bidder 3"]
    assert json.loads(samsold("history", "vase", "--json", "--reveal").output)[2]["data"]["bidder"] == BOB


@pytest.mark.parametrize("given", ["Bidder 2", "bidder 2", "2", BOB])
def test_history_bidder_takes_an_alias_or_an_id(ledger, given):
    result = samsold("history", "vase", "--bidder", given, "--json")
    assert result.exit_code == 0, result.output
    assert [r["version"] for r in json.loads(result.output)] == [3, 4]


@pytest.mark.parametrize("given", ["bob", "Bidder 9", "7"])
def test_history_unknown_bidder_is_an_error_that_says_so(ledger, given):
    result = samsold("history", "vase", "--bidder", given)
    assert result.exit_code == 1
    assert f"no bidder {given!r} on lot 'vase'" in result.output and "Bidder 1, Bidder 2, Bidder 3" in result.output


def test_history_fits_80_columns_one_line_per_event(ledger):
    result = samsold("history", "vase")
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "closes 2030-01-01 12:10:00" in result.output  # another day than the title's: with its date
    for version, what in ((3, "BELOW_MINIMUM (min 10.50)"), (5, "BELOW_MINIMUM (min 11.00)"), (6, "OUTBID")):
        assert any(re.match(rf"\s*{version}\s.*{re.escape(what)}\s*$", line) for line in lines), result.output


@pytest.mark.parametrize(("args", "message"), [
    (["history", "nosuch"], "no lot 'nosuch'"),
    (["as-of", "nosuch", "--version", "1"], "no lot 'nosuch'"),
    (["as-of", "vase", "--version", "99"], "lot 'vase' has no version 99: its last is 6"),
    (["as-of", "vase", "--time", "2020-01-01T00:00:00Z"], "lot 'vase' did not exist at 2020-01-01T00:00:00.000Z"),
    (["verify", "nosuch"], "no lot 'nosuch'"),
    (["replay", "nosuch"], "no lot 'nosuch'"),
    (["dispute", "--bid", "nosuch"], "there is no such bid"),
])
def test_a_command_that_finds_nothing_exits_1_and_says_so(ledger, args, message):
    result = samsold(*args)
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split())


def test_as_of_at_the_last_version_and_within_the_lot_s_life(ledger):
    assert json.loads(samsold("as-of", "vase", "--version", "6").output)["version"] == 6
    last = json.loads(samsold("history", "vase", "--json").output)[-1]["recorded_at"]
    assert json.loads(samsold("as-of", "vase", "--time", last).output)["version"] == 6


def test_bid_without_a_bidder_says_how_to_get_a_token():
    result = samsold("bid", "vase", "11.00", "--data-dir", "/nonexistent")
    assert result.exit_code == 2
    assert "--as NAME" in result.output and "samsold token NAME" in " ".join(result.output.split())


def test_a_bid_s_outcome_in_words():
    leading = {"status": "ACCEPTED", "leading": True, "amount": "30.00", "current_price": "10.50"}
    assert outcome_words(leading) == ("ACCEPTED, leading at 10.50 (your maximum 30.00)", 0)
    outbid, code = outcome_words(leading | {"leading": False, "amount": "20.00", "current_price": "21.00"})
    assert code == 0 and outbid.startswith("ACCEPTED but outbid") and "21.00" in outbid
    rejected, code = outcome_words({"status": "REJECTED", "reason": "BELOW_MINIMUM", "minimum": "10.50", "current_price": "10.00"})
    assert code == 1 and rejected.startswith("REJECTED BELOW_MINIMUM (minimum bid 10.50, price 10.00): the amount was below")
    assert outcome_words({"status": "PENDING", "bid_id": "b"})[1] == 1


def without_paths(lines: list[str], data_dir) -> list[str]:
    """The summary's lines as a reader measures them: the data directory and the venv's bin
    folder are as long as the place the clone sits in, so each counts as one short word."""
    bin_dir = str(Path(sys.executable).parent)
    return [line.replace(str(data_dir), "DATA").replace(bin_dir, "BIN") for line in lines]


def test_dev_prints_a_short_summary_and_details_only_when_verbose(tmp_path):
    endpoints = {"rest": "http://127.0.0.1:3000", "websocket": "ws://127.0.0.1:3001", "sqs": "http://127.0.0.1:1",
                 "dynamodb": "http://127.0.0.1:2", "websocket_management": "http://127.0.0.1:3000/prod"}
    short = start_summary(endpoints, tmp_path, 51, verbose=False)
    assert len(short) <= 9 and all(len(line) <= 100 for line in without_paths(short, tmp_path))
    assert any("http://127.0.0.1:3000" in line for line in short) and not any("dynamodb" in line for line in short)
    assert any(str(tmp_path) in line for line in short) and "Ctrl-C" in short[-1]
    assert any("dynamodb" in line for line in start_summary(endpoints, tmp_path, 51, verbose=True))


def test_dev_prints_the_run_secret_admin_dev_tokens_need(tmp_path):
    endpoints = {"rest": "http://127.0.0.1:3000", "websocket": "ws://127.0.0.1:3001"}
    lines = start_summary(endpoints, tmp_path, 51, verbose=False, run_secret="s3cr3t-of-this-run")
    [line] = [line for line in lines if "s3cr3t-of-this-run" in line]
    assert "run_secret" in line and len(line) <= 100


def test_dev_says_when_iam_is_not_enforced(tmp_path):
    endpoints = {"rest": "http://127.0.0.1:3000", "websocket": "ws://127.0.0.1:3001"}
    assert not any("IAM" in line for line in start_summary(endpoints, tmp_path, 51, verbose=False))
    [line] = [line for line in start_summary(endpoints, tmp_path, 51, verbose=False, iam=False) if "IAM" in line]
    assert "not enforced (--no-iam)" in line


def test_dev_says_when_lots_close(tmp_path):
    endpoints = {"rest": "http://127.0.0.1:3000", "websocket": "ws://127.0.0.1:3001"}
    closing = closing_summary(8, None)
    short = start_summary(endpoints, tmp_path, 51, verbose=False, closing=closing)
    assert len(short) <= 9 and all(len(line) <= 100 for line in without_paths(short, tmp_path))
    [line] = [line for line in short if "lots close" in line]
    assert "8 s after closes_at" in line and "every 60 s" in line
    assert "every 1.5 s" in closing_summary(1, 1.5)


def test_readme_says_how_to_reach_samsold_before_its_first_use():
    """A new shell does not search .venv/bin: the README puts it on the PATH before any
    bare `samsold` command."""
    text = README.read_text()
    first_use = re.search(r"^(?:[A-Z]+=\$\()?samsold ", text, re.MULTILINE)
    assert first_use is not None
    assert 'export PATH="$PWD/.venv/bin:$PATH"' in text[: first_use.start()]


def test_readme_as_of_example_is_the_state_the_disputed_bid_met(monkeypatch):
    """README's "Investigating a dispute": `as-of --version N` is the lot as Bob's disputed
    bid met it (the walk-through: Alice 10.00, Bob's maximum 30.00, then his 28.00)."""
    clock = Clock()
    application = build_test_app(clock=clock)
    application.lots.create_lot(CreateLot(lot_id="vase", title="Blue vase", currency="EUR", starting_price="10.00",
                                          reserve_price="25.00", opens_at=START, closes_at=START + timedelta(minutes=10)),
                                seller="sally")
    for minute, (bidder, amount, bid_id) in enumerate(((ALICE, "10.00", "a-1"), (BOB, "30.00", "b-1"), (BOB, "28.00", "b-2")), 1):
        clock.now = START + timedelta(minutes=minute)
        execute_one(application.commands, PlaceBid(bid_id=bid_id, lot_id="vase", bidder=bidder, amount=amount, placed_at=clock.now))
    monkeypatch.setattr(audit, "ledger_target", lambda *_: SimpleNamespace(app=application))
    section = README.read_text().split("## Investigating a dispute", 1)[1]
    version = int(re.search(r"samsold as-of sally-vase --version (\d+)", section).group(1))
    met = json.loads(samsold("dispute", "--bid", "b-2", "--json").output)
    assert (met["outcome"]["reason"], met["lot_state_met"]["version"]) == ("BELOW_OWN_MAXIMUM", version)




def test_registrations_verify_and_as_of_read_the_registration_s_events(ledger):
    from ledger.domain.registration import registration_id

    lot = ledger.lots.create_lot(CreateLot(lot_id="chest", title="Oak chest", currency="EUR", starting_price="10.00",
                                           opens_at=START, closes_at=START + timedelta(minutes=10), registration="approval"),
                                 seller="sally")
    scope = ledger.registrations.lot_scope(lot.lot_id)
    ledger.registrations.register(scope, ALICE)
    ledger.registrations.approve(scope, ALICE, "sally", False, None)
    assert "2 events checked; intact" in samsold("registrations", "verify", "alice", "--lot", "chest").output
    assert json.loads(samsold("registrations", "as-of", "alice", "--lot", "chest", "--version", "1").output)["status"] == "PENDING"
    ledger.queries.store._registrations[registration_id(scope.key, ALICE)]["status"] = "DECLINED"  # type: ignore[attr-defined]
    broken = samsold("registrations", "verify", "alice", "--lot", "chest")
    assert broken.exit_code == 1 and "not the fold of the events" in broken.output
