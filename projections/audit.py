"""Replay and verification over a lot's stored events, through the one fold in
`ledger.domain.state` (time travel is the service's `lot_as_of`, on the same fold)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from ledger.domain.bidder_records import records_from
from ledger.domain.errors import InvalidState, LotUnreadable
from ledger.domain.events import GENESIS_HASH, BidPlaced, BidRejected, BidRetracted, LotEvent
from ledger.domain.registration import evolve_registration, state_from_record, state_to_record
from ledger.domain.state import LotSnapshot, evolve
from ledger.service.commands import LotCommands
from ledger.service.queries import LotQueries
from ledger.service.registrations import Registrations
from ledger.snapshot_item import REPLACED_ATTRIBUTES, snapshot_from_item, snapshot_to_item

T = TypeVar("T")


@dataclass(frozen=True)
class FieldDifference:
    field: str
    stored: Any
    folded: Any


@dataclass
class ReplayReport:
    lot_id: str
    events: int
    stored: dict[str, Any] | None
    folded: dict[str, Any] | None
    differences: list[FieldDifference] = field(default_factory=list)
    # The bidders' records of the lot as the events make them, where the stored ones differ
    # or are missing (a projection the stream writes: not drift of the lot itself).
    bidder_records: list[dict[str, Any]] = field(default_factory=list)
    # A stored item that cannot be read (an event, or the snapshot), named with its version.
    unreadable: str | None = None
    unreadable_version: int | None = None

    @property
    def drifted(self) -> bool:
        return bool(self.differences)

    @property
    def ok(self) -> bool:
        return not self.differences and self.unreadable is None


def replay(queries: LotQueries, lot_id: str) -> ReplayReport:
    """Fold the stored events and compare with the stored snapshot, field by field. An
    event that cannot be read or folded stops the fold and is named; so is a stored
    snapshot that cannot be read back (its fields are still compared)."""
    state: LotSnapshot | None = None
    count = 0
    aliases: dict[str, int] = {}  # each bidder's alias, as the event of their first accepted bid gave it
    events: list[LotEvent] = []  # the bids' events, for the bidders' records of the lot
    try:
        for event in queries.lot_events(lot_id):
            # An erased bidder (None) has no alias record nor record of the lot left to compare.
            if isinstance(event, BidPlaced) and event.alias is not None and event.bidder is not None:
                aliases.setdefault(event.bidder, event.alias)
            if isinstance(event, BidPlaced | BidRejected | BidRetracted) and event.bidder is not None:
                events.append(event)  # what bidders' records follow
            try:
                state = evolve(event, state)
            except (ValueError, TypeError) as error:  # an event that decodes but does not fit the fold
                problem = f"it does not fold: {type(error).__name__}: {error}"
                raise LotUnreadable(lot_id, f"event {event.version}", problem, event.version) from None
            count += 1
    except LotUnreadable as error:
        return ReplayReport(lot_id, count, None, None, unreadable=str(error), unreadable_version=error.details["version"])
    stored_item = queries.stored_snapshot(lot_id)
    stored, unreadable = (None, None) if stored_item is None else _normalised(lot_id, stored_item)
    folded = None if state is None else snapshot_to_item(state)
    report = ReplayReport(lot_id=lot_id, events=count, stored=stored, folded=folded)
    if unreadable is not None:
        report.unreadable, report.unreadable_version = str(unreadable), unreadable.details["version"]
    if stored is None or folded is None:
        if stored != folded:
            report.differences.append(FieldDifference("(snapshot)", stored is not None, folded is not None))
        return report
    for name in sorted(set(stored) | set(folded)):
        if stored.get(name) != folded.get(name):
            report.differences.append(FieldDifference(name, stored.get(name), folded.get(name)))
    # A snapshot written before one of its indexes existed is not listed there: rewriting it
    # (`fix`) adds the keys, as every write of a snapshot does.
    for name in queries.missing_index_keys(lot_id):
        report.differences.append(FieldDifference(f"(index key {name})", None, "missing"))
    # The alias records are a projection of the events too: each bidder's, as given.
    stored_aliases = queries.bidder_aliases(lot_id, list(aliases)) if aliases else {}
    for bidder, alias in aliases.items():
        if stored_aliases.get(bidder) != alias:
            report.differences.append(FieldDifference(f"alias of {bidder}", stored_aliases.get(bidder), alias))
    # So are the bidders' records of the lot, though not part of its state: the stream writes
    # them after the fact, so one may lag (or be lost); listed apart, rewritten by --fix.
    for record in records_from(events, state.currency if state is not None else "EUR"):
        stored_record = queries.bidder_record(record["bidder"], lot_id) or {}
        if {k: _plain(stored_record.get(k)) for k in ("last_bid", "maximum", "version")} != {
            k: record.get(k) for k in ("last_bid", "maximum", "version")
        }:
            report.bidder_records.append(record)
    return report


def fix(commands: LotCommands, report: ReplayReport) -> None:
    """Write the folded snapshot back, only over the very snapshot that was compared
    (SnapshotChanged when another writer moved it on since)."""
    if report.folded is None or report.stored is None:
        raise InvalidState(f"lot {report.lot_id}: nothing to fix without both events and a snapshot", {"lot_id": report.lot_id})
    stored_version = report.stored.get("version")
    if not isinstance(stored_version, int):
        raise InvalidState(f"lot {report.lot_id}: the stored snapshot has no version to replace it at", {"lot_id": report.lot_id})
    commands.replace_snapshot(report.folded, expected_version=stored_version)


def _normalised(lot_id: str, item: dict[str, Any]) -> tuple[dict[str, Any], LotUnreadable | None]:
    """A stored snapshot in the snapshot model's JSON form, so numbers and optional
    fields compare like for like; fields the model does not know are kept as they are,
    and all of them when the snapshot cannot be read (the error says why)."""
    plain = {k: _plain(v) for k, v in item.items()}
    try:
        snapshot = snapshot_from_item(lot_id, item)
    except LotUnreadable as error:
        return plain, error
    # An attribute an older item held under another name is compared in its new form.
    return {k: v for k, v in plain.items() if k not in REPLACED_ATTRIBUTES} | snapshot_to_item(snapshot), None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# Events whose disclosures are checked together (one read).
VERIFY_PAGE = 1000


@dataclass(frozen=True)
class VerifyReport:
    lot_id: str
    events: int
    first_bad_version: int | None = None  # None with a problem: a snapshot that does not even say its version
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(queries: LotQueries, lot_id: str) -> VerifyReport:
    """Check the hash chain from version 1 to the snapshot's head, and that every item
    can be read (each disclosure opens its commitment); name the first bad version."""
    expected_version, prev_hash, count = 1, GENESIS_HASH, 0
    page: list[LotEvent] = []  # each page's disclosures must open its commitments (one read a page)
    try:
        for stored in queries.stored_events(lot_id):
            version = stored.originator_version
            if version != expected_version:
                return VerifyReport(lot_id, count, expected_version, f"version {expected_version} is missing (next is {version})")
            event = queries.read_event(stored)
            if event.prev_hash != prev_hash:
                return VerifyReport(lot_id, count, version, "prev_hash does not match the previous event's hash")
            if event.compute_hash() != event.hash:
                return VerifyReport(lot_id, count, version, "hash does not match the event's content")
            prev_hash, expected_version, count = event.hash, version + 1, count + 1
            page.append(event)
            if len(page) == VERIFY_PAGE:
                queries.disclosed(lot_id, page)
                page = []
        queries.disclosed(lot_id, page)
    except LotUnreadable as error:
        return VerifyReport(lot_id, count, error.details["version"] or expected_version, str(error))
    item = queries.stored_snapshot(lot_id)
    if item is None:
        return VerifyReport(lot_id, count)
    try:
        snapshot = snapshot_from_item(lot_id, item)
    except LotUnreadable as error:
        return VerifyReport(lot_id, count, error.details["version"], str(error))
    if snapshot.version >= expected_version:
        return VerifyReport(lot_id, count, expected_version, f"events after version {expected_version - 1} are missing (snapshot is at {snapshot.version})")
    if snapshot.head_hash != prev_hash or snapshot.version != expected_version - 1:
        return VerifyReport(lot_id, count, snapshot.version, "the snapshot's head hash does not match the events")
    return VerifyReport(lot_id, count)


def verify_registration(registrations: Registrations, aggregate_id: str) -> VerifyReport:
    """A registration's (or a bidder's standing's) events checked as a lot's are (versions from
    1 without a gap, each hash chained to the one before and matching its content), and its
    stored state equal to the fold of them (replay: the one fold, `evolve_registration`)."""
    expected_version, prev_hash, state = 1, GENESIS_HASH, None
    for event in registrations.events(aggregate_id):
        version = event.originator_version
        if version != expected_version:
            return VerifyReport(aggregate_id, expected_version - 1, expected_version, f"version {expected_version} is missing")
        if event.prev_hash != prev_hash:
            return VerifyReport(aggregate_id, version - 1, version, "prev_hash does not match the previous event's hash")
        if event.compute_hash() != event.hash:
            return VerifyReport(aggregate_id, version - 1, version, "hash does not match the event's content")
        state = evolve_registration(event, state)
        prev_hash, expected_version = event.hash, version + 1
    stored = registrations.store.get_registrations([aggregate_id]).get(aggregate_id)
    folded = None if state is None else state_to_record(state)
    if (stored is None) != (folded is None) or (
        stored is not None and folded is not None and state_to_record(state_from_record(stored)) != folded
    ):
        return VerifyReport(aggregate_id, expected_version - 1, expected_version - 1,
                            "the stored state is not the fold of the events")
    return VerifyReport(aggregate_id, expected_version - 1)


def for_each_lot(
    queries: LotQueries,
    check: Callable[[LotQueries, str], T],
    lot_ids: Iterable[str] | None = None,
    workers: int = 8,
    progress: Callable[[T], None] | None = None,
) -> list[T]:
    """Run `check` (replay or verify) over many lots in parallel threads: the work is
    mostly waiting on DynamoDB, so lots overlap; each lot is still read in order."""
    ids = list(queries.lot_ids() if lot_ids is None else lot_ids)
    results: list[T] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(lambda lot_id: check(queries, lot_id), ids):
            results.append(result)
            if progress is not None:
                progress(result)
    return results
