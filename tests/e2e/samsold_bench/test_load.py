"""`samsold-bench load` runs end to end with a few clients and writes its JSON (the speed
goals are the benchmark's to show, never a timed test). Its stack runs two workers a
function, so the burst is larger than PlaceBid's concurrency: a bid no worker could start
in time is throttled (429, sent again after Retry-After), none is left to time out (504)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_bench_load_runs_with_few_clients_and_writes_its_json(tmp_path: Path) -> None:
    output = tmp_path / "load.json"
    finished = subprocess.run(
        [sys.executable, "-m", "samsold_bench.main", "load", "--clients", "20", "--lots", "2", "--watchers", "6",
         "--crowd", "12", "--rates", "10", "--step-seconds", "1", "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "SAMSOLD_FUNCTION_CONCURRENCY": "2"},
    )

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    document = json.loads(output.read_text())
    assert {"benchmark", "machine", "options", "watchers", "crowd", "burst", "phases", "highest_sustained_bids_per_s",
            "consistency", "total_seconds"} <= set(document)
    assert document["watchers"] == {"connections": 6, "lots": 2}
    phase_keys = {"bids_sent", "answered_202", "first_http_statuses", "sends", "intake_bids_per_s", "refused_connections", "dropped_connections",
                  "timed_out", "http_4xx", "http_5xx", "http_statuses", "accepted", "rejected", "undecided_after_202",
                  "receipt_to_decision_ms", "post_to_websocket_update_ms", "updates_never_shown",
                  "stack_cpu_ms_per_bid_by_process"}
    crowd = document["crowd"]
    assert (crowd["connections"], crowd["connected"], crowd["refused"], crowd["timed_out"]) == (12, 12, 0, 0)
    assert set(crowd["handshake_ms"]) == {"count", "p50", "p99", "max"}
    # The crowd's one bid reached each of the 12 (a watcher of each lot saw every bid of the others).
    assert crowd["one_bid"]["post_to_websocket_update_ms"]["count"] == 12
    burst = document["burst"]
    assert phase_keys <= set(burst)
    assert sum(burst["http_statuses"].values()) == burst["answered_202"] + burst["http_4xx"] + burst["http_5xx"]
    assert burst["bids_sent"] == 20
    assert burst["answered_202"] + burst["http_4xx"] + burst["http_5xx"] + burst["refused_connections"] \
        + burst["dropped_connections"] + burst["timed_out"] == 20
    # Only 202s, throttles and bids already below the minimum (a higher one decided first),
    # first and last; no 5xx; every bid that got a 202 decided.
    assert set(burst["first_http_statuses"]) <= {"202", "422", "429"}
    assert set(burst["http_statuses"]) <= {"202", "422", "429"} and burst["answered_202"] + burst["http_4xx"] == 20
    assert burst["sends"] >= 20 + burst["first_http_statuses"].get("429", 0)  # each throttled bid sent again
    assert burst["undecided_after_202"] == 0 and burst["accepted"] + burst["rejected"] == burst["answered_202"]
    (step,) = document["phases"]
    assert phase_keys | {"target_bids_per_s", "sustained"} <= set(step)
    assert set(step["receipt_to_decision_ms"]) == {"count", "p50", "p99", "max"}
    consistency = document["consistency"]
    assert consistency["ok"] and consistency["verify_clean"] and consistency["replay_clean"]
    assert consistency["accepted_bids"] == crowd["one_bid"]["accepted"] + burst["accepted"] + step["accepted"]
