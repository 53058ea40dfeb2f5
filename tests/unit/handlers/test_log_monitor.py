"""LogMonitorFunction on the in-memory recorder: each run checks the newest checkpoint against
the last one it accepted (kept in its own state) and fails, naming the lot and the version,
when stored events differ from the log or the log itself is refused."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bootstrap import App
from handlers.log_monitor import LogMismatch, handler
from ledger.domain.commands import CreateLot, PlaceBid
from ledger.service.public_log import PublicLog, monitor_once
from tests.support.app import build_test_app, execute_one
from tests.support.events import FakeContext
from tests.support.public_log import MemoryMonitorState, memory_log
from tests.support.rewrite import rewrite_bid_amount
from tlog import checkpoint, merkle

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path) -> App:
    plain = build_test_app(clock=lambda: START)
    return build_test_app(commands=plain.commands, public_log=memory_log(plain, tmp_path),
                          log_monitor_state=MemoryMonitorState())


def bid(app: App, lot_id: str, amount: str) -> None:
    execute_one(app.commands, PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot_id, bidder=f"b{amount}", amount=amount,
                                       placed_at=START + timedelta(minutes=1)))


def logged_lot(app: App, log: PublicLog, *amounts: str) -> str:
    lot_id = f"lot-{uuid.uuid4().hex[:8]}"
    app.lots.create_lot(CreateLot(lot_id=lot_id, title="Clock", currency="EUR", starting_price="10.00", opens_at=START,
                                  closes_at=START + timedelta(minutes=10)), seller="sam")
    for amount in amounts:
        bid(app, lot_id, amount)
    log.sequence([lot_id])
    log.publish()
    return lot_id


def run(app: App) -> dict[str, Any]:
    return handler({"detail-type": "Scheduled Event"}, FakeContext(), app)


def test_nothing_published_is_nothing_to_check_and_a_good_checkpoint_is_accepted(app: App) -> None:
    assert run(app) == {"size": 0}
    assert app.log_monitor_state.load() is None
    logged_lot(app, app.public_log, "20.00")
    assert run(app) == {"size": 2}
    state = app.log_monitor_state.load()
    assert state is not None and state.checkpoint == app.public_log.checkpoint() and state.findings == []
    assert run(app) == {"size": 2}  # nothing new


def test_a_consistent_rewrite_fails_the_run_that_finds_it_names_the_lot_and_version_and_is_kept(app: App) -> None:
    log = app.public_log
    lot = logged_lot(app, log, "20.00", "30.00")
    assert run(app) == {"size": 3}
    rewrite_bid_amount(app, lot, 2, "21.00")
    bid(app, lot, "40.00")
    log.sequence([lot])
    log.publish()
    with pytest.raises(LogMismatch, match=f"lot {lot} version 2"):
        run(app)
    state = app.log_monitor_state.load()
    # The log itself holds: its checkpoint is accepted, the finding kept, and the next run checks what comes after.
    assert state is not None and state.checkpoint == log.checkpoint()
    assert len(state.findings) == 1 and f"lot {lot} version 2" in state.findings[0]
    assert run(app) == {"size": 4}


def test_a_checkpoint_the_log_does_not_hold_fails_every_run_and_is_never_accepted(app: App) -> None:
    log = app.public_log
    logged_lot(app, log, "20.00")
    run(app)
    accepted = app.log_monitor_state.load()
    assert log.signer is not None
    forked = checkpoint.sign(checkpoint.Checkpoint(log.origin, 2, merkle.leaf_hash(b"fork")), log.signer)
    log.index.state = dataclasses.replace(log.index.state, checkpoint=forked)  # type: ignore[attr-defined]
    for _ in range(2):
        with pytest.raises(LogMismatch, match="not consistent"):
            run(app)
    assert app.log_monitor_state.load() == accepted


def test_a_first_run_on_a_log_too_large_to_re_hash_starts_from_its_newest_checkpoint(app: App) -> None:
    log = app.public_log
    lot = logged_lot(app, log, "20.00")
    rewrite_bid_amount(app, lot, 2, "21.00")  # before the monitor ever ran: its first run would find it ...
    found = monitor_once(log, MemoryMonitorState())
    assert found is not None and f"lot {lot} version 2" in found.problems[0]
    store = MemoryMonitorState()
    started = monitor_once(log, store, first_run_entries=1)  # ... unless the log is larger than it re-hashes at once
    assert started is not None and started.problems == [] and store.state is not None
    assert store.state.checkpoint == log.checkpoint()
