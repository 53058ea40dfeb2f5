"""Staggered sales: a sale's lots, closing one after another, created by `POST /sales` (up
to `MAX_SALE_REQUEST_LOTS`) and added to by `POST /sales/{sale_id}/lots` until its first
close (up to `MAX_SALE_LOTS` in all); and a sale read back a page of lots at a time.

A request writes more than one transaction holds, so it goes in four steps, each
conditional, so that the same request sent again (its id is `sales.request_id`: its seller,
sale and body) completes what it began and never does anything twice:

1. reserve: the request's positions (the sale's next ones, or the sale itself), its record
   and its batch (uncommitted), in one transaction;
2. drafts: each lot's LotCreated event and snapshot, marked as a draft of the batch,
   `DRAFT_LOTS_PER_TRANSACTION` lots to a transaction, several at once; a draft is
   listed nowhere and read as no lot;
3. commit: the batch marked committed (and the sale's lot count), one transaction: from this
   write on, every lot of the request is seen (`LotQueries.find_lot` reads a draft's batch);
4. open: each draft's mark removed and the lot listed, and its close timer armed.

A request that stops before 3 leaves nothing seen (its positions stay taken; the same request
sent again completes it); one that stops after 3 is seen whole, and sent again opens what is left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from eventsourcing.persistence import StoredEvent
from pydantic import BaseModel, ValidationError

from ledger.domain import rules
from ledger.domain.commands import (
    DRAFT_LOTS_PER_TRANSACTION,
    MAX_SALE_REQUEST_LOTS,
    TRANSACTION_LIMIT,
    AddSaleLots,
    CreateLot,
    CreateSale,
)
from ledger.domain.errors import (
    InvalidCommand,
    LotAlreadyExists,
    LotUnreadable,
    NotAllowed,
    SaleAlreadyExists,
    SaleNotFound,
    SaleUnreadable,
    TransientError,
)
from ledger.domain.lot import Lot
from ledger.domain.sales import DRAFT_ATTRIBUTE, SaleBatch, SaleRecord, draft_marker, generated_lot_id, request_id
from ledger.domain.sellers import GENERATED_DIGITS, ListedAs
from ledger.domain.state import LotSnapshot
from ledger.domain.values import format_time
from ledger.persistence import SaleConditionsFailed, sale_key
from ledger.service.lots import Lots
from ledger.service.queries import read_snapshot
from ledger.snapshot_item import snapshot_to_item

log = logging.getLogger(__name__)

# Draft transactions (and opening updates) in flight at once for one request.
DRAFT_WRITERS = 4
# Another request of the same sale took positions between the read and the reservation: read again.
RESERVE_ATTEMPTS = 3
# GET /sales/{sale_id}: lots a page.
SALE_PAGE_LOTS = 100

T = TypeVar("T")


@dataclass(frozen=True)
class SalePage:
    """A sale and some of its lots in closing order; `next_position` is where the next page
    starts (None: no lot after these)."""

    sale: SaleRecord
    lots: list[LotSnapshot]
    next_position: int | None = None


class Sales:
    """Creates sales, adds lots to them and reads them, through the command loop's storage
    and the new lots' close timers (`Lots`)."""

    def __init__(self, lots: Lots, draft_writers: int = DRAFT_WRITERS) -> None:
        self.lots = lots
        self.commands = lots.commands
        self.store = lots.commands.store
        self.draft_writers = draft_writers

    def create_sale(self, command: CreateSale, seller: str, listed_as: ListedAs | None = None) -> SalePage:
        """Create a sale and its lots, closing `interval_s` apart in the order given: all seen
        at once or none. Each lot's terms are checked as `create_lot` checks them, with its
        close time; a refusal names the lot. A sale or a lot that exists already: nothing
        written, except that the very request that created a sale, sent again, is answered
        with it (completed first, if it stopped half way). Listed under the seller's handle
        (`listed_as`), its lot ids theirs, as `create_lot`'s."""
        now = self.commands.clock()
        request = request_id(seller, command.sale_id, "create", command.model_dump(mode="json", exclude_unset=True))
        if (made := self.store.get_sale_request(command.sale_id, request)) is not None:
            return self._complete(self._read_sale(command.sale_id, committed_only=False), request, int(made["first"]),
                                  command.lots, seller, listed_as)
        if self.store.get_sale(command.sale_id) is not None:
            raise SaleAlreadyExists(f"sale {command.sale_id!r} exists already", {"sale_id": command.sale_id})
        sale = SaleRecord(
            sale_id=command.sale_id, title=command.title, seller=seller,
            seller_handle=None if listed_as is None else listed_as.handle, interval_s=command.interval_s,
            first_closes_at=command.first_closes_at, created_at=now, request_hash=request,
            reserved=len(command.lots), lot_count=0, registration=command.registration,
            currency=rules.sale_currency(command.registration, _currencies(command.lots)),
        )
        rules.check_sale_close_times(rules.sale_close_times(sale.first_closes_at, sale.interval_s, len(command.lots)), now)
        lots = self._new_lots(sale, 0, command.lots, request, seller, now, listed_as)
        self._check_free(lots)
        self.lots.quotas.take_lots(seller, len(lots), request=request)
        batch = SaleBatch(first=0, request_id=request, lot_ids=[lot.id for lot in lots])
        try:
            self.store.reserve_sale_lots(sale.sale_id, sale.to_item(), 0, format_time(now), batch.model_dump(mode="json"))
        except SaleConditionsFailed as failed:
            if failed.request_exists:  # the same request, racing itself
                return self.create_sale(command, seller, listed_as)
            raise SaleAlreadyExists(f"sale {command.sale_id!r} exists already", {"sale_id": command.sale_id}) from None
        return self._write(sale, batch, lots, {})

    def add_lots(self, sale_id: str, command: AddSaleLots, seller: str, listed_as: ListedAs | None = None) -> SalePage:
        """Add lots to the sale (its seller only), closing after its last lot, its `interval_s`
        apart, in the order given: all seen at once or none; until the sale's first close, and
        up to `MAX_SALE_LOTS` in all. Answers the sale with the lots added. The same request
        sent again is answered with them (completed first, if it stopped half way)."""
        now = self.commands.clock()
        request = request_id(seller, sale_id, "add", command.model_dump(mode="json", exclude_unset=True))
        if (made := self.store.get_sale_request(sale_id, request)) is not None:
            return self._complete(self._read_sale(sale_id, committed_only=False), request, int(made["first"]),
                                  command.lots, seller, listed_as)
        for _ in range(RESERVE_ATTEMPTS):
            sale = self._read_sale(sale_id)
            if sale.seller != seller:
                raise NotAllowed("only the sale's seller may add lots to it", {"sale_id": sale_id})
            rules.sale_currency(sale.registration, _currencies(command.lots), sale.currency)
            taken = sale.positions_taken
            rules.check_sale_room(sale_id, sale.first_closes_at, taken, len(command.lots), now)
            rules.check_sale_close_times(
                rules.sale_close_times(sale.first_closes_at, sale.interval_s, taken + len(command.lots))[taken:], now)
            lots = self._new_lots(sale, taken, command.lots, request, seller, now, listed_as)
            self._check_free(lots)
            self.lots.quotas.take_lots(seller, len(lots), request=request)
            batch = SaleBatch(first=taken, request_id=request, lot_ids=[lot.id for lot in lots])
            try:
                self.store.reserve_sale_lots(sale_id, None, taken, format_time(now), batch.model_dump(mode="json"))
            except SaleConditionsFailed as failed:
                if failed.request_exists:
                    return self.add_lots(sale_id, command, seller, listed_as)
                continue  # another request took positions, or the first close passed: read again
            return self._write(sale, batch, lots, {})
        raise TransientError("other requests kept adding lots to the sale at the same time; retry",
                             {"sale_id": sale_id})

    def get_sale(self, sale_id: str, after: int = 0, limit: int = SALE_PAGE_LOTS) -> SalePage:
        """A sale and a page of its lots in closing order, from position `after` (the
        `next_position` of the page before): the sale's item, its batches covering the page
        and the page's snapshots in one BatchGetItem (a snapshot that cannot be read is
        logged and left out)."""
        sale = self._read_sale(sale_id)
        positions: list[tuple[int, str]] = []
        next_position: int | None = None
        for position, lot_id in self._committed_lots(sale, after):
            if len(positions) == limit:
                next_position = position
                break
            positions.append((position, lot_id))
        return SalePage(sale, self._snapshots([lot_id for _, lot_id in positions]), next_position)

    # --- the steps -------------------------------------------------------------------------

    def _complete(self, sale: SaleRecord, request: str, first: int, terms: Sequence[BaseModel], seller: str,
                  listed_as: ListedAs | None) -> SalePage:
        """A request sent again: its batch as reserved, committed and opened if it was not yet."""
        stored = self.store.get_sale_batch(sale.sale_id, first)
        if stored is None:
            raise SaleUnreadable(sale.sale_id, f"the batch at {first} of request {request} is missing")
        batch = self._batch(sale.sale_id, stored)
        if batch.committed:
            states = self._snapshots(batch.lot_ids)
            self._open([snapshot for snapshot in self.store.get_snapshots(batch.lot_ids).values() if DRAFT_ATTRIBUTE in snapshot])
            self.lots.arm_close_timers([(lot.lot_id, lot.closes_at) for lot in states])
            return SalePage(self._read_sale(sale.sale_id), states)
        # Its own drafts written before (another lot under one of its ids is refused when written).
        existing = {lot_id: snapshot for lot_id, snapshot in self.store.get_snapshots(batch.lot_ids).items()
                    if snapshot.get("sale_id") == sale.sale_id and snapshot.get(DRAFT_ATTRIBUTE) == draft_marker(first)}
        lots = self._new_lots(sale, first, terms, request, seller, self.commands.clock(), listed_as,
                              only_missing=set(existing))
        return self._write(sale, batch, lots, existing)

    def _write(self, sale: SaleRecord, batch: SaleBatch, lots: list[Lot], existing: dict[str, dict[str, Any]]) -> SalePage:
        """Steps 2 to 4 for a reserved batch: the drafts not `existing` yet, the commit, the opening."""
        marker = draft_marker(batch.first)
        drafts = [(lot, snapshot_to_item(lot.state) | {DRAFT_ATTRIBUTE: marker}) for lot in lots]
        chunks = [drafts[start:start + DRAFT_LOTS_PER_TRANSACTION] for start in range(0, len(drafts), DRAFT_LOTS_PER_TRANSACTION)]
        self._each(chunks, lambda chunk: self._insert_drafts(sale.sale_id, marker, chunk))
        self.store.commit_sale_batch(sale.sale_id, batch.first, len(batch.lot_ids))
        opened = [snapshot for _, snapshot in drafts] + [snapshot for snapshot in existing.values() if DRAFT_ATTRIBUTE in snapshot]
        self._open(opened)
        if existing:  # sent again: the lots as stored
            states = self._snapshots(batch.lot_ids)
        else:
            states = [lot.state for lot in lots]
        self.lots.arm_close_timers([(lot.lot_id, lot.closes_at) for lot in states])
        return SalePage(self._read_sale(sale.sale_id), states)

    def _insert_drafts(self, sale_id: str, marker: str, chunk: list[tuple[Lot, dict[str, Any]]]) -> None:
        """One transaction of drafts; a lot that exists already is refused unless it is this
        batch's own draft (written by an earlier try of the same request), then the rest again."""
        stored: list[StoredEvent] = [self.commands.mapper.to_stored_event(event) for lot, _ in chunk
                                     for event in lot.collect_events()]
        try:
            self.store.insert_lot_drafts(stored, [snapshot for _, snapshot in chunk])
            return
        except SaleConditionsFailed as failed:
            exist = set(failed.lots_exist)
        foreign = [lot_id for lot_id in exist if not self._own_draft(sale_id, marker, lot_id)]
        if foreign:
            raise LotAlreadyExists(f"lot {foreign[0]!r} of the sale exists already", {"lot_ids": sorted(foreign)})
        rest = [(lot, snapshot) for lot, snapshot in chunk if lot.id not in exist]
        if rest:
            self.store.insert_lot_drafts([e for e in stored if str(e.originator_id) not in exist], [s for _, s in rest])

    def _own_draft(self, sale_id: str, marker: str, lot_id: str) -> bool:
        item = self.store.get_snapshot(lot_id)
        return item is not None and item.get("sale_id") == sale_id and item.get(DRAFT_ATTRIBUTE) == marker

    def _open(self, drafts: list[dict[str, Any]]) -> None:
        chunks = [drafts[start:start + TRANSACTION_LIMIT] for start in range(0, len(drafts), TRANSACTION_LIMIT)]
        self._each(chunks, self.store.open_drafts)

    def _each(self, chunks: list[T], write: Callable[[T], None]) -> None:
        """`write` each chunk, up to `draft_writers` at once; the first failure is raised once all stopped."""
        if len(chunks) <= 1:
            for chunk in chunks:
                write(chunk)
            return
        with ThreadPoolExecutor(max_workers=self.draft_writers) as pool:
            for _ in pool.map(write, chunks):
                pass

    # --- lots and their reading ------------------------------------------------------------

    def _new_lots(self, sale: SaleRecord, first: int, terms: Sequence[BaseModel], request: str, seller: str,
                  now: datetime, listed_as: ListedAs | None, only_missing: set[str] | None = None) -> list[Lot]:
        """The request's lots at positions `first`... with their close times; a lot given no id
        gets the request's (the same when it is sent again; after the seller's handle when
        `listed_as`, whose lot ids a given id must carry). With `only_missing`, the lots whose
        ids are not in it (the rest are written already)."""
        close_times = rules.sale_close_times(sale.first_closes_at, sale.interval_s, first + len(terms))[first:]
        all_terms: list[CreateLot] = []
        for index, (lot_terms, closes_at) in enumerate(zip(terms, close_times, strict=True)):
            given = lot_terms.model_dump(mode="json")
            if "lot_id" in lot_terms.model_fields_set:
                if listed_as is not None:
                    listed_as.lot_terms(lot_terms, f"lots.{index}.lot_id")  # LotIdReserved: another seller's id
                lot_id = given["lot_id"]
            elif listed_as is None:
                lot_id = generated_lot_id(request, index)
            else:
                lot_id = listed_as.prefix + generated_lot_id(request, index)[:GENERATED_DIGITS]
            all_terms.append(CreateLot.model_validate(given | {"closes_at": format_time(closes_at), "lot_id": lot_id}))
        rules.check_sale_lot_ids([t.lot_id for t in all_terms])
        lots: list[Lot] = []
        for index, lot_terms in enumerate(all_terms):
            if only_missing is not None and lot_terms.lot_id in only_missing:
                continue
            try:
                lots.append(Lot.create(lot_terms, seller, now, sale_id=sale.sale_id, registration=sale.registration,
                                       seller_handle=None if listed_as is None else listed_as.handle))
            except InvalidCommand as error:
                raise InvalidCommand(
                    f"lot {index + 1} of the request ({lot_terms.lot_id}): {error.message}",
                    error.details | {"lot_index": index, "lot_id": lot_terms.lot_id},
                ) from None
        return lots

    def _check_free(self, lots: list[Lot]) -> None:
        """LotAlreadyExists when some lots' ids are taken (one read; the drafts' conditions still hold)."""
        taken = self.store.get_snapshots([lot.id for lot in lots])
        if taken:
            lot_ids = [lot.id for lot in lots if lot.id in taken]
            raise LotAlreadyExists(f"lot {lot_ids[0]!r} of the sale exists already", {"lot_ids": lot_ids})

    def _read_sale(self, sale_id: str, committed_only: bool = True) -> SaleRecord:
        item = self.store.get_sale(sale_id)
        if item is None:
            raise SaleNotFound(f"no sale {sale_id!r}", {"sale_id": sale_id})
        try:
            sale = SaleRecord.model_validate(item)
        except ValidationError as error:
            log.error("unreadable sale %s: %s", sale_key(sale_id), error, extra={"key": sale_key(sale_id)})
            raise SaleUnreadable(sale_id, str(error)) from None
        if committed_only and sale.committed_lots == 0:  # created, but its lots not committed yet
            raise SaleNotFound(f"no sale {sale_id!r}", {"sale_id": sale_id})
        return sale

    def _batch(self, sale_id: str, item: dict[str, Any]) -> SaleBatch:
        try:
            return SaleBatch.model_validate(item)
        except ValidationError as error:
            log.error("unreadable batch of sale %s: %s", sale_key(sale_id), error, extra={"key": sale_key(sale_id)})
            raise SaleUnreadable(sale_id, str(error)) from None

    def _committed_lots(self, sale: SaleRecord, after: int) -> Any:
        """(position, lot id) of the sale's committed lots from position `after` on, in order."""
        # A sale written before batches holds its first lots itself, all committed.
        yield from ((position, lot_id) for position, lot_id in enumerate(sale.lot_ids) if position >= after)
        if sale.reserved is None:
            return
        # A batch holds at most MAX_SALE_REQUEST_LOTS lots: the one holding `after` starts no earlier.
        for item in self.store.sale_batches(sale.sale_id, max(0, after - MAX_SALE_REQUEST_LOTS + 1)):
            batch = self._batch(sale.sale_id, item)
            if batch.committed:
                yield from ((batch.first + offset, lot_id) for offset, lot_id in enumerate(batch.lot_ids)
                            if batch.first + offset >= after)

    def _snapshots(self, lot_ids: list[str]) -> list[LotSnapshot]:
        """The lots' snapshots in the order given (a batch read may lag a write a little: a
        missing one is read again; one that cannot be read is left out)."""
        snapshots = self.store.get_snapshots(lot_ids)
        lots: list[LotSnapshot] = []
        for lot_id in lot_ids:
            snapshot = snapshots.get(lot_id) or self.store.get_snapshot(lot_id)
            if snapshot is None:
                continue
            try:
                lots.append(read_snapshot(lot_id, snapshot))
            except LotUnreadable:
                continue
        return lots


def _currencies(terms: Sequence[BaseModel]) -> list[str]:
    """Each lot's currency, in order (`SaleLotTerms` is made at run time: mypy sees no fields)."""
    return [str(lot.model_dump(include={"currency"})["currency"]) for lot in terms]
