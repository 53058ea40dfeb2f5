"""The read side of the ledger: a lot now or as it stood then (time travel, the fold of its
events), its events and history, the lot lists, bidders' records of their lots, and bids'
receipts, so nothing outside `ledger` reaches into storage to read. Projections, handlers
and the CLI call this object; the command loop reads through it too (a snapshot as stored,
a retraction's events).

It keeps one cache of its own: the latest events of the lots it read them for, so the next
read of a lot's latest events (every broadcast, every lot page) asks only for newer ones."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent

from ledger.domain import commitments
from ledger.domain.commands import BidOutcome
from ledger.domain.errors import BidNotFound, LotNotFound, LotUnreadable, NotAllowed, VersionNotFound
from ledger.domain.events import BidPlaced, BidRetracted, LotEvent, open_event
from ledger.domain.listing import ENDED_PART, OPEN_PART, ListPosition, ListStatus
from ledger.domain.sales import DRAFT_ATTRIBUTE, batch_of, draft_visible
from ledger.domain.state import LotSnapshot, evolve
from ledger.domain.values import format_time
from ledger.persistence import LotRecorder, close_key, ended_at, ended_key, lot_key
from ledger.service.cache import LruCache
from ledger.service.checkpoints import CHECKPOINT_EVERY, Checkpoint, FoldCheckpoints
from ledger.snapshot_item import snapshot_from_item

log = logging.getLogger(__name__)
# Events are read from storage this many at a time (one Query page in DynamoDB).
PAGE_SIZE = 1000
# The public view's bid history: the accepted bids (and retractions) among the lot's latest
# RECENT_EVENTS_READ events (one Query page), and when rejections crowd them out, at most
# RECENT_BIDS more, older ones from the lot's bids alone (one Query of the `BidsByLot` index).
RECENT_BIDS = 20
RECENT_EVENTS_READ = 100
# How many lots' latest events are kept (a lot's are at most RECENT_EVENTS_READ events).
LATEST_EVENTS_KEPT = 256


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


@dataclass(frozen=True)
class RecentBids:
    """A lot's latest accepted bids and retractions, oldest first, and whether they reach
    back to its first bid."""

    events: list[LotEvent]
    complete: bool


NO_BIDS = RecentBids([], True)


def read_snapshot(lot_id: str, item: dict[str, Any]) -> LotSnapshot:
    """The lot's snapshot from its stored item; an unreadable one is logged with its key
    (LotUnreadable, for the caller to leave out or refuse)."""
    try:
        return snapshot_from_item(lot_id, item)
    except LotUnreadable as error:
        log.error("unreadable snapshot %s: %s", lot_key(lot_id), error, extra={"key": lot_key(lot_id), "problem": error.problem})
        raise


def _newer(kept: list[LotEvent], events: list[LotEvent]) -> bool:
    """Whether `events` (newest first) are at least as new as the ones kept."""
    return kept[0].originator_version <= events[0].originator_version


class LotQueries:
    """The reads of lots, their events and bidders' records, over one recorder and mapper
    (the command side's: `bootstrap` wires them)."""

    def __init__(self, store: LotRecorder, mapper: Mapper[str], latest_events_kept: int = LATEST_EVENTS_KEPT) -> None:
        self.store = store
        self.mapper = mapper
        # The latest RECENT_EVENTS_READ events of each lot read (newest first): stored events
        # are never rewritten, so a later read asks only for those after them.
        self._latest_events: LruCache[str, list[LotEvent]] = LruCache(latest_events_kept)
        # Time travel's folds, checkpointed (`ledger.service.checkpoints`).
        self._checkpoints = FoldCheckpoints()

    def forget(self, lot_id: str) -> None:
        """Drop what this instance keeps of the lot's events and folds (after an erasure)."""
        self._latest_events.drop(lot_id)
        self._checkpoints.drop(lot_id)

    # --- lots now ------------------------------------------------------------------------

    def find_lot(self, lot_id: str) -> LotSnapshot | None:
        """The lot's snapshot; None when there is no lot, or only a draft of a sale's request
        not committed yet (`ledger.domain.sales`); LotUnreadable when its item cannot be read."""
        item = self.store.get_snapshot(lot_id)
        if item is None:
            return None
        if DRAFT_ATTRIBUTE in item:
            batch = batch_of(item[DRAFT_ATTRIBUTE])
            stored = None if batch is None else self.store.get_sale_batch(str(item.get("sale_id")), batch)
            if not draft_visible(item, stored):
                return None
        return read_snapshot(lot_id, item)

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
                page.lots.append(read_snapshot(lot_id, item))
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

    @staticmethod
    def _list_one(page: LotList, lot_id: str, item: dict[str, Any]) -> None:
        try:
            page.lots.append(read_snapshot(lot_id, item))
        except LotUnreadable:
            page.unreadable.append(lot_key(lot_id))

    # --- for operators' tools (replay, verify): storage as it is -----------------------

    def lot_ids(self) -> Iterator[str]:
        """Every lot (a scan of storage: for operators' tools, not hot paths)."""
        return self.store.lot_ids()

    def stored_snapshot(self, lot_id: str) -> dict[str, Any] | None:
        """The lot's snapshot exactly as stored (for replay's comparison), or None."""
        return self.store.get_snapshot(lot_id)

    def missing_index_keys(self, lot_id: str) -> list[str]:
        """The index attributes the lot's stored snapshot lacks for its status (for replay)."""
        return self.store.missing_index_keys(lot_id)

    # --- events ---------------------------------------------------------------------------

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

    def disclosed(self, lot_id: str, events: list[LotEvent]) -> list[LotEvent]:
        """The events with their committed fields opened by the disclosures still stored (one
        read for all of them; none when no event commits); an erased field reads as None."""
        sealed = [event for event in events if event.sealed]
        if not sealed:
            return events
        found = self.store.get_disclosures(lot_id, [event.originator_version for event in sealed])
        for event in sealed:
            version = event.originator_version
            try:
                values = commitments.opened_values(type(event).__name__, lot_id, version, event.sealed or {}, found.get(version, {}))
            except commitments.DisclosureError as error:
                log.error("unreadable disclosure %s v%s: %s", lot_key(lot_id), version, error)
                raise LotUnreadable(lot_id, f"event {version}", str(error), version) from None
            open_event(event, values)
        return events

    def lot_events(
        self, lot_id: str, *, after_version: int | None = None, upto_version: int | None = None, limit: int | None = None,
        disclose: bool = True,
    ) -> Iterator[LotEvent]:
        """A lot's events in order, read page by page; with `disclose`, their private fields
        opened (`disclosed`), else as stored (their hashes and bodies hold without them)."""
        page: list[LotEvent] = []
        for stored in self.stored_events(lot_id, after_version=after_version, upto_version=upto_version, limit=limit):
            page.append(self.read_event(stored))
            if len(page) == PAGE_SIZE:
                yield from self.disclosed(lot_id, page) if disclose else page
                page = []
        yield from self.disclosed(lot_id, page) if disclose else page

    def latest_events(self, lot_id: str, *, upto_version: int | None = None) -> list[LotEvent]:
        """The lot's latest RECENT_EVENTS_READ events (up to `upto_version`), newest first: one
        Query, of only the events after those read last time for the lot."""
        known = self._latest_events.get(lot_id)
        after = None
        if known and (upto_version is None or known[0].originator_version <= upto_version):
            after = known[0].originator_version
        stored = self.store.iter_events(
            lot_id, gt=after, lte=upto_version, desc=True, limit=RECENT_EVENTS_READ, page_size=RECENT_EVENTS_READ
        )
        events = self.disclosed(lot_id, [self.read_event(event) for event in stored])
        if after is not None and known is not None:
            events = (events + known)[:RECENT_EVENTS_READ]
        if events:
            self._latest_events.put(lot_id, events, replaces=_newer)
        return list(events)

    def recent_bids(
        self, lot_id: str, *, upto_version: int | None = None, latest: Sequence[LotEvent] | None = None
    ) -> RecentBids:
        """The lot's latest accepted bids and their retractions (up to `upto_version`), oldest
        first: its public bid history (`projections.history`), read from the events themselves
        (`latest_events`, or the ones given), not kept in the snapshot. When fewer than
        RECENT_BIDS of them are among the latest events and older events exist (rejections
        crowded them out), older ones come from the lot's bids alone, however many
        rejections there are."""
        if latest is None:
            latest = self.latest_events(lot_id, upto_version=upto_version)
        events: list[LotEvent] = [event for event in latest if isinstance(event, BidPlaced | BidRetracted)]
        oldest = latest[-1].originator_version if latest else 1
        complete = oldest <= 1
        if not complete and sum(isinstance(event, BidPlaced) for event in events) < RECENT_BIDS:
            older = self.disclosed(
                lot_id, [self.read_event(stored) for stored in self.store.iter_bid_events(lot_id, lt=oldest, limit=RECENT_BIDS)])
            events += older
            complete = len(older) < RECENT_BIDS
        events.reverse()
        return RecentBids(events, complete)

    def lot_as_of(self, lot_id: str, *, version: int | None = None, at: datetime | None = None) -> LotSnapshot:
        """The lot as it stood after `version`, or at time `at` (the last event recorded at
        or before it): the fold of its events up to then. LotNotFound when it did not
        exist then. Folded on from the nearest checkpoint kept (`FoldCheckpoints`): at most
        CHECKPOINT_EVERY - 1 events once the lot was travelled in before."""
        start = self._checkpoints.nearest(lot_id, version=version, at=at)
        # The fold changes the state it is given: a checkpoint's stays as kept.
        state = None if start is None else start.state.model_copy(deep=True)
        latest_at = None if start is None else start.latest_at
        for event in self.lot_events(lot_id, after_version=None if start is None else start.version, upto_version=version):
            if at is not None and event.timestamp > at:
                break
            state = evolve(event, state)
            latest_at = event.timestamp if latest_at is None else max(latest_at, event.timestamp)
            if state.version % CHECKPOINT_EVERY == 0:
                self._checkpoints.keep(lot_id, Checkpoint(state.version, state.model_copy(deep=True), latest_at))
        if state is None:
            raise LotNotFound(f"lot {lot_id!r} did not exist then", {"lot_id": lot_id})
        if version is not None and state.version < version:
            # The fold stops at the last event: the latest state is not that version.
            raise VersionNotFound(
                f"lot {lot_id!r} has no version {version}: its last is {state.version}",
                {"lot_id": lot_id, "version": version, "last_version": state.version},
            )
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

    # --- bidders and their records of lots (a projection of the events: projections.my_bids)

    def bidder_aliases(self, lot_id: str, bidders: Sequence[str]) -> dict[str, int]:
        """The alias numbers of those of `bidders` who bid on the lot, by bidder."""
        return self.store.get_aliases(lot_id, list(bidders))

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
                page.append((read_snapshot(str(record["lot_id"]), item), record))
            except LotUnreadable:
                continue
        return page, next_after

    def lot_bidders(self, lot_id: str) -> Iterator[str]:
        """Everyone who bid on the lot (as far as their records say)."""
        return self.store.lot_bidders(lot_id)

    # --- bids' receipts --------------------------------------------------------------------

    def get_bid_outcome(self, bid_id: str) -> BidOutcome | None:
        receipt = self.store.get_receipts([bid_id]).get(bid_id)
        return None if receipt is None else BidOutcome.model_validate(receipt)

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
