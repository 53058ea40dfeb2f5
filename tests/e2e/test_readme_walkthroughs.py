"""README.md's walk-throughs run as written: every `sh` block of their sections, in order, in
one fresh shell (no venv on its PATH, no variables but the data directory's) in a directory
beside the project's venv, against one stack of their own (they assume a new `make run`:
lot ids such as `sally-vase`, `verify --all` over every lot). A block that starts
"# in a third terminal" runs in the background for the rest, fed by a pipe, as a reader's
other terminal would.

Only the URLs change (the stack's ports are free ones, not 3000 and 3001), and the shell
waits for a bid's outcome where the README reads it (`curl ... /bids/ID` asked again while
PENDING), as a reader typing the next line does.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import requests

from tests.conftest import local_app_stack

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
WALKTHROUGHS = ("Try it", "A proxy duel", "Buy it now", "Running a sale", "A sale by approval", "Investigating a dispute")
# Sections whose `sh` blocks are not walk-throughs on a running stack, and why.
NOT_WALKTHROUGHS = {
    "Quickstart": "it starts the stack and the suite",
    "Deploying to AWS": "it needs an AWS account",
    "Proving a lot's history": "it waits for the log's sequencer and rewrites a lot's stored events; "
                               "tests/e2e/test_public_log.py runs its steps on the shared stack",
}
BACKGROUND = "# in a third terminal"

# A reader reads a bid's outcome after it is decided: ask again while it is PENDING.
WAIT_FOR_OUTCOMES = r"""
curl() {
  local out tries=0
  out=$(command curl "$@") || return
  case " $* " in
    *" -X "*) ;;
    *"/bids/"*)
      while [[ $out == *'"PENDING"'* && $tries -lt 300 ]]; do sleep 0.2; tries=$((tries + 1)); out=$(command curl "$@"); done ;;
  esac
  printf '%s\n' "$out"
}
"""


def sh_blocks() -> list[tuple[str, str]]:
    """(section, block) for every ```sh block of README.md, in order; a ### section belongs
    to the ## section it is in."""
    found = []
    for section in re.split(r"^## ", README.read_text(), flags=re.MULTILINE)[1:]:
        title = section.split("\n", 1)[0]
        found += [(title, block) for block in re.findall(r"^```sh\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)]
    return found


def test_every_sh_block_is_a_walkthrough_or_named_as_not_one():
    titles = {title for title, _ in sh_blocks()}
    assert all(title.startswith(WALKTHROUGHS + tuple(NOT_WALKTHROUGHS)) for title in titles), titles
    assert all(any(title.startswith(name) for title in titles) for name in WALKTHROUGHS)


@pytest.fixture(scope="module")
def walkthrough_stack(tmp_path_factory):
    yield from local_app_stack(tmp_path_factory)


def test_readme_walkthroughs_run_as_written(walkthrough_stack, tmp_path):
    rest, websocket = walkthrough_stack.endpoints["rest"], walkthrough_stack.endpoints["websocket"]
    (tmp_path / ".venv").symlink_to(REPO / ".venv")  # "in the project's directory", without writing there
    script = ["set -euo pipefail", WAIT_FOR_OUTCOMES, "mkfifo watcher.in", "exec 3<>watcher.in"]
    for title, block in sh_blocks():
        if not title.startswith(WALKTHROUGHS):
            continue
        block = block.replace("http://127.0.0.1:3000", rest).replace("ws://127.0.0.1:3001", websocket)
        if block.startswith(BACKGROUND):
            script += [f"( {block} ) <watcher.in >watcher.out 2>&1 &", "WATCHER=$!",
                       # connected before the next line ("watching lot ..." on stderr), so it sees every change
                       "for _ in $(seq 300); do [ -s watcher.out ] && break; sleep 0.1; done"]
        else:
            script.append(block)
    script.append("exec 3>&-; pkill -P $WATCHER || true; kill $WATCHER 2>/dev/null || true")  # the third terminal closed
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "COLUMNS": "80",
                   "SAMSOLD_DATA_DIR": str(walkthrough_stack.data_dir)}
    result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = " ".join(result.stdout.split())  # tables and sentences wrapped at 80 columns
    # What the README's comments say each step gives.
    for expected in (
        '"code": "BELOW_MINIMUM"', '"minimum_bid": "10.50"',  # Bob's 9.00 after Alice's bid was decided
        '"reason":"BELOW_OWN_MAXIMUM"',  # bob-2
        '"current_price":"20.50"', '"minimum":"61.00"',  # the proxy duel
        '"code": "LOT_CLOSED"', '"sale_id":"spring"',  # buy it now, the sale
        "ACCEPTED, leading at 20.00", "sale spring: Spring sale",
        "retracted; lot sally-vase now at 10.00 EUR, leader Bidder 1",  # the retraction of bob-1
        '"code": "NOT_REGISTERED"', '"status":"PENDING","paddle":null',  # the sale by approval
        "APPROVED, Paddle 1, limit 30.00 EUR", '"reason":"LIMIT_EXCEEDED"', "ACCEPTED, leading at 20.50",
        '"leader":"Paddle 2"',
    ):
        assert expected in out, f"{expected!r} not in:\n{out[-6000:]}"
    assert re.search(r'"lot_id":"sally-globe","amount":"80.00"[^}]*"status":"ACCEPTED"', out), out[-6000:]  # bob buys it
    assert '"reason":"BELOW_MINIMUM"' not in out  # refused at once, never queued and rejected
    dispute = (tmp_path / "dispute.md").read_text()
    assert "BELOW_OWN_MAXIMUM" in dispute and "as event version 4" in dispute, dispute  # "it is version 4"
    # Every lot the walk-throughs create has a title of its own: the list never shows two of one.
    listed = requests.get(f"{rest}/lots?status=all&limit=100", timeout=30).json()
    titles = [lot["title"] for lot in listed.get("items", listed.get("lots"))]
    assert len(titles) >= 6 and len(set(titles)) == len(titles), titles
    assert '"type": "lot.updated"' in (tmp_path / "watcher.out").read_text().replace('":"', '": "')
