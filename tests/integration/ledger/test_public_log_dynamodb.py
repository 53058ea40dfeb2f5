"""The public log wired by `bootstrap.build` on DynamoDB Local: its Log-table index (the lease,
the append's conditions, each lot's runs) and its folders standing in for S3 and KMS."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.log_monitor_state import DynamoDBMonitorState, monitor_table_definition
from bootstrap import App
from ledger.domain.commands import CreateLot, PlaceBid
from ledger.domain.errors import LogBusy
from ledger.service.public_log import LotRun, MonitorState
from tests.support.app import execute_one
from tests.support.public_log import dynamodb_log_app
from tlog.proof import check_lot_proof


@pytest.fixture
def app(ledger_env, dynamodb_client, clock, tmp_path: Path) -> App:
    return dynamodb_log_app(ledger_env, dynamodb_client, clock, tmp_path)


def test_sequenced_events_prove_against_a_signed_checkpoint_kept_in_the_folders(app: App, clock, tmp_path: Path) -> None:
    lot = f"lot-{uuid.uuid4().hex[:8]}"
    app.lots.create_lot(CreateLot(lot_id=lot, title="Vase", currency="EUR", starting_price="10.00", opens_at=clock(),
                                  closes_at=clock() + timedelta(minutes=10)), seller="sam")
    execute_one(app.commands, PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot, bidder="ann", amount="20.00", placed_at=clock()))
    log = app.public_log
    assert log.sequence([lot]) == 2 and log.sequence([lot]) == 0
    note = log.publish()
    assert note is not None and log.checkpoint(2) == note
    assert (tmp_path / "s3" / "archive" / "checkpoints" / "2").read_text() == note
    assert (tmp_path / "s3" / "tiles" / "tile" / "0" / "000.p" / "2").stat().st_size == 64
    assert log.index.runs(lot) == [LotRun(lot, 1, 2, 0)]
    assert log.signer is not None
    check_lot_proof(log.lot_proof(lot), log.signer.public_key_der())
    # The head keeps when its checkpoint was signed; the proof under it says so.
    assert log.lot_proof(lot)["checkpoint_published_at"] == log.index.head().checkpoint_at is not None


def test_the_scheduled_monitors_state_moves_only_from_the_checkpoint_it_replaces(dynamodb_client) -> None:
    table = f"monitor-{uuid.uuid4().hex[:8]}"
    dynamodb_client.create_table(**monitor_table_definition(table))
    store = DynamoDBMonitorState(dynamodb_client, table)
    assert store.load() is None
    first = MonitorState("note 1", "pem")
    store.save(first, None)
    second = MonitorState("note 2", "pem", ["2030-01-01T12:00:00.000Z lot x version 2: differs"])
    store.save(second, first)
    store.save(MonitorState("note 1 again", "pem"), first)  # another run moved it meanwhile: nothing
    store.save(MonitorState("another first", "pem"), None)
    assert store.load() == second


def test_one_sequencer_at_a_time_and_an_append_only_from_the_size_it_read(app: App) -> None:
    index = app.public_log.index
    index.take_lease("one", 60)
    with pytest.raises(LogBusy):
        index.take_lease("two", 60)
    index.append("one", 0, 1, b"r" * 32, [LotRun("lot-a", 1, 1, 0)])
    with pytest.raises(LogBusy):
        index.append("one", 0, 1, b"r" * 32, [LotRun("lot-b", 1, 1, 0)])
    index.release_lease("one")
    with pytest.raises(LogBusy):  # no lease, no append
        index.append("two", 1, 2, b"r" * 32, [])
    assert index.last_versions(["lot-a", "lot-b"]) == {"lot-a": 1, "lot-b": 0}
    index.take_lease("two", 60)  # released: the next sequencer takes it
