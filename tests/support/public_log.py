"""The public log for tests: an in-memory LogIndex with the DynamoDB one's conditions, and a
PublicLog over an App's queries, memory tiles and a key file."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from adapters.log_index import log_table_definition
from adapters.log_signers import KeyFileSigner
from adapters.log_storage import FolderArchive
from bootstrap import App, build
from ledger.domain.errors import LogBusy
from ledger.service.public_log import LogHead, LotRun, MonitorState, PublicLog
from tlog.tiles import MemoryTiles

ORIGIN = "samsold.test/log"


class MemoryLogIndex:
    def __init__(self) -> None:
        self.state = LogHead()
        self.lease: str | None = None
        self.lot_runs: dict[str, list[LotRun]] = {}

    def head(self) -> LogHead:
        return self.state

    def take_lease(self, owner: str, seconds: float) -> LogHead:
        if self.lease not in (None, owner):
            raise LogBusy("another sequencer holds the log")
        self.lease = owner
        return self.state

    def release_lease(self, owner: str) -> None:
        if self.lease == owner:
            self.lease = None

    def append(self, owner: str, old_size: int, new_size: int, root: bytes, runs: Sequence[LotRun]) -> None:
        if self.lease != owner or self.state.size != old_size:
            raise LogBusy("the log moved on")
        self.state = dataclasses.replace(self.state, size=new_size, root=root)
        for run in runs:
            self.lot_runs.setdefault(run.lot_id, []).append(run)

    def publish(self, owner: str, size: int, note: str, public_key_pem: str, published_at: str) -> None:
        if self.lease != owner or self.state.size != size:
            raise LogBusy("the log moved on")
        self.state = dataclasses.replace(self.state, checkpoint_size=size, checkpoint=note, public_key_pem=public_key_pem,
                                         checkpoint_at=published_at)

    def last_versions(self, lot_ids: Sequence[str]) -> dict[str, int]:
        return {lot: (self.lot_runs[lot][-1].last_version if self.lot_runs.get(lot) else 0) for lot in lot_ids}

    def runs(self, lot_id: str) -> list[LotRun]:
        return list(self.lot_runs.get(lot_id, []))


def memory_log(app: App, key_dir: Path) -> PublicLog:
    return PublicLog(app.queries, MemoryLogIndex(), MemoryTiles(), ORIGIN, KeyFileSigner(key_dir / "log-key.pem"),
                     FolderArchive(key_dir / "archive"))


class MemoryMonitorState:
    """The scheduled monitor's state, with the DynamoDB one's condition on the checkpoint replaced."""

    def __init__(self) -> None:
        self.state: MonitorState | None = None

    def load(self) -> MonitorState | None:
        return self.state

    def save(self, state: MonitorState, previous: MonitorState | None) -> None:
        if self.state == previous:
            self.state = state
def dynamodb_log_app(ledger_env: dict[str, str], dynamodb_client: Any, clock: Callable[[], Any], tmp_path: Path) -> App:
    """An App on DynamoDB Local whose public log has a Log table of its own, and folders for S3 and KMS under `tmp_path`."""
    table = f"log-{uuid.uuid4().hex[:8]}"
    dynamodb_client.create_table(**log_table_definition(table))
    env = ledger_env | {"LOG_TABLE": table, "LOG_BUCKET": "tiles", "LOG_ORIGIN": ORIGIN,
                        "SAMSOLD_LOCAL_AWS_DIR": str(tmp_path), "LOG_KEY_ID": "key", "LOG_ARCHIVE_BUCKET": "archive"}
    return build(env, clock=clock)
