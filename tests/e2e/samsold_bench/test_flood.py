"""`samsold-bench flood` runs end to end, briefly, against the tests' stack (whose limits are
lifted: the quotas' refusals are the unit tests'), and writes its JSON; its latencies are
the benchmark's to show, never a timed test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_bench_flood_runs_briefly_and_writes_what_each_user_got(app_stack, tmp_path: Path) -> None:
    output = tmp_path / "flood.json"
    finished = subprocess.run(
        [sys.executable, "-m", "samsold_bench.main", "flood", "--data-dir", str(app_stack.data_dir), "--flooders", "4",
         "--flood-seconds", "1", "--baseline-seconds", "1", "--steady-rate", "2", "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )

    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    document = json.loads(output.read_text())
    assert {"benchmark", "machine", "options", "flooder", "steady_bidder", "total_seconds"} <= set(document)
    flooder = document["flooder"]
    assert flooder["requests"] == sum(flooder["statuses"].values()) == (
        flooder["answered_202"] + flooder["answered_429"] + flooder["answered_otherwise"])
    assert flooder["answered_202"] >= 1  # its climbing bids pass admission, at least the first ones
    for phase in ("alone", "during_flood"):
        steady = document["steady_bidder"][phase]
        assert steady["statuses"] == {"202": steady["bids_sent"]}
        assert steady["undecided"] == 0
        assert set(steady["post_to_answer_ms"]) == {"count", "p50", "p99", "max"}
