"""tools/check_proof.py, the standalone checker, run as a third party would: a separate Python
process given only the proof, the key and a trusted checkpoint, on proofs the log made."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ledger.domain.commands import CreateLot, PlaceBid
from tests.support.app import build_test_app, execute_one
from tests.support.public_log import memory_log
from tests.support.rewrite import rewrite_bid_amount
from tlog import checkpoint

SCRIPT = Path(__file__).parents[3] / "tools" / "check_proof.py"
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_it_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(SCRIPT.read_text())
    modules = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    modules |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert modules - set(sys.stdlib_module_names) == {"cryptography"}


def _run(*args: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd="/")


def test_the_standalone_checker_accepts_a_proof_and_names_a_rewritten_version(tmp_path: Path) -> None:
    app = build_test_app(clock=lambda: START)
    log = memory_log(app, tmp_path)
    lot = f"lot-{uuid.uuid4().hex[:8]}"
    app.lots.create_lot(CreateLot(lot_id=lot, title="Vase", currency="EUR", starting_price="10.00", opens_at=START,
                                  closes_at=START + timedelta(minutes=10)), seller="sam")
    for i in range(3):
        execute_one(app.commands, PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot, bidder=f"b{i}", amount=f"{20 + 10 * i}.00",
                                           placed_at=START))
    log.sequence([lot])
    trusted = log.publish()
    assert trusted is not None and log.signer is not None
    (tmp_path / "key.pem").write_text(checkpoint.public_key_pem(log.signer.public_key_der()))
    (tmp_path / "trusted").write_text(trusted)
    (tmp_path / "proof.json").write_text(json.dumps(log.lot_proof(lot)))
    ok = _run(tmp_path / "proof.json", tmp_path / "key.pem", tmp_path / "trusted")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"lot {lot}: versions 1-4 are in the log {log.origin} at size 4"

    rewrite_bid_amount(app, lot, 3, "31.00")
    (tmp_path / "rewritten.json").write_text(json.dumps(log.lot_proof(lot)))
    refused = _run(tmp_path / "rewritten.json", tmp_path / "key.pem", tmp_path / "trusted")
    assert refused.returncode == 1 and f"lot {lot} version 3" in refused.stderr
