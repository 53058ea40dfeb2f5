"""`samsold-bench close` runs end to end with a few lots, one of them extended by a late bid,
closes them all and writes consistent JSON (the close-lag goal is the benchmark's to show,
never a timed test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_bench_close_runs_with_few_lots_and_writes_its_json(tmp_path: Path) -> None:
    output = tmp_path / "close.json"
    finished = subprocess.run(
        # Three lots closing at once, the last extended by a late bid by 5 s (not 15): every path, in
        # about 15 s after the stack is up; 8 s leaves time to create and watch them on a loaded machine.
        [sys.executable, "-m", "samsold_bench.main", "close", "--lots", "3", "--first-in", "8", "--spread", "0",
         "--extend-every", "3", "--soft-close-extension", "5", "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    document = json.loads(output.read_text())
    assert {"benchmark", "stack", "measured_from", "machine", "options", "close_grace_s", "goal", "lots", "closed",
            "not_closed", "late_bids", "extended", "close_lag_s", "p95_within_goal", "stack_exit_code",
            "total_seconds"} <= set(document)
    assert (document["lots"], document["closed"], document["not_closed"]) == (3, 3, [])
    assert document["late_bids"] == document["extended"] == 1  # the late bid moved its lot's close time
    assert document["close_grace_s"] > 0
    for lags in document["close_lag_s"].values():
        assert lags["count"] == 3
        # Never before the close time plus the grace: bids placed in time were ahead of the close.
        assert document["close_grace_s"] <= lags["p50"] <= lags["p95"] <= lags["max"]
    assert isinstance(document["p95_within_goal"], bool)
    assert document["stack_exit_code"] == 0
