"""`samsold-bench replay` (replay and verification throughput) runs end to end on a small lot
set and writes its JSON: a benchmark nobody runs breaks without anyone noticing."""

from __future__ import annotations

import json
import uuid

from typer.testing import CliRunner

from samsold_bench.main import app


def test_the_replay_benchmark_runs_and_writes_its_results(tmp_path, dynamodb_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    table = f"bench-{uuid.uuid4().hex[:8]}"
    from bootstrap import build

    assert build({"BIDS_TABLE": table, "CREATE_TABLE": "y", "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint})  # makes the table
    output = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app, ["replay", "--events", "40", "--lots", "3", "--events-per-lot", "5", "--workers", "2",
              "--output", str(output), "--bids-table", table],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(output.read_text())
    assert document["benchmark"] == "samsold replay/verify" and document["engine"] == "given table"
    results = document["results"]
    assert results["decide_and_write_bids_per_s"] > 0
    assert results["replay_one_lot"]["events"] == results["verify_one_lot"]["events"] == 40
    assert results["replay_all"]["events"] == results["verify_all"]["events"] == 3 * 5
