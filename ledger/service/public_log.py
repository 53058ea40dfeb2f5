"""The public log's use cases: sequence lots' new events into the tree, publish signed
checkpoints, and answer checkpoints, consistency proofs and lot proofs.

The tree lives as tiles (`tlog.tiles`: an S3 bucket in AWS, a folder locally); the log's
state (its size and root, the newest checkpoint, a lease) and where each lot's events sit
(one `LotRun` per lot per append) live in the Log table (`adapters/log_index.py`), never in
the Bids table: nothing on a bid's path touches them. One sequencer appends at a time (the
lease); each append reads the lots it was told changed, so its work grows with the new
events only. docs/decisions/0008-public-log-from-the-stream-on-tiles.md says why.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from ledger.domain import commitments
from ledger.domain.errors import BidNotFound, CheckpointNotFound, InvalidCommand, NotInLog
from ledger.domain.events import OUTBID, BidPlaced, LotEvent
from ledger.domain.values import format_time, utc_now
from ledger.service.queries import LotQueries
from tlog import checkpoint as notes
from tlog import merkle
from tlog import proof as lot_proofs
from tlog.tiles import TileStore, TreeReader
from tlog.tiles import append as append_tiles

log = logging.getLogger(__name__)

# Which of an event's private fields to disclose, given the event (as stored) and its opened values.
Disclose = Callable[[LotEvent, dict[str, Any]], Iterable[str]]


def disclose_all(event: LotEvent, values: dict[str, Any]) -> list[str]:
    """Every disclosure still stored (`samsold prove --private`)."""
    return sorted(values)

# A TransactWriteItems holds 100 items: the log's head and 99 lots' runs.
LOTS_PER_APPEND = 99
MONITOR_READERS = 16  # the monitor's lots read at once (boto3 clients are thread-safe)
LEASE_SECONDS = 120.0  # longer than the sequencer's timeout: a crashed holder's lease lapses
# An event is in the log within a minute of being written (the stream's batching window, the
# sequencer's run), and a checkpoint is signed every minute while the tree grew: so a signed
# checkpoint covers every event at most this long after it was written.
COVERED_WITHIN = timedelta(minutes=2)


def _own(bidder: str, event: LotEvent, values: dict[str, Any]) -> list[str]:
    """A bidder's own fields of their bid's event (a maximum that answered it is the leader's)."""
    answered = isinstance(event, BidPlaced) and event.outcome == OUTBID
    return commitments.owned_by(type(event).__name__, values, bidder, answered_by="" if answered else None)


@dataclass(frozen=True, slots=True)
class LogHead:
    size: int = 0
    root: bytes = b""
    checkpoint_size: int | None = None  # the newest signed checkpoint's size
    checkpoint: str | None = None  # ... and its signed note
    public_key_pem: str | None = None
    checkpoint_at: str | None = None  # when the newest checkpoint was signed (the log's word: not in the signed note)


@dataclass(frozen=True, slots=True)
class LotRun:
    """A lot's events `first_version`..`last_version`, at log indices from `first_index` on."""

    lot_id: str
    first_version: int
    last_version: int
    first_index: int

    def index_of(self, version: int) -> int | None:
        return self.first_index + version - self.first_version if self.first_version <= version <= self.last_version else None


class LogIndex(Protocol):
    """The log's state and each lot's runs (the Log table)."""

    def head(self) -> LogHead: ...

    def take_lease(self, owner: str, seconds: float) -> LogHead:
        """The head, once this owner holds the lease; LogBusy while another does."""
        ...

    def release_lease(self, owner: str) -> None: ...

    def append(self, owner: str, old_size: int, new_size: int, root: bytes, runs: Sequence[LotRun]) -> None:
        """The head moved from `old_size` to `new_size` with the runs, at once; LogBusy if not from `old_size`."""
        ...

    def publish(self, owner: str, size: int, note: str, public_key_pem: str, published_at: str) -> None: ...

    def last_versions(self, lot_ids: Sequence[str]) -> dict[str, int]:
        """Each lot's last version in the log (0: none)."""
        ...

    def runs(self, lot_id: str) -> list[LotRun]:
        """The lot's runs in version order."""
        ...


class CheckpointArchive(Protocol):
    """A write-once copy of every checkpoint (S3 Object Lock in AWS, a folder locally)."""

    def keep(self, size: int, note: str) -> None: ...


def checkpoint_path(size: int) -> str:
    return f"checkpoints/{size}"


class PublicLog:
    def __init__(
        self,
        queries: LotQueries,
        index: LogIndex,
        tiles: TileStore,
        origin: str,
        signer: notes.Signer | None = None,
        archive: CheckpointArchive | None = None,
        owner: Callable[[], str] = lambda: uuid.uuid4().hex,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.queries = queries
        self.index = index
        self.tiles = tiles
        self.origin = notes.check_origin(origin)
        self.signer = signer
        self.archive = archive
        self._owner = owner
        self._clock = clock

    # --- writing (the sequencer) ------------------------------------------------------

    @contextmanager
    def _lease(self) -> Iterator[tuple[str, LogHead]]:
        owner = self._owner()
        head = self.index.take_lease(owner, LEASE_SECONDS)
        try:
            yield owner, head
        finally:
            self.index.release_lease(owner)

    def sequence(self, lot_ids: Iterable[str]) -> int:
        """Append every event of these lots not in the log yet, each lot's in version order; how many."""
        lots = sorted(set(lot_ids))
        if not lots:
            return 0
        appended = 0
        with self._lease() as (owner, head):
            size, root = head.size, head.root
            for start in range(0, len(lots), LOTS_PER_APPEND):
                chunk = lots[start : start + LOTS_PER_APPEND]
                last = self.index.last_versions(chunk)
                leaves: list[bytes] = []
                runs: list[LotRun] = []
                for lot_id in chunk:
                    events = list(self.queries.lot_events(lot_id, after_version=last.get(lot_id, 0), disclose=False))
                    if not events:
                        continue
                    runs.append(LotRun(lot_id, events[0].version, events[-1].version, size + len(leaves)))
                    leaves += [lot_proofs.leaf(lot_id, e.version, e.hash) for e in events]
                if not leaves:
                    continue
                root = append_tiles(self.tiles, size, leaves)
                self.index.append(owner, size, size + len(leaves), root, runs)
                size += len(leaves)
                appended += len(leaves)
        return appended

    def publish(self, force: bool = False) -> str | None:
        """Sign a checkpoint of the tree as it is, unless the newest already covers it (`force`: sign anyway)."""
        if self.signer is None:
            raise RuntimeError("this log has no signer")
        with self._lease() as (owner, head):
            if head.size == 0 or (head.checkpoint_size == head.size and not force):
                return head.checkpoint
            note = notes.sign(notes.Checkpoint(self.origin, head.size, head.root), self.signer)
            self.tiles.write(checkpoint_path(head.size), note.encode())
            if self.archive is not None:
                self.archive.keep(head.size, note)
            self.tiles.write("checkpoint", note.encode())
            self.index.publish(owner, head.size, note, notes.public_key_pem(self.signer.public_key_der()),
                               format_time(self._clock()))
            return note

    # --- reading -------------------------------------------------------------------------

    def checkpoint(self, size: int | None = None) -> str:
        """The newest signed checkpoint, or the one of that size."""
        if size is None:
            note = self.index.head().checkpoint
        else:
            data = self.tiles.read(checkpoint_path(size)) if size > 0 else None
            note = data.decode() if data is not None else None
        if note is None:
            raise CheckpointNotFound("no checkpoint was published" + (f" at size {size}" if size is not None else ""),
                                     {"size": size})
        return note

    def key(self) -> dict[str, str]:
        pem = self.index.head().public_key_pem
        if pem is None:
            raise CheckpointNotFound("the log has published no checkpoint, so no key yet")
        der = notes.load_public_key(pem.encode())
        return {"origin": self.origin, "key_id": notes.key_id(der).hex(), "algorithm": notes.ALGORITHM, "public_key_pem": pem}

    def _published(self, size: int | None) -> tuple[str, notes.Checkpoint, str | None]:
        """A published checkpoint (the newest, or of `size`), parsed, and when it was signed if the log says (the newest)."""
        if size is None:
            head = self.index.head()
            if head.checkpoint is None:
                raise CheckpointNotFound("no checkpoint was published", {"size": None})
            return head.checkpoint, notes.parse(head.checkpoint)[0], head.checkpoint_at
        note = self.checkpoint(size)
        return note, notes.parse(note)[0], None

    def _index_of(self, runs: Sequence[LotRun], version: int) -> int | None:
        return next((i for run in runs if (i := run.index_of(version)) is not None), None)

    def consistency(self, from_size: int, to_size: int) -> list[bytes]:
        """The consistency proof between two published checkpoints' trees."""
        if not 1 <= from_size <= to_size:
            raise InvalidCommand("from must be at least 1 and at most to", {"from": from_size, "to": to_size})
        self.checkpoint(from_size)
        self.checkpoint(to_size)
        return TreeReader(self.tiles, to_size).consistency_proof(from_size)

    def lot_proof(
        self, lot_id: str, size: int | None = None, from_size: int | None = None, disclose: Disclose | None = None
    ) -> dict[str, Any]:
        """The lot's events in the log under a checkpoint (the newest, or of `size`), with their
        inclusion proofs and bodies (an event written before commitments: null); with
        `disclose`, the disclosures it picks from each event's (`disclosures`)."""
        note, signed, signed_at = self._published(size)
        self.queries.get_lot(lot_id)  # LotNotFound
        runs = self.index.runs(lot_id)
        reader = TreeReader(self.tiles, signed.size)
        events: list[dict[str, Any]] = []
        logged: list[LotEvent] = []
        for event in self.queries.lot_events(lot_id, disclose=False):
            index = self._index_of(runs, event.version)
            if index is None or index >= signed.size:
                break
            logged.append(event)
            events.append({
                "version": event.version, "log_index": index, "prev_hash": event.prev_hash, "hash": event.hash,
                # An event written before commitments holds private values in its body: only its hash is public.
                "body": event.body() if event.sealed is not None else None,
                "inclusion": lot_proofs.b64(reader.inclusion_proof(index)),
            })
        if not events:
            raise NotInLog(f"no event of lot {lot_id!r} is in the log at size {signed.size}", {"lot_id": lot_id, "size": signed.size})
        document: dict[str, Any] = {
            "format": lot_proofs.PROOF_FORMAT, "origin": self.origin, "checkpoint": note, "lot_id": lot_id, "events": events,
        }
        if from_size is not None and from_size != signed.size:
            document["consistency"] = {"from_size": from_size, "proof": lot_proofs.b64(self.consistency(from_size, signed.size))}
        if signed_at is not None:
            document["checkpoint_published_at"] = signed_at
        if disclose is not None:
            document["disclosures"] = self.disclosures(lot_id, logged, disclose)
        return document

    def event_citation(self, lot_id: str, version: int, written_at: datetime) -> dict[str, Any]:
        """Where one stored event stands in the log, for a dispute: under the newest checkpoint its
        leaf's index and inclusion proof, checked (`IN_LOG`, or `DIFFERS_FROM_LOG` when the stored
        event is not the one logged); not covered yet, when a checkpoint will cover it (`NOT_YET_IN_LOG`)."""
        event = next(iter(self.queries.lot_events(lot_id, after_version=version - 1, upto_version=version, disclose=False)))
        head = self.index.head()
        index = self._index_of(self.index.runs(lot_id), version)
        signed = notes.parse(head.checkpoint)[0] if head.checkpoint is not None else None
        if signed is None or index is None or index >= signed.size:
            expected_by = written_at + COVERED_WITHIN
            return {"status": "NOT_YET_IN_LOG", "lot_id": lot_id, "version": version, "hash": event.hash,
                    "expected_by": format_time(expected_by), "overdue": self._clock() > expected_by}
        proof = TreeReader(self.tiles, signed.size).inclusion_proof(index)
        try:
            merkle.verify_inclusion(merkle.leaf_hash(lot_proofs.leaf(lot_id, version, event.hash)), index, signed.size,
                                    proof, signed.root)
            status = "IN_LOG"
        except merkle.ProofError:
            status = "DIFFERS_FROM_LOG"
        return {
            "status": status, "lot_id": lot_id, "version": version, "hash": event.hash, "prev_hash": event.prev_hash,
            "log_index": index, "inclusion": lot_proofs.b64(proof),
            "checkpoint": {"origin": signed.origin, "size": signed.size, "published_at": head.checkpoint_at,
                           "note": head.checkpoint},
        }

    def bid_receipt(self, bid_id: str, bidder: str) -> dict[str, Any]:
        """The bidder's receipt of a decided bid of theirs: its outcome and the lot's proof up
        to and past the bid's event, with the disclosures of the bidder's own private fields of
        that event; BidNotFound for anyone else's bid or none (never saying which)."""
        outcome = self.queries.get_bid_outcome(bid_id)
        if outcome is None or outcome.bidder != bidder:
            raise BidNotFound(f"you have no decided bid {bid_id!r}", {"bid_id": bid_id})
        version = outcome.version
        proof = self.lot_proof(outcome.lot_id)
        if version is None or not any(event["version"] == version for event in proof["events"]):
            raise NotInLog(f"bid {bid_id!r} is not in the log yet", {"bid_id": bid_id, "lot_id": outcome.lot_id})
        event = list(self.queries.lot_events(outcome.lot_id, after_version=version - 1, upto_version=version, disclose=False))
        proof["disclosures"] = self.disclosures(outcome.lot_id, event, partial(_own, bidder))
        return {"bid_id": bid_id, "lot_id": outcome.lot_id, "version": version, "status": outcome.status, "proof": proof}

    def disclosures(self, lot_id: str, events: Sequence[LotEvent], pick: Disclose) -> list[str]:
        """The stored disclosures of the events' fields that `pick` chooses (given the event and
        its opened private values), in version order."""
        sealed = [event for event in events if event.sealed]
        stored = self.queries.store.get_disclosures(lot_id, [event.version for event in sealed])
        chosen: list[str] = []
        for event in sealed:
            found = stored.get(event.version, {})
            values = commitments.opened_values(type(event).__name__, lot_id, event.version, event.sealed or {}, found)
            chosen += [found[name] for name in pick(event, values) if name in found]
        return chosen

    def leaves(self, start: int, end: int) -> list[bytes]:
        """The log's leaves [start, end) under the newest checkpoint (for the monitor)."""
        return TreeReader(self.tiles, end).entries(start, end)

    # --- checking ------------------------------------------------------------------------

    def lot_against_log(self, lot_id: str) -> tuple[int, str] | None:
        """The first of the lot's stored events that the log does not hold as stored: (version, problem), or None."""
        head = self.index.head()
        runs = self.index.runs(lot_id)
        reader = TreeReader(self.tiles, head.size)
        for event in self.queries.lot_events(lot_id, disclose=False):
            index = self._index_of(runs, event.version)
            if index is None or index >= head.size:
                return None  # not sequenced yet: nothing to compare
            logged = lot_proofs.parse_leaf(reader.entries(index, index + 1)[0])
            if logged != (lot_id, event.version, event.hash):
                return event.version, f"the stored event's hash {event.hash} is not the one in the log ({logged[2]}) at index {index}"
        return None


@dataclass(frozen=True)
class MonitorResult:
    checkpoint: str  # the checkpoint accepted, or the last one when nothing was
    size: int
    problems: list[str]
    first_bad: tuple[str, int] | None = None  # (lot, version) of the first mismatch in storage
    # The new checkpoint when the log itself holds (signature, consistency, tiles, each lot's
    # leaves in order) even if storage disagrees with it; None when the log does not.
    log_verified: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


class LogMonitor:
    """Checks each new checkpoint against the last one it accepted and the events in storage.

    The new checkpoint must carry the log's signature and extend the last one (consistency);
    the new entries must be the tiles' leaves under its root, each a lot's next version (none
    missing, duplicated or out of order), each naming the hash of the event stored under it,
    and each stored event must still hash to what it says.
    """

    def __init__(self, log: PublicLog, public_key_der: bytes) -> None:
        self.log = log
        self.key = public_key_der

    def check(self, last: str | None, history: bool = True) -> MonitorResult:
        """With no `last`, every entry is checked; unless not `history`: then only the newest
        checkpoint's signature and its root in the tiles (a log too large to re-hash in one run)."""
        note = self.log.checkpoint()
        try:
            new = notes.verify(note, self.key, self.log.origin)
        except notes.CheckpointError as error:
            return MonitorResult(last or note, 0, [f"the newest checkpoint is refused: {error}"])
        old_size = 0
        if last is not None:
            old = notes.verify(last, self.key, self.log.origin)
            old_size = old.size
            if new.size < old.size:
                return MonitorResult(last, old.size, [f"the log shrank from size {old.size} to {new.size}"])
            try:
                if new.size == old.size:
                    if new.root != old.root:
                        raise merkle.ProofError("same size, another root")
                else:
                    proof = self.log.consistency(old.size, new.size)
                    merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
            except (merkle.ProofError, CheckpointNotFound) as error:
                return MonitorResult(last, old.size, [f"checkpoint {new.size} is not consistent with {old.size}: {error}"])
        reader = TreeReader(self.log.tiles, new.size)
        if reader.root() != new.root:
            return MonitorResult(last or note, old_size, [f"the tiles do not hold the root of checkpoint {new.size}"])
        if last is None and not history:
            return MonitorResult(note, new.size, [], log_verified=note)
        leaves = reader.entries(old_size, new.size)
        hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
        if any(reader.hash_at(0, old_size + i) != h for i, h in enumerate(hashes)):
            return MonitorResult(last or note, old_size, ["an entry bundle does not match its hash tile"])
        problems, first_bad, in_order = self._check_entries(old_size, leaves)
        if problems:
            return MonitorResult(last or note, old_size, problems, first_bad, note if in_order else None)
        return MonitorResult(note, new.size, [], log_verified=note)

    def _check_entries(self, start: int, leaves: list[bytes]) -> tuple[list[str], tuple[str, int] | None, bool]:
        """The problems, the first (lot, version) at fault, and whether the leaves themselves were well formed and in order."""
        problems: list[str] = []
        first_bad: tuple[str, int] | None = None
        expected: dict[str, int] = {}  # each lot's next version in this range
        before: dict[str, str] = {}  # the logged hash of the version before each lot's first in this range
        by_lot: dict[str, dict[int, str]] = {}
        parsed: list[tuple[int, tuple[str, int, str]]] = []
        first_version: dict[str, int] = {}  # each lot's first version in this range
        for offset, data in enumerate(leaves):
            try:
                parsed.append((offset, lot_proofs.parse_leaf(data)))
            except ValueError as error:
                problems.append(f"entry {start + offset}: {error}")
                continue
            first_version.setdefault(parsed[-1][1][0], parsed[-1][1][1])
        # Each lot's reads are its own (its runs, a tile, its events): done side by side, so a
        # run's time is its lots' reads divided by the readers, not their sum.
        with ThreadPoolExecutor(MONITOR_READERS) as readers:
            logged_before = dict(zip(first_version, readers.map(
                lambda lot: self._logged_hash(lot, first_version[lot] - 1, start) if first_version[lot] > 1 else None,
                first_version), strict=True))
        for offset, (lot_id, version, event_hash) in parsed:
            if lot_id not in expected:
                logged = logged_before[lot_id]
                expected[lot_id] = version if version == 1 or logged is not None else 1
                if logged is not None:
                    before[lot_id] = logged
            if version != expected[lot_id]:
                problems.append(f"lot {lot_id} version {version} at index {start + offset}: expected version {expected[lot_id]} "
                                "(a leaf missing, duplicated or out of order)")
                first_bad = first_bad or (lot_id, min(version, expected[lot_id]))
                continue
            expected[lot_id] = version + 1
            by_lot.setdefault(lot_id, {})[version] = event_hash
        in_order = not problems
        with ThreadPoolExecutor(MONITOR_READERS) as readers:
            found = list(readers.map(lambda lot: self._check_stored(lot, by_lot[lot], before.get(lot)), by_lot))
        for lot_id, bad in zip(by_lot, found, strict=True):
            if bad is not None:
                problems.append(f"lot {lot_id} version {bad[0]}: {bad[1]}")
                first_bad = first_bad or (lot_id, bad[0])
        return problems, first_bad, in_order

    def _check_stored(self, lot_id: str, logged: dict[int, str], logged_before: str | None) -> tuple[int, str] | None:
        """The first of the lot's stored events that differs from the log: (version, problem)."""
        versions = sorted(logged)
        stored = {e.version: e for e in self.log.queries.lot_events(
            lot_id, after_version=versions[0] - 1, upto_version=versions[-1], disclose=False)}
        first = stored.get(versions[0])
        if logged_before is not None and first is not None and first.prev_hash != logged_before:
            # The chain was rewritten before this range: name the first event the log disagrees with.
            earlier = self.log.lot_against_log(lot_id)
            return earlier or (versions[0], "its prev_hash is not the logged hash of the version before")
        for version in versions:
            event = stored.get(version)
            if event is None:
                return version, "is in the log but not in storage"
            if event.hash != logged[version]:
                return version, f"stored hash {event.hash} is not the logged {logged[version]}"
            if event.compute_hash() != event.hash:
                return version, "the stored event does not hash to its stored hash"
        return None

    def _logged_hash(self, lot_id: str, version: int, before: int) -> str | None:
        """The hash the log holds for the lot's version at an index before `before`, if it does."""
        run = next((r for r in self.log.index.runs(lot_id) if r.index_of(version) is not None), None)
        index = run.index_of(version) if run else None
        if index is None or index >= before:
            return None
        logged = lot_proofs.parse_leaf(TreeReader(self.log.tiles, before).entries(index, index + 1)[0])
        return logged[2] if logged[:2] == (lot_id, version) else None


# --- the scheduled monitor ------------------------------------------------------------

MAX_FINDINGS = 20  # the findings the monitor's state keeps, newest last: its item stays small
# A first run re-hashes the whole log up to this size; a larger log (a stack upgraded to the
# scheduled monitor) is taken from its newest checkpoint on, and `samsold log monitor` with an
# empty state checks all of it.
FIRST_RUN_ENTRIES = 100_000


@dataclass(frozen=True)
class MonitorState:
    checkpoint: str  # the last checkpoint accepted
    public_key_pem: str  # the log's key, pinned on first use
    findings: list[str] = field(default_factory=list)  # mismatches with storage found so far, with when


class MonitorStateStore(Protocol):
    """Where the scheduled monitor keeps its state (its own table: none of the log's or the ledger's writers may change it)."""

    def load(self) -> MonitorState | None: ...

    def save(self, state: MonitorState, previous: MonitorState | None) -> None:
        """Replace `previous` with `state`; nothing if another run replaced it meanwhile."""
        ...


@dataclass(frozen=True)
class MonitorRun:
    size: int  # the size accepted
    problems: list[str]


def monitor_once(log: PublicLog, store: MonitorStateStore, clock: Callable[[], datetime] = utc_now,
                 first_run_entries: int = FIRST_RUN_ENTRIES) -> MonitorRun | None:
    """One run of the scheduled monitor (None: the log has published nothing yet).

    Its state is the last checkpoint it accepted and the log's key, pinned on first use. A new
    checkpoint whose log holds (signed, consistent with the last, its tiles and leaves in order)
    is accepted even when stored events disagree with it: the disagreement is reported once,
    kept in the state's findings, and the next runs check what comes after, so each run's work
    stays with the new entries. A checkpoint whose log does not hold is never accepted: every
    run reports it again. The first run re-hashes the log only up to `first_run_entries`.
    """
    kept = store.load()
    head = log.index.head()
    if head.checkpoint is None or head.public_key_pem is None:
        return None
    if kept is not None and kept.checkpoint == head.checkpoint:
        return MonitorRun(notes.parse(kept.checkpoint)[0].size, [])
    pem = kept.public_key_pem if kept is not None else head.public_key_pem
    history = kept is not None or notes.parse(head.checkpoint)[0].size <= first_run_entries
    if not history:  # (`log` is the public log here: the module's logger by its name)
        logging.getLogger(__name__).info("the log is too large to re-hash in one run: the monitor starts from its newest "
                                         "checkpoint, size %d", notes.parse(head.checkpoint)[0].size)
    result = LogMonitor(log, notes.load_public_key(pem.encode())).check(kept.checkpoint if kept is not None else None,
                                                                        history=history)
    if result.log_verified is not None:
        found = [f"{format_time(clock())} {problem}" for problem in result.problems]
        findings = ([*kept.findings] if kept is not None else []) + found
        store.save(MonitorState(result.log_verified, pem, findings[-MAX_FINDINGS:]), kept)
        return MonitorRun(notes.parse(result.log_verified)[0].size, result.problems)
    return MonitorRun(result.size, result.problems)
