"""`samsold iam report`: per function, the permissions no recorded call used; exit 1 when
one has no reason in its statement, 2 when the stack never recorded anything there. And
`samsold dev --no-iam` turns the check off."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from samsold_cli.main import app

REPO = Path(__file__).resolve().parents[3]
TABLE = "arn:aws:dynamodb:us-east-1:000000000000:table/BidsTable"


def test_lists_what_nothing_used_and_fails_without_a_reason(tmp_path: Path) -> None:
    (tmp_path / "iam-usage.json").write_text(json.dumps({"used": {
        "CloseTimerFunction": [["dynamodb:GetItem", TABLE]]}, "denied": []}))
    result = CliRunner().invoke(app, ["iam", "report", "--data-dir", str(tmp_path),
                                      "--template", str(REPO / "template.yaml")])
    assert result.exit_code == 1, result.output
    assert "CloseTimerFunction:" in result.output
    assert "QueueCloseCommands: sqs:SendMessage on arn:aws:sqs:us-east-1:000000000000:ProcessBidQueue.fifo" in result.output
    assert "ReadTimedLots" not in result.output  # used
    assert "(kept: " in result.output  # FanOutFunction's drop of gone watchers says why it stays


def test_without_a_usage_record_it_says_how_to_get_one(tmp_path: Path) -> None:
    # Wide enough that the temporary folder's path, however deep, is not folded.
    result = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["iam", "report", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "iam-usage.json" in result.output


def test_dev_no_iam_starts_the_stack_without_the_check(tmp_path: Path, monkeypatch) -> None:
    import local.runtime

    started: list[dict] = []

    class Refusing:
        def __init__(self, *args, **kwargs) -> None:
            started.append(kwargs)

        def start(self) -> None:
            raise OSError("not started in a unit test")

    monkeypatch.setattr(local.runtime, "LocalStack", Refusing)
    monkeypatch.setattr("signal.signal", lambda *_: None)  # `dev` would take over this process's Ctrl-C
    for flags, expected in (([], True), (["--no-iam"], False)):
        result = CliRunner().invoke(app, ["dev", "--data-dir", str(tmp_path), *flags])
        assert result.exit_code == 1, result.output
        assert started[-1]["iam"] is expected
    # Host names to answer besides the machine's own (a tunnel's) reach the stack too.
    flags = ["--allowed-host", "a.tunnel.example", "--allowed-host", "b.tunnel.example"]
    CliRunner().invoke(app, ["dev", "--data-dir", str(tmp_path), *flags])
    assert started[-1]["allowed_hosts"] == ("a.tunnel.example", "b.tunnel.example")

