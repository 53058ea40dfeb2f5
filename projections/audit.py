"""Replay, verification and time travel over a lot's stored events, all through the
one fold in `projections.snapshot`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError, StoredEvent

from ledger.errors import LotUnreadable
from ledger.events import GENESIS_HASH, LotEvent
from ledger.service import AuctionService
from projections.snapshot import LotSnapshot, evolve

PAGE_SIZE = 1000
T = TypeVar("T")


def lot_events(
    service: AuctionService,
    lot_id: str,
    *,
    after_version: int | None = None,
    upto_version: int | None = None,
    limit: int | None = None,
) -> Iterator[LotEvent]:
    """A lot's stored events in order, read page by page."""
    stored_events = service.store.iter_events(lot_id, gt=after_version, lte=upto_version, limit=limit, page_size=PAGE_SIZE)
    for stored in stored_events:
        yield read_event(service, stored)


def read_event(service: AuctionService, stored: StoredEvent) -> LotEvent:
    """The lot event a stored item holds; LotUnreadable (naming the lot, the version and
    the problem) when it cannot be decoded."""
    lot_id, version = str(stored.originator_id), stored.originator_version
    try:
        event = service.mapper.to_domain_event(stored)
    except Exception as error:  # a damaged item may fail anywhere in the mapper: JSON, topic, fields
        problem = f"{type(error).__name__}: {error}"
    else:
        if isinstance(event, LotEvent):
            return event
        problem = f"not a lot event: {stored.topic}"
    raise LotUnreadable(lot_id, f"event {version}", problem, version)


def as_of(
    service: AuctionService, lot_id: str, *, version: int | None = None, at: datetime | None = None
) -> LotSnapshot | None:
    """The lot as it stood after `version`, or at time `at` (the last event recorded
    at or before it). None when the lot did not exist yet."""
    state: LotSnapshot | None = None
    for event in lot_events(service, lot_id, upto_version=version):
        if at is not None and event.timestamp > at:
            break
        state = evolve(event, state)
    return state


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
    # A stored item that cannot be read (an event, or the snapshot), named with its version.
    unreadable: str | None = None
    unreadable_version: int | None = None

    @property
    def drifted(self) -> bool:
        return bool(self.differences)

    @property
    def ok(self) -> bool:
        return not self.differences and self.unreadable is None


def replay(service: AuctionService, lot_id: str) -> ReplayReport:
    """Fold the stored events and compare with the stored snapshot, field by field. An
    event that cannot be read or folded stops the fold and is named; so is a stored
    snapshot that cannot be read back (its fields are still compared)."""
    state: LotSnapshot | None = None
    count = 0
    try:
        for event in lot_events(service, lot_id):
            try:
                state = evolve(event, state)
            except (ValueError, TypeError) as error:  # an event that decodes but does not fit the fold
                problem = f"it does not fold: {type(error).__name__}: {error}"
                raise LotUnreadable(lot_id, f"event {event.version}", problem, event.version) from None
            count += 1
    except LotUnreadable as error:
        return ReplayReport(lot_id, count, None, None, unreadable=str(error), unreadable_version=error.details["version"])
    stored_item = service.store.get_snapshot(lot_id)
    stored, unreadable = (None, None) if stored_item is None else _normalised(lot_id, stored_item)
    folded = None if state is None else state.to_item()
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
    return report


def fix(service: AuctionService, report: ReplayReport) -> None:
    """Write the folded snapshot back, only over the very snapshot that was compared."""
    if report.folded is None or report.stored is None:
        raise ValueError(f"lot {report.lot_id}: nothing to fix without both events and a snapshot")
    stored_version = report.stored.get("version")
    if not isinstance(stored_version, int):
        raise ValueError(f"lot {report.lot_id}: the stored snapshot has no version to replace it at")
    try:
        service.store.replace_snapshot(report.folded, expected_version=stored_version)
    except IntegrityError:
        raise ValueError(f"lot {report.lot_id}: the snapshot changed since it was compared; replay again") from None


def _normalised(lot_id: str, item: dict[str, Any]) -> tuple[dict[str, Any], LotUnreadable | None]:
    """A stored snapshot in the snapshot model's JSON form, so numbers and optional
    fields compare like for like; fields the model does not know are kept as they are,
    and all of them when the snapshot cannot be read (the error says why)."""
    plain = {k: _plain(v) for k, v in item.items()}
    try:
        return plain | LotSnapshot.from_item(lot_id, item).to_item(), None
    except LotUnreadable as error:
        return plain, error


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class VerifyReport:
    lot_id: str
    events: int
    first_bad_version: int | None = None  # None with a problem: a snapshot that does not even say its version
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(service: AuctionService, lot_id: str) -> VerifyReport:
    """Check the hash chain from version 1 to the snapshot's head, and that every item
    can be read; name the first bad version."""
    expected_version, prev_hash, count = 1, GENESIS_HASH, 0
    try:
        for stored in service.store.iter_events(lot_id, page_size=PAGE_SIZE):
            version = stored.originator_version
            if version != expected_version:
                return VerifyReport(lot_id, count, expected_version, f"version {expected_version} is missing (next is {version})")
            event = read_event(service, stored)
            if event.prev_hash != prev_hash:
                return VerifyReport(lot_id, count, version, "prev_hash does not match the previous event's hash")
            if event.compute_hash() != event.hash:
                return VerifyReport(lot_id, count, version, "hash does not match the event's content")
            prev_hash, expected_version, count = event.hash, version + 1, count + 1
    except LotUnreadable as error:
        return VerifyReport(lot_id, count, error.details["version"] or expected_version, str(error))
    item = service.store.get_snapshot(lot_id)
    if item is None:
        return VerifyReport(lot_id, count)
    try:
        snapshot = LotSnapshot.from_item(lot_id, item)
    except LotUnreadable as error:
        return VerifyReport(lot_id, count, error.details["version"], str(error))
    if snapshot.version >= expected_version:
        return VerifyReport(lot_id, count, expected_version, f"events after version {expected_version - 1} are missing (snapshot is at {snapshot.version})")
    if snapshot.head_hash != prev_hash or snapshot.version != expected_version - 1:
        return VerifyReport(lot_id, count, snapshot.version, "the snapshot's head hash does not match the events")
    return VerifyReport(lot_id, count)


def for_each_lot(
    service: AuctionService,
    check: Callable[[AuctionService, str], T],
    lot_ids: Iterable[str] | None = None,
    workers: int = 8,
    progress: Callable[[T], None] | None = None,
) -> list[T]:
    """Run `check` (replay or verify) over many lots in parallel threads: the work is
    mostly waiting on DynamoDB, so lots overlap; each lot is still read in order."""
    ids = list(service.store.lot_ids() if lot_ids is None else lot_ids)
    results: list[T] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(lambda lot_id: check(service, lot_id), ids):
            results.append(result)
            if progress is not None:
                progress(result)
    return results
