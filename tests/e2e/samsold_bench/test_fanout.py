"""`samsold-bench fanout` runs end to end with a few watchers, loses no update and writes
consistent JSON (the latency goals are the benchmark's to show, never a timed test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_bench_fanout_runs_with_few_watchers_and_writes_its_json(tmp_path: Path) -> None:
    output = tmp_path / "fanout.json"
    finished = subprocess.run(
        [sys.executable, "-m", "samsold_bench.main", "fanout", "--watchers", "20", "--bids", "2",
         "--warmup", "1", "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    document = json.loads(output.read_text())
    assert {"benchmark", "stack", "measured_from", "machine", "open_files_limit", "options", "goal", "connect",
            "warmup_bids", "bids", "all_bids", "closed_by_the_stack", "disconnect_drain_seconds", "stack_exit_code",
            "total_seconds"} <= set(document)
    connect = document["connect"]
    assert connect["watchers"] == connect["connected"] == 20 and connect["failed"] == {}
    assert connect["handshake_ms"]["count"] == 20
    assert {"soft_before", "hard", "soft_after", "stack_soft"} <= set(document["open_files_limit"])

    assert len(document["warmup_bids"]) == 1
    bids = document["bids"]
    assert len(bids) == 2
    versions = [bid["version"] for bid in [*document["warmup_bids"], *bids]]
    assert versions == sorted(set(versions))  # one new version per bid
    for bid in bids:
        assert bid["watching"] == bid["received"] == 20 and bid["lost"] == 0
        assert set(bid["decision_to_update_ms"]) == {"count", "p50", "p99", "max"}
        assert bid["decision_to_update_ms"]["p50"] <= bid["decision_to_update_ms"]["p99"] <= bid["decision_to_update_ms"]["max"]
    pooled = document["all_bids"]
    assert pooled["samples"] == 40 and pooled["lost"] == 0 and pooled["decision_to_update_ms"]["count"] == 40
    assert document["closed_by_the_stack"] == 0
    assert document["stack_exit_code"] == 0  # the stack stopped cleanly after the watchers left
