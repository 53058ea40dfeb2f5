"""The command service: loads a lot from its snapshot (or takes the one it kept from its
last write or read of the lot), lets the Lot decide, and saves events, bid receipts and
the new snapshot in one transaction, deciding again from fresh state when a condition
says another writer got there first (or a bid was decided before). It also offers the reads that
handlers, projections and the CLI share (a lot now or as it stood then, its events,
open lots, a bid's status), so nothing outside `ledger` reaches into storage.

Storage is the port `ledger.persistence.LotRecorder`, chosen the library's way by
PERSISTENCE_MODULE (`ledger.dynamodb` by default, `ledger.memory` in unit tests)."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, OperationalError, StoredEvent
from pydantic import ValidationError

from ledger.domain import rules
from ledger.domain.commands import (
    BidOutcome,
    BuyNow,
    CancelLot,
    CloseLot,
    CommandResult,
    CreateLot,
    CreateSale,
    PlaceBid,
    RetractBid,
)
from ledger.domain.errors import (
    BidIdReused,
    BidNotFound,
    BuyNowRefused,
    ConfirmationRequired,
    InvalidCommand,
    LedgerError,
    LotAlreadyExists,
    LotNotFound,
    LotUnreadable,
    NotAllowed,
    SaleAlreadyExists,
    SaleNotFound,
    SaleUnreadable,
    SnapshotChanged,
    TransientError,
)
from ledger.domain.events import BidPlaced, BidRetracted, LotEvent
from ledger.domain.listing import ENDED_PART, OPEN_PART, ListPosition, ListStatus
from ledger.domain.lot import Lot
from ledger.domain.sales import SaleRecord
from ledger.domain.state import LotSnapshot, evolve
from ledger.domain.values import fits_currency, format_decimal, format_time, minor_units, utc_now
from ledger.persistence import (
    TRANSACTION_LIMIT,
    ConditionsFailed,
    LotRecorder,
    SaleConditionsFailed,
    close_key,
    ended_at,
    ended_key,
    lot_key,
    sale_key,
)
from ledger.snapshot_item import snapshot_from_item, snapshot_to_item

LotCommand = PlaceBid | CloseLot | CancelLot | RetractBid | BuyNow
# The commands decided as bids: each has a bid id (its receipt's key) and a bidder.
BID_COMMANDS = (PlaceBid, BuyNow)
BidCommand = TypeVar("BidCommand", PlaceBid, BuyNow)
log = logging.getLogger(__name__)
# Events are read from storage this many at a time (one Query page in DynamoDB).
PAGE_SIZE = 1000

# A command writes at most an event, a receipt and a new bidder's alias; one item more is the
# snapshot, and one more the LotClosed of a purchase at the buy-now price (once per lot).
COMMANDS_PER_TRANSACTION = (TRANSACTION_LIMIT - 2) // 3
# The public view's bid history: this many recent accepted bids, found among at most
# RECENT_EVENTS_READ of the lot's latest events (one Query page, however many rejections).
RECENT_BIDS = 20
RECENT_EVENTS_READ = 100
# The aliases a cached lot remembers; beyond it they are forgotten, and a returning bidder
# costs a failed condition and a read (bounded memory for a lot with many thousands of bidders).
ALIASES_KEPT_PER_LOT = 10_000
# The deployment's caps per currency above which a bid needs the bidder's confirmation
# (`ledger.domain.rules.parse_confirmation_caps`: "EUR=100000,JPY=15000000"; empty or unset: none).
CONFIRMATION_CAPS_VARIABLE = "BID_CONFIRMATION_CAPS"
# How old a snapshot read for admitting bids (`admit_bid`) may be when it is used again,
# instead of reading the lot for every bid (a read per bid, the API's busiest call). What
# admission takes from it cannot go wrong with age: the lot exists (lots are never deleted;
# an unknown lot is never remembered), its currency (fixed at creation), and the minimum
# next bid, which only rises, so an old one asks for confirmation sooner, never later; a
# refusal is decided again on the lot as stored now. The bound covers what could lower a
# minimum after all (a tampered snapshot repaired): the fat-finger question then goes by a
# minimum at most this old, no older than the one on the bidder's page.
ADMISSION_SNAPSHOT_MAX_AGE_S = 5.0


@dataclass(frozen=True)
class KnownSnapshot:
    """A lot's snapshot as this instance last wrote or read it: decoded, and the item as
    stored (the next write is conditional on every attribute of it); with the aliases of
    the lot's bidders this instance has seen (a subset: a bidder missing here may still
    have one, which the alias record's condition then says)."""

    state: LotSnapshot
    item: dict[str, Any]
    aliases: dict[str, int] = field(default_factory=dict)
    # Bidders read as having no alias on the lot (rejected ones): as long as this snapshot
    # line is current (any alias given elsewhere moves the version), they still have none.
    newcomers: frozenset[str] = frozenset()

    def unknown(self, bidders: Sequence[str]) -> list[str]:
        """Those of `bidders` who may have an alias this instance does not know: none when
        it knows as many aliases as the lot has bidders."""
        if len(self.aliases) >= self.state.bidder_count:
            return []
        return [b for b in bidders if b not in self.aliases and b not in self.newcomers]


class AdmissionSnapshots:
    """Snapshots read to admit bids, each with when it was read (`time.monotonic`), kept
    `max_age_s` and for at most `size` lots (the least recently read dropped first)."""

    def __init__(self, max_age_s: float, size: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s = max_age_s
        self.size = size
        self._clock = clock
        self._read: OrderedDict[str, tuple[float, LotSnapshot]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, lot_id: str) -> LotSnapshot | None:
        with self._lock:
            entry = self._read.get(lot_id)
            if entry is None or self._clock() - entry[0] > self.max_age_s:
                return None
            return entry[1]

    def put(self, lot: LotSnapshot) -> None:
        if self.max_age_s <= 0:
            return
        with self._lock:
            self._read[lot.lot_id] = (self._clock(), lot)
            self._read.move_to_end(lot.lot_id)
            while len(self._read) > self.size:
                self._read.popitem(last=False)


class LatestEvents:
    """The latest RECENT_EVENTS_READ events of the lots this instance read them for
    (newest first), so the next read of a lot's latest events asks storage only for those
    after them (stored events are never rewritten); at most `size` lots, the least
    recently read dropped first."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._events: OrderedDict[str, list[LotEvent]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, lot_id: str) -> list[LotEvent] | None:
        with self._lock:
            events = self._events.get(lot_id)
            if events is not None:
                self._events.move_to_end(lot_id)
            return events

    def put(self, lot_id: str, events: list[LotEvent]) -> None:
        """Keep `events` (newest first) unless newer ones are kept already."""
        if not events:
            return
        with self._lock:
            kept = self._events.get(lot_id)
            if kept is None or kept[0].originator_version <= events[0].originator_version:
                self._events[lot_id] = events
            self._events.move_to_end(lot_id)
            while len(self._events) > self.size:
                self._events.popitem(last=False)


class SnapshotCache:
    """The last snapshot this instance wrote or read for each lot, the least recently
    used dropped first beyond `size` (one per Lambda container: a few thousand lots)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._snapshots: OrderedDict[str, KnownSnapshot] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, lot_id: str) -> KnownSnapshot | None:
        with self._lock:
            known = self._snapshots.get(lot_id)
            if known is not None:
                self._snapshots.move_to_end(lot_id)
            return known

    def put(
        self,
        state: LotSnapshot,
        item: dict[str, Any],
        aliases: Mapping[str, int] | None = None,
        newcomers: Iterable[str] = (),
    ) -> KnownSnapshot:
        with self._lock:
            known = dict(aliases or {})
            strangers = frozenset(newcomers) - known.keys()
            if len(known) + len(strangers) > ALIASES_KEPT_PER_LOT:
                known, strangers = {}, frozenset()
            self._snapshots[state.lot_id] = entry = KnownSnapshot(state, item, known, strangers)
            self._snapshots.move_to_end(state.lot_id)
            while len(self._snapshots) > self.size:
                self._snapshots.popitem(last=False)
            return entry

    def drop(self, lot_id: str) -> None:
        with self._lock:
            self._snapshots.pop(lot_id, None)

    def __len__(self) -> int:
        return len(self._snapshots)


@dataclass
class OpenLots:
    lots: list[LotSnapshot] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # keys of the snapshots left out
    next_after: str | None = None  # given a limit and a full page: where the next page starts


@dataclass
class LotList:
    """A page of `list_lots`: the lots in list order, the keys of the snapshots left out
    as unreadable, and the cursor of the next page (None: this page ended the list)."""

    lots: list[LotSnapshot] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    next_cursor: str | None = None


class AuctionService(Application[str]):
    name = "SamSold"
    env = {"PERSISTENCE_MODULE": "ledger.dynamodb"}
    max_attempts = 8

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utc_now,
        recorder: LotRecorder | None = None,
        snapshot_cache_size: int = 4096,
        confirmation_caps: Mapping[str, Decimal] | None = None,
        admission_snapshot_max_age_s: float = ADMISSION_SNAPSHOT_MAX_AGE_S,
    ) -> None:
        # A recorder given here is used instead of the one PERSISTENCE_MODULE's factory makes.
        self._given_recorder = recorder
        super().__init__(None if env is None else dict(env))
        self.clock = clock
        self._snapshots = SnapshotCache(snapshot_cache_size)
        self._admission_snapshots = AdmissionSnapshots(admission_snapshot_max_age_s)
        self._latest_events = LatestEvents()
        # Read now, so a wrong setting stops the function at start-up rather than failing bids.
        self.confirmation_caps: dict[str, Decimal] = (
            dict(confirmation_caps) if confirmation_caps is not None else _caps_from(self.env.get(CONFIRMATION_CAPS_VARIABLE) or "")
        )

    def construct_recorder(self) -> ApplicationRecorder:
        if self._given_recorder is not None:
            return cast(ApplicationRecorder, self._given_recorder)
        return super().construct_recorder()

    @property
    def store(self) -> LotRecorder:
        """The storage port; for the ledger's own use (callers outside `ledger` use the methods below)."""
        return cast(LotRecorder, self.recorder)

    # --- reads ------------------------------------------------------------------------

    def find_lot(self, lot_id: str) -> LotSnapshot | None:
        """The lot's snapshot; None when there is no lot; LotUnreadable when its item cannot be read."""
        item = self.store.get_snapshot(lot_id)
        return None if item is None else self._read_snapshot(lot_id, item)

    def get_lot(self, lot_id: str) -> LotSnapshot:
        lot = self.find_lot(lot_id)
        if lot is None:
            raise LotNotFound(f"no lot {lot_id!r}", {"lot_id": lot_id})
        return lot

    def open_lots(self, closing_by: datetime | None = None, limit: int | None = None, after: str | None = None) -> OpenLots:
        """Open lots by close time (with `closing_by`, only those due by then; with `after`,
        a lot's `close_key`, only those after it). A snapshot that cannot be read is left
        out, logged with its key and listed in `unreadable`, so one bad item never hides the others."""
        page = OpenLots()
        listed = 0
        for lot_id, item in self.store.open_lots(None if closing_by is None else format_time(closing_by), limit, after):
            listed += 1
            try:
                page.lots.append(self._read_snapshot(lot_id, item))
            except LotUnreadable:
                page.unreadable.append(lot_key(lot_id))
            if listed == limit and isinstance(item.get("closes_at"), str):
                page.next_after = close_key(item["closes_at"], lot_id)
        return page

    def list_lots(self, status: ListStatus, limit: int, cursor: str | None = None) -> LotList:
        """A page of lots in the list's order (`ledger.domain.listing`): `open` lots soonest to close
        first, `closed` (ended) lots most recently ended first, `all` the open ones then the
        ended ones; after `cursor`, the `next_cursor` of the page before. A snapshot that
        cannot be read is left out and named in `unreadable`; it still takes its place, so
        paging neither repeats nor skips a lot."""
        position = None if cursor is None else ListPosition.from_cursor(cursor)
        page = LotList()
        listed = 0
        if status != "closed" and (position is None or position.part == OPEN_PART):
            after = None if position is None else position.key
            for lot_id, item in self.store.open_lots(None, limit, after):
                listed += 1
                self._list_one(page, lot_id, item)
                if listed == limit:
                    page.next_cursor = ListPosition(OPEN_PART, close_key(str(item["closes_at"]), lot_id)).cursor
        if status != "open" and listed < limit:
            after = position.key if position is not None and position.part == ENDED_PART else None
            for lot_id, item in self.store.ended_lots(limit - listed, after):
                listed += 1
                self._list_one(page, lot_id, item)
                if listed == limit:
                    page.next_cursor = ListPosition(ENDED_PART, ended_key(str(ended_at(item)), lot_id)).cursor
        return page

    def _list_one(self, page: LotList, lot_id: str, item: dict[str, Any]) -> None:
        try:
            page.lots.append(self._read_snapshot(lot_id, item))
        except LotUnreadable:
            page.unreadable.append(lot_key(lot_id))

    @staticmethod
    def _read_snapshot(lot_id: str, item: dict[str, Any]) -> LotSnapshot:
        try:
            return snapshot_from_item(lot_id, item)
        except LotUnreadable as error:
            log.error("unreadable snapshot %s: %s", lot_key(lot_id), error, extra={"key": lot_key(lot_id), "problem": error.problem})
            raise

    def lot_ids(self) -> Iterator[str]:
        """Every lot (a scan of storage: for operators' tools, not hot paths)."""
        return self.store.lot_ids()

    def stored_snapshot(self, lot_id: str) -> dict[str, Any] | None:
        """The lot's snapshot exactly as stored (for replay's comparison), or None."""
        return self.store.get_snapshot(lot_id)

    def missing_index_keys(self, lot_id: str) -> list[str]:
        """The index attributes the lot's stored snapshot lacks for its status (for replay)."""
        return self.store.missing_index_keys(lot_id)

    def replace_snapshot(self, snapshot: Mapping[str, Any], expected_version: int) -> None:
        """Overwrite a drifted snapshot, only if it is still at `expected_version`
        (a live writer that moved it on since is never overwritten: SnapshotChanged)."""
        try:
            self.store.replace_snapshot(snapshot, expected_version=expected_version)
        except IntegrityError:
            lot_id = snapshot.get("lot_id")
            raise SnapshotChanged(
                f"lot {lot_id}: the snapshot changed since it was compared; replay again",
                {"lot_id": lot_id, "version": expected_version},
            ) from None

    def stored_events(
        self, lot_id: str, *, after_version: int | None = None, upto_version: int | None = None, limit: int | None = None
    ) -> Iterator[StoredEvent]:
        """A lot's events as stored, in order, read page by page (`read_event` decodes one)."""
        return self.store.iter_events(lot_id, gt=after_version, lte=upto_version, limit=limit, page_size=PAGE_SIZE)

    def read_event(self, stored: StoredEvent) -> LotEvent:
        """The lot event a stored item holds; LotUnreadable (naming the lot, the version and
        the problem) when it cannot be decoded."""
        lot_id, version = str(stored.originator_id), stored.originator_version
        try:
            event = self.mapper.to_domain_event(stored)
        except Exception as error:  # a damaged item may fail anywhere in the mapper: JSON, topic, fields
            problem = f"{type(error).__name__}: {error}"
        else:
            if isinstance(event, LotEvent):
                return event
            problem = f"not a lot event: {stored.topic}"
        raise LotUnreadable(lot_id, f"event {version}", problem, version)

    def lot_events(
        self, lot_id: str, *, after_version: int | None = None, upto_version: int | None = None, limit: int | None = None
    ) -> Iterator[LotEvent]:
        """A lot's events in order, read page by page."""
        for stored in self.stored_events(lot_id, after_version=after_version, upto_version=upto_version, limit=limit):
            yield self.read_event(stored)

    def latest_events(self, lot_id: str, *, upto_version: int | None = None) -> list[LotEvent]:
        """The lot's latest RECENT_EVENTS_READ events (up to `upto_version`), newest first: one
        Query, of only the events after those read last time for the lot (`LatestEvents`)."""
        known = self._latest_events.get(lot_id)
        after = None
        if known and (upto_version is None or known[0].originator_version <= upto_version):
            after = known[0].originator_version
        stored = self.store.iter_events(
            lot_id, gt=after, lte=upto_version, desc=True, limit=RECENT_EVENTS_READ, page_size=RECENT_EVENTS_READ
        )
        events = [self.read_event(event) for event in stored]
        if after is not None and known is not None:
            events = (events + known)[:RECENT_EVENTS_READ]
        self._latest_events.put(lot_id, events)
        return list(events)

    def recent_bids(
        self, lot_id: str, *, upto_version: int | None = None, latest: Sequence[LotEvent] | None = None
    ) -> list[BidPlaced]:
        """The lot's latest accepted bids still standing (up to `upto_version`), oldest first: its public bid
        history, read from the events themselves (`latest_events`, or the ones given), not
        kept in the snapshot."""
        if latest is None:
            latest = self.latest_events(lot_id, upto_version=upto_version)
        # A retracted bid no longer stands: left out (its retraction is newer, so read with it).
        retracted = {event.bid_id for event in latest if isinstance(event, BidRetracted)}
        bids = [event for event in latest if isinstance(event, BidPlaced) and event.bid_id not in retracted][:RECENT_BIDS]
        bids.reverse()
        return bids

    def bidder_aliases(self, lot_id: str, bidders: Sequence[str]) -> dict[str, int]:
        """The alias numbers of those of `bidders` who bid on the lot, by bidder."""
        return self.store.get_aliases(lot_id, list(bidders))

    # --- bidders' records of lots (a projection of the events: projections.my_bids) ----

    def record_bidder_lots(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Write bidders' records of lots, each only over an older one."""
        if records:
            self.store.update_bidder_lots(records)

    def bidder_record(self, bidder: str, lot_id: str) -> dict[str, Any] | None:
        return self.store.get_bidder_lot(bidder, lot_id)

    def bidder_lots(self, bidder: str, limit: int, after: str | None = None) -> tuple[list[tuple[LotSnapshot, dict[str, Any]]], str | None]:
        """A page of the lots the bidder bid on (by lot id, after lot `after`), each with their
        record of it, and the lot id to read on from; a lot that cannot be read is left out."""
        records, next_after = self.store.bidder_lots(bidder, limit, after)
        snapshots = self.store.get_snapshots([str(r["lot_id"]) for r in records])
        page: list[tuple[LotSnapshot, dict[str, Any]]] = []
        for record in records:
            item = snapshots.get(str(record["lot_id"]))
            if item is None:
                continue
            try:
                page.append((self._read_snapshot(str(record["lot_id"]), item), record))
            except LotUnreadable:
                continue
        return page, next_after

    def lot_bidders(self, lot_id: str) -> Iterator[str]:
        """Everyone who bid on the lot (as far as their records say)."""
        return self.store.lot_bidders(lot_id)

    def lot_as_of(self, lot_id: str, *, version: int | None = None, at: datetime | None = None) -> LotSnapshot:
        """The lot as it stood after `version`, or at time `at` (the last event recorded at
        or before it): the fold of its events up to then. LotNotFound when it did not
        exist then."""
        state: LotSnapshot | None = None
        for event in self.lot_events(lot_id, upto_version=version):
            if at is not None and event.timestamp > at:
                break
            state = evolve(event, state)
        if state is None:
            raise LotNotFound(f"lot {lot_id!r} did not exist then", {"lot_id": lot_id})
        return state

    def lot_history(
        self, lot_id: str, *, is_admin: bool, after_version: int = 0, limit: int = 100
    ) -> tuple[list[LotEvent], int | None]:
        """A page of the lot's event log (administrators only): the events after
        `after_version`, at most `limit`, and the version to read on from (None: no more)."""
        if not is_admin:
            raise NotAllowed("the event log is for administrators")
        self.get_lot(lot_id)
        events = list(self.lot_events(lot_id, after_version=after_version, limit=limit + 1))
        more = len(events) > limit
        events = events[:limit]
        return events, events[-1].originator_version if more else None

    def park(self, message_id: str, body: str, reason: str, attributes: Mapping[str, Any]) -> None:
        """Keep a message that can never be processed, with the reason, for inspection."""
        self.store.park(message_id, body, reason, attributes)

    def get_bid_outcome(self, bid_id: str) -> BidOutcome | None:
        receipt = self.store.get_receipts([bid_id]).get(bid_id)
        return None if receipt is None else BidOutcome.model_validate(receipt)

    # --- commands ---------------------------------------------------------------------

    def create_lot(self, command: CreateLot, seller: str) -> LotSnapshot:
        lot = Lot.create(command, seller, self.clock())
        try:
            self.save(lot, snapshot=snapshot_to_item(lot.state), expected_version=None)
        except IntegrityError:
            raise LotAlreadyExists(f"lot {command.lot_id!r} exists already", {"lot_id": command.lot_id}) from None
        self._snapshots.put(lot.state.model_copy(deep=True), snapshot_to_item(lot.state))
        return lot.state

    # --- staggered sales ----------------------------------------------------------------

    def create_sale(self, command: CreateSale, seller: str) -> tuple[SaleRecord, list[LotSnapshot]]:
        """Create a sale and its lots, closing `interval_s` apart in the order given, in one
        transaction (the sale item, each lot's LotCreated event and snapshot): all or
        nothing. Each lot's terms are checked as `create_lot` checks them, with its close
        time; a refusal names the lot. A sale or a lot that exists already: nothing written,
        except that the very request that created a sale, sent again, is answered with it."""
        now = self.clock()
        request = json.dumps({"seller": seller, **command.model_dump(mode="json")}, sort_keys=True, ensure_ascii=False)
        request_hash = hashlib.sha256(request.encode()).hexdigest()
        # First the sale id: the same request again is answered even once its close times have passed.
        if (answered := self._sale_made_by(command.sale_id, request_hash)) is not None:
            return answered
        close_times = rules.sale_close_times(command.first_closes_at, command.interval_s, len(command.lots))
        rules.check_sale_close_times(close_times)
        # Each entry is a lot's terms but its close time: with it, the terms of `create_lot`.
        all_terms = [
            CreateLot.model_validate(terms.model_dump(mode="json") | {"closes_at": format_time(closes_at)})
            for terms, closes_at in zip(command.lots, close_times, strict=True)
        ]
        rules.check_sale_lot_ids([terms.lot_id for terms in all_terms])
        lots: list[Lot] = []
        for index, lot_terms in enumerate(all_terms):
            try:
                lots.append(Lot.create(lot_terms, seller, now, sale_id=command.sale_id))
            except InvalidCommand as error:
                raise InvalidCommand(
                    f"lot {index + 1} of the sale ({lot_terms.lot_id}): {error.message}",
                    error.details | {"lot_index": index, "lot_id": lot_terms.lot_id},
                ) from None
        sale = SaleRecord(
            sale_id=command.sale_id, title=command.title, seller=seller, interval_s=command.interval_s,
            first_closes_at=command.first_closes_at, lot_ids=[lot.id for lot in lots], created_at=now,
            request_hash=request_hash,
        )
        stored = [self.mapper.to_stored_event(event) for lot in lots for event in lot.collect_events()]
        try:
            self.store.insert_sale(sale.to_item(), stored, [snapshot_to_item(lot.state) for lot in lots])
        except SaleConditionsFailed as failed:
            if failed.sale_exists:
                # Written since the first read (the same request racing itself, or another one).
                if (answered := self._sale_made_by(command.sale_id, request_hash)) is not None:
                    return answered
                raise SaleAlreadyExists(f"sale {command.sale_id!r} exists already", {"sale_id": command.sale_id}) from None
            raise LotAlreadyExists(
                f"lot {failed.lots_exist[0]!r} of the sale exists already", {"lot_ids": list(failed.lots_exist)}
            ) from None
        for lot in lots:
            self._snapshots.put(lot.state.model_copy(deep=True), snapshot_to_item(lot.state))
        return sale, [lot.state for lot in lots]

    def _sale_made_by(self, sale_id: str, request_hash: str) -> tuple[SaleRecord, list[LotSnapshot]] | None:
        """The sale `sale_id` when this request made it (a client that lost the answer sends
        it again); None when there is no such sale; SaleAlreadyExists when another request did."""
        existing = self.store.get_sale(sale_id)
        if existing is None:
            return None
        if existing.get("request_hash") != request_hash:
            raise SaleAlreadyExists(f"sale {sale_id!r} exists already", {"sale_id": sale_id})
        return self.get_sale(sale_id)

    def get_sale(self, sale_id: str) -> tuple[SaleRecord, list[LotSnapshot]]:
        """A sale and its lots' snapshots in the sale's order: the sale item, then its lots
        in one BatchGetItem (a snapshot that cannot be read is logged and left out)."""
        item = self.store.get_sale(sale_id)
        if item is None:
            raise SaleNotFound(f"no sale {sale_id!r}", {"sale_id": sale_id})
        try:
            sale = SaleRecord.model_validate(item)
        except ValidationError as error:
            log.error("unreadable sale %s: %s", sale_key(sale_id), error, extra={"key": sale_key(sale_id)})
            raise SaleUnreadable(sale_id, str(error)) from None
        snapshots = self.store.get_snapshots(sale.lot_ids)
        lots: list[LotSnapshot] = []
        for lot_id in sale.lot_ids:
            # The batch read may lag the sale's own write a little: read a missing lot again.
            snapshot = snapshots.get(lot_id) or self.store.get_snapshot(lot_id)
            if snapshot is None:
                continue
            try:
                lots.append(self._read_snapshot(lot_id, snapshot))
            except LotUnreadable:
                continue
        return sale, lots

    def admit_bid(self, command: PlaceBid, confirmed: bool = False) -> LotSnapshot:
        """What a bid must pass before it is queued: its lot exists, its amount fits the
        lot's currency, and a bid far above the minimum next bid is confirmed
        (`rules.needs_confirmation`). Everything else is decided in order by the processor.
        The lot may be one read for an earlier bid (ADMISSION_SNAPSHOT_MAX_AGE_S); a bid
        that it would ask to confirm is asked only if the lot as stored now asks too."""
        lot = self._admission_snapshots.get(command.lot_id)
        if lot is not None and rules.needs_confirmation(
            lot, command.amount_decimal, confirmed, self.confirmation_caps
        ) is not None:
            lot = None  # the minimum may have risen since: ask only on the lot as stored now
        if lot is None:
            lot = self.get_lot(command.lot_id)
            self._admission_snapshots.put(lot)
        if not fits_currency(command.amount_decimal, lot.currency):
            raise InvalidCommand(
                f"{lot.currency} amounts have at most {minor_units(lot.currency)} decimals",
                {"reason": rules.CURRENCY_PRECISION, "currency": lot.currency, "amount": command.amount},
            )
        question = rules.needs_confirmation(lot, command.amount_decimal, confirmed, self.confirmation_caps)
        if question is not None:
            raise _confirmation_required(lot, command, question)
        return lot

    def submit_buy_now(
        self, lot_id: str, bid_id: str, buyer: str, placed_at: datetime, correlation_id: str | None = None
    ) -> tuple[BuyNow, bool]:
        """Admit a purchase at the lot's buy-now price and record it as PENDING, once per bid
        id (as `submit_bid`). Admitted when the lot exists (LotNotFound) and, at `placed_at`,
        offers its buy-now price to the buyer (`rules.buy_now_refusal`, else BuyNowRefused);
        the queue's order still decides, as a bid ahead of it may take the offer away. A
        retry (same bid id) of a purchase recorded before is that purchase, whatever the lot
        offers now: the processor decides it once."""
        lot = self.get_lot(lot_id)
        if lot.buy_now_price is None:
            raise _buy_now_refused(rules.BUY_NOW_NOT_OFFERED, lot)
        command = BuyNow(
            bid_id=bid_id, lot_id=lot_id, bidder=buyer, placed_at=placed_at, correlation_id=correlation_id,
            amount=format_decimal(rules.in_digits(lot.buy_now_price, lot.currency)),
        )
        reason = rules.buy_now_refusal(lot, buyer, placed_at)
        if reason is not None:
            # Only now look for an earlier request: the common path keeps its one write.
            recorded = self.store.get_bid_request(bid_id)
            if recorded is None:
                raise _buy_now_refused(reason, lot)
            return self._same_bid(command, recorded), False
        earlier = self.store.record_bid_request(command.model_dump(mode="json"))
        if earlier is None:
            return command, True
        return self._same_bid(command, earlier), False

    def submit_bid(self, command: PlaceBid, confirmed: bool = False) -> tuple[PlaceBid, bool]:
        """Admit a bid and record it as PENDING, once per bid id. Returns the bid as
        first recorded and whether this call recorded it; a bid id that comes back
        with another lot, bidder or amount is refused. A retry (same bid id) of a bid
        recorded when it was confirmed needs no confirmation again: it is the same bid."""
        try:
            self.admit_bid(command, confirmed)
        except ConfirmationRequired:
            # Only now look for an earlier request: the common path keeps its one write.
            recorded = self.store.get_bid_request(command.bid_id)
            if recorded is None:
                raise
            return self._same_bid(command, recorded), False
        earlier = self.store.record_bid_request(command.model_dump(mode="json"))
        if earlier is None:
            return command, True
        return self._same_bid(command, earlier), False

    @staticmethod
    def _same_bid(command: BidCommand, earlier: Mapping[str, Any]) -> BidCommand:
        """The bid first recorded under the command's bid id, which must be the same bid (a
        bid and a purchase at the buy-now price are not the same)."""
        if earlier.get("type", "PlaceBid") != command.type:
            raise BidIdReused(f"bid id {command.bid_id!r} was used for another bid", {"bid_id": command.bid_id})
        first = type(command).model_validate(earlier)
        if (first.lot_id, first.bidder, first.amount) != (command.lot_id, command.bidder, command.amount):
            raise BidIdReused(
                f"bid id {command.bid_id!r} was used for another bid", {"bid_id": command.bid_id}
            )
        return first

    def bid_status(self, bid_id: str, bidder: str) -> BidOutcome | None:
        """The bid's outcome, or PENDING while it waits in the queue, or RETRACTED (with the
        administrator's reason) once an accepted bid was retracted; None when there is no
        such bid of this bidder (another bidder's bid is not shown)."""
        outcome = self.get_bid_outcome(bid_id)
        if outcome is None:
            request = self.store.get_bid_request(bid_id)
            if request is None:
                return None
            outcome = BidOutcome.model_validate(request | {"status": "PENDING"})
        elif outcome.status == "ACCEPTED" and outcome.bidder == bidder and (retraction := self.store.get_retraction(bid_id)):
            # Receipts are written once: a retraction is its own record, read only for accepted bids.
            outcome = outcome.model_copy(update={"status": "RETRACTED", "reason": retraction["reason"], "leading": False})
        return outcome if outcome.bidder == bidder else None

    def own_bid(self, bid_id: str, bidder: str) -> BidOutcome:
        """`bid_status`, or BidNotFound when the bidder has no such bid."""
        outcome = self.bid_status(bid_id, bidder)
        if outcome is None:
            raise BidNotFound(f"you have no bid {bid_id!r}")
        return outcome

    def bid_receipts(self, bid_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The receipts of those of `bid_ids` that are decided, by bid id."""
        return self.store.get_receipts(list(bid_ids))

    def decided_bid(self, bid_id: str) -> dict[str, Any]:
        """The receipt of a decided bid; BidNotFound (saying whether it still waits) otherwise."""
        receipt = self.store.get_receipts([bid_id]).get(bid_id)
        if receipt is None:
            request = self.store.get_bid_request(bid_id)
            detail = "it is still waiting to be decided" if request else "there is no such bid"
            raise BidNotFound(f"no decision for bid {bid_id!r}: {detail}", {"bid_id": bid_id})
        return receipt

    def place_bid(self, command: PlaceBid) -> CommandResult:
        return self.execute(command.lot_id, [command])[0]

    def close_lot(self, command: CloseLot) -> CommandResult:
        return self.execute(command.lot_id, [command])[0]

    def cancel_lot(self, command: CancelLot, is_admin: bool) -> CommandResult:
        return self.execute(command.lot_id, [command], is_admin=is_admin)[0]

    def retract_bid(self, command: RetractBid, is_admin: bool) -> CommandResult:
        """Retract an accepted bid (administrators, while the lot is open). Executed here,
        in the lot's one transaction like a cancel: the snapshot's version condition makes a
        race with the processor deciding the lot's bids a conflict, decided again on fresh
        state and the lot's events up to it."""
        return self.execute(command.lot_id, [command], is_admin=is_admin)[0]

    def execute(self, lot_id: str, commands: Sequence[LotCommand], is_admin: bool = False) -> list[CommandResult]:
        """Decide several commands of one lot in order, saving each transaction's worth
        at once. A bid decided before (same bid_id) returns its first outcome and
        writes nothing."""
        for command in commands:
            if command.lot_id != lot_id:
                raise InvalidCommand(f"command for lot {command.lot_id!r} in a batch for {lot_id!r}")
        results: list[CommandResult] = []
        for start in range(0, len(commands), COMMANDS_PER_TRANSACTION):
            results += self._execute_in_one_transaction(lot_id, commands[start : start + COMMANDS_PER_TRANSACTION], is_admin)
        return results

    def _execute_in_one_transaction(
        self, lot_id: str, commands: Sequence[LotCommand], is_admin: bool
    ) -> list[CommandResult]:
        """Decide on the snapshot this instance last wrote or read for the lot, when it has
        one, and write without reading first: the transaction's conditions (the snapshot's
        version, each receipt and each new bidder's alias record new) say whether that was
        right. Only a failed condition costs a read: a receipt that exists (a bid decided
        before, on the same snapshot) is read and its first outcome answered; a snapshot
        that moved on is reloaded, with the batch's receipts and aliases, in one read, and
        everything decided again. Aliases: the snapshot counts the lot's bidders, so this
        instance knows when it knows them all; until then it reads the aliases of the
        batch's bidders it does not know before deciding (one read). An alias record that
        exists after all is read and the batch decided again."""
        bid_ids = [c.bid_id for c in commands if isinstance(c, BID_COMMANDS)]
        bidders = list(dict.fromkeys(c.bidder for c in commands if isinstance(c, BID_COMMANDS)))
        decided: dict[str, dict[str, Any]] = {}
        known = self._snapshots.get(lot_id)
        for attempt in range(self.max_attempts):
            cached = known is not None
            if known is None:
                known, decided = self._load(lot_id, bid_ids, bidders)
            elif unknown := known.unknown(bidders):
                # Some of the lot's bidders are unknown here, so a bidder new to this instance
                # may have an alias: read theirs (cheaper than a transaction that fails on it).
                found = self.store.get_aliases(lot_id, unknown)
                known = self._snapshots.put(known.state, known.item, known.aliases | found, known.newcomers | set(unknown))
            lot = Lot.from_snapshot(known.state.model_copy(deep=True))  # the fold changes the state it is given
            aliases = dict(known.aliases)
            try:
                results, receipts = self._decide(lot, commands, dict(decided), is_admin, aliases)
            except LedgerError:
                if not cached:
                    raise
                self._snapshots.drop(lot_id)  # refuse only on what is stored now
                known = None
                continue
            if lot.version == known.state.version:
                if cached and not all(r.duplicate for r in results):
                    self._snapshots.drop(lot_id)  # a decision that writes nothing is made on stored state
                    known = None
                    continue
                return results
            item = snapshot_to_item(lot.state)
            try:
                self.save(
                    lot,
                    snapshot=item,
                    expected_version=known.state.version,
                    expected_snapshot=known.item,
                    receipts=receipts,
                    bidders=_new_bidders(lot, known.aliases),
                    retractions=_retractions(lot),
                )
            except ConditionsFailed as failed:
                if failed.only_records_exist:
                    # Bids decided before, or bidders seen before, and the snapshot is current:
                    # read what exists and decide again on the same snapshot.
                    decided |= self.store.get_receipts(failed.decided_bids) if failed.decided_bids else {}
                    found = self.store.get_aliases(lot_id, failed.known_bidders) if failed.known_bidders else {}
                    if set(failed.decided_bids) <= set(decided) and set(failed.known_bidders) <= set(found):
                        known = self._snapshots.put(known.state, known.item, known.aliases | found, known.newcomers)
                        continue
                self._snapshots.drop(lot_id)
                known = None
            except (IntegrityError, OperationalError):
                # Another writer won (or the transaction collided): decide again on fresh state.
                self._snapshots.drop(lot_id)
                known = None
            else:
                self._snapshots.put(lot.state, item, aliases, known.newcomers)
                return results
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
        raise TransientError(f"lot {lot_id!r}: gave up after {self.max_attempts} conflicting attempts")

    def _load(self, lot_id: str, bid_ids: list[str], bidders: list[str]) -> tuple[KnownSnapshot, dict[str, dict[str, Any]]]:
        """The lot's snapshot as stored now, with the batch's receipts and its bidders'
        aliases (one strongly consistent read), kept for the next batch."""
        records = self.store.load_lot(lot_id, bid_ids, bidders)
        if records.snapshot is None:
            raise LotNotFound(f"no lot {lot_id!r}", {"lot_id": lot_id})
        state = self._read_snapshot(lot_id, records.snapshot)
        return self._snapshots.put(state, records.snapshot, records.aliases, bidders), records.receipts

    def _decide(
        self,
        lot: Lot,
        commands: Sequence[LotCommand],
        decided: dict[str, dict[str, Any]],
        is_admin: bool,
        aliases: dict[str, int],
    ) -> tuple[list[CommandResult], list[dict[str, Any]]]:
        now = self.clock()
        results: list[CommandResult] = []
        receipts: list[dict[str, Any]] = []
        for command in commands:
            if isinstance(command, BID_COMMANDS):
                if command.bid_id in decided:
                    outcome = BidOutcome.model_validate(decided[command.bid_id])
                    results.append(CommandResult(command=command.type, lot_id=lot.id, changed=False, bid=outcome, duplicate=True))
                    continue
                if isinstance(command, BuyNow):
                    outcome = lot.buy_now(command, now, aliases)
                else:
                    outcome = lot.place_bid(command, now, aliases)
                receipt = outcome.model_dump(mode="json")
                decided[command.bid_id] = receipt
                receipts.append(receipt)
                results.append(CommandResult(command=command.type, lot_id=lot.id, changed=True, bid=outcome))
            elif isinstance(command, CloseLot):
                results.append(CommandResult(command="CloseLot", lot_id=lot.id, changed=lot.close(command)))
            elif isinstance(command, RetractBid):
                # Rare: the lot's events up to the state decided on (the write's condition holds it there).
                lot.retract(command, is_admin, self.lot_events(lot.id, upto_version=lot.version))
                results.append(CommandResult(command="RetractBid", lot_id=lot.id, changed=True))
            else:
                results.append(CommandResult(command="CancelLot", lot_id=lot.id, changed=lot.cancel(command, is_admin)))
        return results, receipts


def _new_bidders(lot: Lot, known: Mapping[str, int]) -> list[dict[str, Any]]:
    """The alias records of the bidders whose first accepted bid (as far as `known` says)
    is among the lot's new events: written with them, each once."""
    records: dict[str, dict[str, Any]] = {}
    for event in lot.pending_events:
        if isinstance(event, BidPlaced) and event.alias is not None and event.bidder not in known and event.bidder not in records:
            records[event.bidder] = {
                "lot_id": lot.id, "bidder": event.bidder, "alias": event.alias, "version": event.originator_version
            }
    return list(records.values())


def _retractions(lot: Lot) -> list[dict[str, Any]]:
    """The retraction records (`BID#{bid_id}`/`RETRACTION`, written once) of the bids the
    lot's new events retract: what `GET /bids/{bid_id}` reads to say RETRACTED."""
    return [
        {"bid_id": event.bid_id, "lot_id": lot.id, "bidder": event.bidder, "reason": event.reason,
         "retracted_by": event.retracted_by, "retracted_at": format_time(event.timestamp), "version": event.originator_version}
        for event in lot.pending_events
        if isinstance(event, BidRetracted)
    ]


def _caps_from(text: str) -> dict[str, Decimal]:
    try:
        return rules.parse_confirmation_caps(text)
    except ValueError as problem:
        raise ValueError(f"{CONFIRMATION_CAPS_VARIABLE}={text!r}: {problem}") from None


# Why a purchase at the buy-now price is refused at the API, by its reason code.
_BUY_NOW_REFUSALS = {
    rules.LOT_CANCELLED: "the lot is cancelled",
    rules.LOT_CLOSED: "the lot is closed",
    rules.LOT_NOT_OPEN: "the lot is not open yet",
    rules.SELLER_CANNOT_BID: "the seller may not buy their own lot",
}


def _buy_now_refused(reason: str, lot: LotSnapshot) -> BuyNowRefused:
    if reason != rules.BUY_NOW_NOT_OFFERED:
        why = _BUY_NOW_REFUSALS.get(reason, reason)
    elif lot.buy_now_price is None:
        why = "the lot has no buy-now price"
    elif lot.buy_now_until == "reserve_met":
        why = "the reserve is met: the lot is no longer offered at its buy-now price"
    else:
        why = "a bid was accepted: the lot is no longer offered at its buy-now price"
    return BuyNowRefused(reason, f"cannot buy lot {lot.lot_id!r} now: {why}", {"lot_id": lot.lot_id})


def _confirmation_required(lot: LotSnapshot, command: PlaceBid, question: rules.ConfirmationQuestion) -> ConfirmationRequired:
    """The refusal, with the numbers a client needs to ask its bidder (money as decimal
    strings in the currency's digits)."""
    currency = lot.currency
    if question.triggered_by == rules.CONFIRMATION_BY_FACTOR:
        why = f"more than {rules.CONFIRMATION_FACTOR} times the minimum bid of {format_decimal(question.minimum)} {currency}"
    else:
        assert question.cap is not None  # only a cap passed
        why = f"above {format_decimal(question.cap)} {currency}, the most this service takes unconfirmed"
    return ConfirmationRequired(
        f"{command.amount} {currency} is {why}: send the bid again with \"confirm\": true to place it",
        {
            "lot_id": lot.lot_id,
            "currency": currency,
            "amount": command.amount,
            "minimum_bid": format_decimal(question.minimum),
            "triggered_by": question.triggered_by,
            "factor": rules.CONFIRMATION_FACTOR,
            "factor_limit": format_decimal(question.factor_limit),
            "cap": None if question.cap is None else format_decimal(question.cap),
        },
    )
