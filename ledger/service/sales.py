"""Staggered sales: a sale's lots, closing one after another, created in one transaction
(all or nothing, answered again to the very request that made it), with the close timers
of those closing soon; and a sale read back with its lots' state."""

from __future__ import annotations

import hashlib
import json
import logging

from eventsourcing.persistence import StoredEvent
from pydantic import ValidationError

from ledger.domain import rules
from ledger.domain.commands import CreateLot, CreateSale
from ledger.domain.errors import (
    InvalidCommand,
    LotAlreadyExists,
    LotUnreadable,
    SaleAlreadyExists,
    SaleNotFound,
    SaleUnreadable,
)
from ledger.domain.lot import Lot
from ledger.domain.sales import SaleRecord
from ledger.domain.sellers import ListedAs
from ledger.domain.state import LotSnapshot
from ledger.domain.values import format_time
from ledger.persistence import SaleConditionsFailed, sale_key
from ledger.service.lots import Lots
from ledger.service.queries import read_snapshot
from ledger.snapshot_item import snapshot_to_item

log = logging.getLogger(__name__)


class Sales:
    """Creates and reads staggered sales, through the command loop's storage and the new
    lots' close timers (`Lots`)."""

    def __init__(self, lots: Lots) -> None:
        self.lots = lots
        self.commands = lots.commands
        self.store = lots.commands.store

    def create_sale(self, command: CreateSale, seller: str,
                    listed_as: ListedAs | None = None) -> tuple[SaleRecord, list[LotSnapshot]]:
        """Create a sale and its lots, closing `interval_s` apart in the order given, in one
        transaction (the sale item, each lot's LotCreated event and snapshot): all or
        nothing. Each lot's terms are checked as `create_lot` checks them, with its close
        time; a refusal names the lot. A sale or a lot that exists already: nothing written,
        except that the very request that created a sale, sent again, is answered with it.
        Its lots closing before the next sweep get their close timers, as a lot of its own does.
        Listed under the seller's handle (`listed_as`), its lot ids theirs, as `create_lot`'s."""
        if listed_as is not None:
            command = command.model_copy(update={"lots": [
                listed_as.lot_terms(terms, f"lots.{index}.lot_id") for index, terms in enumerate(command.lots)]})
        handle = None if listed_as is None else listed_as.handle
        now = self.commands.clock()
        request = json.dumps({"seller": seller, **command.model_dump(mode="json")}, sort_keys=True, ensure_ascii=False)
        request_hash = hashlib.sha256(request.encode()).hexdigest()
        # First the sale id: the same request again is answered even once its close times have passed.
        if (answered := self._sale_made_by(command.sale_id, request_hash)) is not None:
            return self._armed(answered)
        close_times = rules.sale_close_times(command.first_closes_at, command.interval_s, len(command.lots))
        rules.check_sale_close_times(close_times, now)
        # Each entry is a lot's terms but its close time: with it, the terms of `create_lot`.
        all_terms = [
            CreateLot.model_validate(terms.model_dump(mode="json") | {"closes_at": format_time(closes_at)})
            for terms, closes_at in zip(command.lots, close_times, strict=True)
        ]
        rules.check_sale_lot_ids([terms.lot_id for terms in all_terms])
        lots: list[Lot] = []
        for index, lot_terms in enumerate(all_terms):
            try:
                lots.append(Lot.create(lot_terms, seller, now, sale_id=command.sale_id, seller_handle=handle))
            except InvalidCommand as error:
                raise InvalidCommand(
                    f"lot {index + 1} of the sale ({lot_terms.lot_id}): {error.message}",
                    error.details | {"lot_index": index, "lot_id": lot_terms.lot_id},
                ) from None
        self.lots.quotas.take_lots(seller, len(lots))
        sale = SaleRecord(
            sale_id=command.sale_id, title=command.title, seller=seller, seller_handle=handle, interval_s=command.interval_s,
            first_closes_at=command.first_closes_at, lot_ids=[lot.id for lot in lots], created_at=now,
            request_hash=request_hash,
        )
        stored: list[StoredEvent] = [self.commands.mapper.to_stored_event(event) for lot in lots for event in lot.collect_events()]
        try:
            self.store.insert_sale(sale.to_item(), stored, [snapshot_to_item(lot.state) for lot in lots])
        except SaleConditionsFailed as failed:
            if failed.sale_exists:
                # Written since the first read (the same request racing itself, or another one).
                if (answered := self._sale_made_by(command.sale_id, request_hash)) is not None:
                    return self._armed(answered)
                raise SaleAlreadyExists(f"sale {command.sale_id!r} exists already", {"sale_id": command.sale_id}) from None
            raise LotAlreadyExists(
                f"lot {failed.lots_exist[0]!r} of the sale exists already", {"lot_ids": list(failed.lots_exist)}
            ) from None
        for lot in lots:
            self.commands.remember(lot.state.model_copy(deep=True), snapshot_to_item(lot.state))
        return self._armed((sale, [lot.state for lot in lots]))

    def _armed(self, made: tuple[SaleRecord, list[LotSnapshot]]) -> tuple[SaleRecord, list[LotSnapshot]]:
        """The sale, its lots closing before the next sweep given their close timers."""
        self.lots.arm_close_timers([(lot.lot_id, lot.closes_at) for lot in made[1]])
        return made

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
                lots.append(read_snapshot(lot_id, snapshot))
            except LotUnreadable:
                continue
        return sale, lots
