"""`samsold-bench processor` runs end to end on a few batches and writes consistent JSON
(the ratio goal is the benchmark's to show, never a timed test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_bench_processor_runs_on_few_batches_and_writes_its_json(tmp_path: Path) -> None:
    output = tmp_path / "processor.json"
    finished = subprocess.run(
        [sys.executable, "-m", "samsold_bench.main", "processor", "--lots", "2", "--rounds", "2",
         "--batches", "3", "--warmup", "1", "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    document = json.loads(output.read_text())
    assert {"benchmark", "engine", "machine", "options", "workload", "handler", "baseline", "ratio",
            "total_seconds"} <= set(document)
    workload = document["workload"]
    assert workload["batches"] == 6 and workload["bids"] == 60 and workload["warmup_batches_excluded"] == 1
    assert workload["undecided"] == 0 and workload["failed_records"] == 0
    assert workload["accepted"] + workload["rejected"] == 60
    assert workload["accepted"] > workload["rejected"]  # bids that mostly get accepted
    assert sum(workload["rejected_by_reason"].values()) == workload["rejected"]

    handler = document["handler"]
    calls = handler["dynamodb_calls"]
    assert calls.get("TransactWriteItems", 0) >= 6  # every batch writes
    assert set(handler["dynamodb_calls_per_batch"]) == set(calls)
    for operation, count in calls.items():
        assert handler["dynamodb_calls_per_batch"][operation] == pytest.approx(count / 6, abs=0.001)
    assert handler["transactions_per_batch"] >= 1
    items = handler["items_per_transaction"]
    assert 10 <= items["min"] <= items["median"] <= items["max"] <= 100  # an event per bid at least; DynamoDB's limit

    assert len(handler["bids_per_s_by_round"]) == len(document["baseline"]["bids_per_s_by_round"]) == 2
    assert handler["bids_per_s"] > 0 and document["baseline"]["bids_per_s"] > 0
    ratio = document["ratio"]
    assert len(ratio["by_round"]) == 2 and all(r > 0 for r in ratio["by_round"])
    assert ratio["median"] > 0 and ratio["goal_at_least"] == 0.9
    assert ratio["meets_goal"] == (ratio["median"] >= 0.9)
