"""Every storage port in plain Python: dicts behind one lock, built the way the library's
own plain-Python backend (`eventsourcing.popo`) is, for fast tests without DynamoDB.

Selected the library's usual way: PERSISTENCE_MODULE=ledger.memory. It keeps the Bids
table's semantics, as each port of `ledger.persistence` states them (its methods are grouped
by port, in the ports' order): one transaction per `insert_events`, the same conditions
raising the same `IntegrityError`, the same limit on a transaction's items, numbers read
back as `Decimal`, events in version order, open lots by close time, ended lots newest
first. As `eventsourcing.popo` has an aggregate and an application recorder, so does this
module; unlike the Bids table, the application recorder also keeps the library's global
notification log.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    InfrastructureFactory,
    IntegrityError,
    ProcessRecorder,
    StoredEvent,
    TrackingRecorder,
)
from eventsourcing.popo import POPOAggregateRecorder, POPOApplicationRecorder

from ledger.domain.queued import BidRequestCheck
from ledger.domain.registration import ExposureChange, RegistrationCheck
from ledger.domain.sales import DRAFT_ATTRIBUTE
from ledger.persistence import (
    BID_TOPICS,
    OPEN_STATUS,
    TRANSACTION_LIMIT,
    ConditionsFailed,
    LotRecorder,
    LotRecords,
    QuotaRecordChanged,
    SaleConditionsFailed,
    close_key,
    ended_at,
    ended_key,
)


def _stored(value: Any) -> Any:
    """A copy of a record as storage gives it back: numbers as Decimal, as DynamoDB does."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {str(k): _stored(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_stored(v) for v in value]
    return value


class InMemoryLotRecorder(LotRecorder, POPOAggregateRecorder):
    """Every port: a lot's events (in `eventsourcing.popo`'s tables), snapshots, bids'
    requests, receipts and retractions, bidders' aliases and records, sales and parked
    messages, all behind the one database lock."""

    def __init__(self) -> None:
        super().__init__()
        self._snapshots: dict[str, dict[str, Any]] = {}
        self._receipts: dict[str, dict[str, Any]] = {}
        self._retractions: dict[str, dict[str, Any]] = {}
        self._requests: dict[str, dict[str, Any]] = {}
        self._parked: dict[str, dict[str, Any]] = {}
        self._quotas: dict[tuple[str, str], dict[str, Any]] = {}
        self._bidders: dict[tuple[str, str], dict[str, Any]] = {}  # (lot, bidder) -> alias record
        self._bidder_lots: dict[tuple[str, str], dict[str, Any]] = {}  # (bidder, lot) -> their record of it
        self._sales: dict[str, dict[str, Any]] = {}
        self._sale_requests: dict[tuple[str, str], dict[str, Any]] = {}
        self._sale_batches: dict[tuple[str, int], dict[str, Any]] = {}
        self._disclosures: dict[tuple[str, int], dict[str, str]] = {}  # (lot, version) -> by field
        self._erasures: dict[str, dict[str, Any]] = {}
        self._registrations: dict[str, dict[str, Any]] = {}  # registration id -> state record
        self._registration_events: dict[str, list[StoredEvent]] = {}
        self._paddles: dict[str, int] = {}  # scope -> last paddle given
        self._exposures: dict[str, Decimal] = {}  # registration id -> the bidder's exposure in the sale

    # --- LotEventStore (receipts, aliases, retractions: written with the events) ---

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        snapshot: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
        receipts: Sequence[Mapping[str, Any]] = (),
        expected_snapshot: Mapping[str, Any] | None = None,
        bidders: Sequence[Mapping[str, Any]] = (),
        retractions: Sequence[Mapping[str, Any]] = (),
        bidder_lots: Sequence[Mapping[str, Any]] = (),
        requests: Sequence[BidRequestCheck] = (),
        disclosures: Sequence[Mapping[str, Any]] = (),
        registrations: Sequence[RegistrationCheck] = (),
        exposures: Sequence[ExposureChange] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        items = (len(stored_events) + len(receipts) + len(bidders) + len(retractions) + len(bidder_lots) + len(requests)
                 + len(disclosures) + len(registrations) + len(exposures) + (snapshot is not None))
        if items > TRANSACTION_LIMIT:
            raise ValueError(f"{items} items exceed the transaction limit of {TRANSACTION_LIMIT}")
        with self._database_lock:
            # Every condition first, so a failed one writes nothing; all of them, so the
            # error says which failed (as DynamoDB's CancellationReasons do).
            bid_ids = [str(r["bid_id"]) for r in receipts]
            if len(set(bid_ids)) < len(bid_ids):
                raise IntegrityError("insert_events: the same receipt twice in one transaction")
            if len({(str(e.originator_id), e.originator_version) for e in stored_events}) < len(stored_events):
                raise IntegrityError("insert_events: the same event twice in one transaction")
            bidder_keys = [(str(b["lot_id"]), str(b["bidder"])) for b in bidders]
            if len(set(bidder_keys)) < len(bidder_keys):
                raise IntegrityError("insert_events: the same bidder twice in one transaction")
            known = [bidder for lot_id, bidder in bidder_keys if (lot_id, bidder) in self._bidders]
            events_exist = any(
                e.originator_version in self._stored_events_index[str(e.originator_id)] for e in stored_events
            )
            decided = [b for b in bid_ids if b in self._receipts]
            snapshot_changed = snapshot is not None and not self._snapshot_at(
                str(snapshot["lot_id"]), expected_version, expected_snapshot
            )
            # A retraction recorded already: decided again on fresh state (as DynamoDB's recorder says).
            snapshot_changed = snapshot_changed or any(str(r["bid_id"]) in self._retractions for r in retractions)
            unmatched = [r.bid_id for r in requests if not r.matches(self._requests.get(r.bid_id))]
            changed = [r.registration_id for r in registrations if not r.matches(self._registrations.get(r.registration_id))]
            exposed = [e.registration_id for e in exposures if not e.allows(self._exposures.get(e.registration_id))]
            if events_exist or decided or known or unmatched or changed or exposed or snapshot_changed:
                raise ConditionsFailed(
                    f"insert_events: conditions failed (bids decided already: {decided}, bidders known: {known}, "
                    f"requests unmatched: {unmatched}, registrations changed: {changed}, snapshot changed: "
                    f"{snapshot_changed}, events exist: {events_exist})",
                    decided_bids=decided,
                    known_bidders=known,
                    unmatched_requests=unmatched,
                    changed_registrations=changed,
                    changed_exposures=exposed,
                    snapshot_changed=snapshot_changed,
                    events_exist=events_exist,
                )
            notification_ids = self._update_table(stored_events) or []
            for receipt in receipts:
                self._receipts[str(receipt["bid_id"])] = _stored(receipt)
            for key, bidder in zip(bidder_keys, bidders, strict=True):
                self._bidders[key] = _stored(bidder)
            for retraction in retractions:
                self._retractions[str(retraction["bid_id"])] = _stored(retraction)
            for record in bidder_lots:
                self._merge_bidder_lot(record)
            for disclosed in disclosures:
                self._disclosures[(str(disclosed["lot_id"]), int(disclosed["version"]))] = dict(disclosed["disclosures"])
            for exposure in exposures:
                self._exposures[exposure.registration_id] = self._exposures.get(exposure.registration_id, Decimal(0)) + exposure.change
            if snapshot is not None:
                self._snapshots[str(snapshot["lot_id"])] = _stored(snapshot)
        return self._inserted(notification_ids)

    def _inserted(self, notification_ids: Sequence[int]) -> Sequence[int] | None:
        return None  # an aggregate recorder has no notification ids

    def _snapshot_at(
        self, lot_id: str, expected_version: int | None, expected_snapshot: Mapping[str, Any] | None = None
    ) -> bool:
        current = self._snapshots.get(lot_id)
        if expected_version is None:
            return current is None
        if current is None or current.get("version") != expected_version:
            return False
        # Given the whole item, every one of its attributes must be as stored.
        return expected_snapshot is None or all(
            name in current and current[name] == _stored(value) for name, value in expected_snapshot.items()
        )

    def _check_snapshot_version(self, lot_id: str, expected_version: int | None) -> None:
        if not self._snapshot_at(lot_id, expected_version):
            raise IntegrityError(f"lot {lot_id!r}: the snapshot is not at version {expected_version or 'none'}")

    def iter_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[StoredEvent]:
        if limit == 0:
            return
        with self._database_lock:
            index = self._stored_events_index[str(originator_id)]
            versions = sorted(v for v in index if (gt is None or v > gt) and (lte is None or v <= lte))
            if desc:
                versions.reverse()
            events = [self._stored_events[index[v]] for v in versions[:limit]]
        yield from events

    def iter_bid_events(self, lot_id: str, *, lt: int, limit: int) -> Iterator[StoredEvent]:
        with self._database_lock:
            index = self._stored_events_index[lot_id]
            events = [self._stored_events[index[v]] for v in sorted(index, reverse=True) if v < lt]
        yield from [event for event in events if event.topic in BID_TOPICS][:limit]

    def get_disclosures(self, lot_id: str, versions: Sequence[int]) -> dict[int, dict[str, str]]:
        with self._database_lock:
            return {v: dict(self._disclosures[(lot_id, v)]) for v in versions if (lot_id, v) in self._disclosures}

    # --- ErasureRecords ---

    def delete_disclosures(self, lot_id: str, version: int, fields: Sequence[str]) -> None:
        with self._database_lock:
            found = self._disclosures.get((lot_id, version))
            if found is None:
                return
            for name in fields:
                found.pop(name, None)
            if not found:
                del self._disclosures[(lot_id, version)]

    def delete_user_records(self, user: str, bid_ids: Sequence[str]) -> int:
        with self._database_lock:
            quotas = [key for key in self._quotas if key[0] == user]
            pending = [str(b) for key in quotas for b in self._quotas[key].get("pending", [])]
            keyed: list[tuple[dict[Any, Any], Any]] = [(self._quotas, key) for key in quotas]
            keyed += [(self._bidders, key) for key in self._bidders if key[1] == user]
            keyed += [(self._bidder_lots, key) for key in self._bidder_lots if key[0] == user]
            # Their registrations (not their standing): each one's events, state and exposure.
            events = 0
            for registration in [r for r, record in self._registrations.items() if "scope" in record and record.get("user_id") == user]:
                keyed += [(records, registration) for records in (self._registrations, self._exposures) if registration in records]
                events += len(self._registration_events.pop(registration, []))
            for bid_id in dict.fromkeys([*bid_ids, *pending]):
                keyed += [(records, bid_id) for records in (self._requests, self._receipts, self._retractions) if bid_id in records]
            for records, key in keyed:
                del records[key]
            return len(keyed) + events

    def record_erasure(self, record: Mapping[str, Any]) -> None:
        with self._database_lock:
            self._erasures[str(record["erasure_id"])] = _stored(record)

    def get_snapshot(self, lot_id: str) -> dict[str, Any] | None:
        with self._database_lock:
            return copy.deepcopy(self._snapshots.get(lot_id))

    def get_snapshots(self, lot_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self._database_lock:
            return {lot_id: copy.deepcopy(self._snapshots[lot_id]) for lot_id in dict.fromkeys(lot_ids) if lot_id in self._snapshots}

    def load_lot(self, lot_id: str, bid_ids: Sequence[str], bidders: Sequence[str]) -> LotRecords:
        with self._database_lock:
            return LotRecords(self.get_snapshot(lot_id), self.get_receipts(bid_ids), self.get_aliases(lot_id, bidders))

    def replace_snapshot(self, snapshot: Mapping[str, Any], expected_version: int) -> None:
        with self._database_lock:
            self._check_snapshot_version(str(snapshot["lot_id"]), expected_version)
            self._snapshots[str(snapshot["lot_id"])] = _stored(snapshot)

    def lot_ids(self) -> Iterator[str]:
        with self._database_lock:
            ids = list(self._snapshots)
        yield from ids

    # --- BidRecords -----------------------------------------------------------------

    def record_bid_request(self, request: Mapping[str, Any]) -> dict[str, Any] | None:
        with self._database_lock:
            bid_id = str(request["bid_id"])
            if bid_id in self._requests:
                return copy.deepcopy(self._requests[bid_id])
            self._requests[bid_id] = _stored(request)
            return None

    def get_bid_request(self, bid_id: str) -> dict[str, Any] | None:
        with self._database_lock:
            return copy.deepcopy(self._requests.get(bid_id))

    def get_receipts(self, bid_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self._database_lock:
            return {b: copy.deepcopy(self._receipts[b]) for b in dict.fromkeys(bid_ids) if b in self._receipts}

    def get_retraction(self, bid_id: str) -> dict[str, Any] | None:
        with self._database_lock:
            return copy.deepcopy(self._retractions.get(bid_id))

    # --- LotListings ----------------------------------------------------------------

    def open_lots(
        self, closing_by: str | None = None, limit: int | None = None, after: str | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        with self._database_lock:
            open_lots = sorted(
                (close_key(str(item["closes_at"]), lot_id), lot_id, copy.deepcopy(item))
                for lot_id, item in self._snapshots.items()
                if item.get("status") == OPEN_STATUS and DRAFT_ATTRIBUTE not in item
                and (closing_by is None or str(item.get("closes_at")) <= closing_by)
                and (after is None or close_key(str(item["closes_at"]), lot_id) > after)
            )
        for _, lot_id, item in open_lots[:limit]:
            yield lot_id, item

    def ended_lots(self, limit: int | None = None, after: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        with self._database_lock:
            ended = sorted(
                (
                    (ended_key(at, lot_id), lot_id, copy.deepcopy(item))
                    for lot_id, item in self._snapshots.items()
                    if (at := ended_at(item)) is not None and DRAFT_ATTRIBUTE not in item
                ),
                reverse=True,
            )
        listed = [(lot_id, item) for key, lot_id, item in ended if after is None or key < after]
        yield from listed[:limit]

    # --- BidderRecords --------------------------------------------------------------

    def get_aliases(self, lot_id: str, bidders: Sequence[str]) -> dict[str, int]:
        with self._database_lock:
            return {b: int(self._bidders[lot_id, b]["alias"]) for b in dict.fromkeys(bidders) if (lot_id, b) in self._bidders}

    def update_bidder_lots(self, records: Sequence[Mapping[str, Any]]) -> None:
        with self._database_lock:
            for record in records:
                stored = self._bidder_lots.get((str(record["bidder"]), str(record["lot_id"])))
                if stored is None or stored["version"] < record["version"]:  # a newer record is kept as it is
                    self._merge_bidder_lot(record)

    def _merge_bidder_lot(self, record: Mapping[str, Any]) -> None:
        """As DynamoDB's Update of the record does: given attributes set (a None maximum removed), the rest kept."""
        key = (str(record["bidder"]), str(record["lot_id"]))
        fresh = {k: v for k, v in record.items() if v is not None}
        kept = {k: v for k, v in self._bidder_lots.get(key, {}).items() if not (k == "maximum" and "maximum" in record)}
        self._bidder_lots[key] = _stored({**kept, **fresh})

    def bidder_lots(self, bidder: str, limit: int, after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        with self._database_lock:
            lots = sorted(lot for who, lot in self._bidder_lots if who == bidder and (after is None or lot > after))
            page = [copy.deepcopy(self._bidder_lots[bidder, lot]) for lot in lots[:limit]]
        return page, (lots[limit - 1] if len(lots) > limit else None)

    def get_bidder_lot(self, bidder: str, lot_id: str) -> dict[str, Any] | None:
        with self._database_lock:
            return copy.deepcopy(self._bidder_lots.get((bidder, lot_id)))

    def lot_bidders(self, lot_id: str) -> Iterator[str]:
        with self._database_lock:
            bidders = [who for who, lot in self._bidder_lots if lot == lot_id]
        yield from bidders

    # --- SaleRecords ----------------------------------------------------------------

    def reserve_sale_lots(self, sale_id: str, new_sale: Mapping[str, Any] | None, taken: int, closes_after: str,
                          batch: Mapping[str, Any]) -> None:
        with self._database_lock:
            stored = self._sales.get(sale_id)
            first, request = int(batch["first"]), str(batch["request_id"])
            request_exists = (sale_id, request) in self._sale_requests or (sale_id, first) in self._sale_batches
            sale_exists = new_sale is not None and stored is not None
            sale_changed = new_sale is None and (
                stored is None or str(stored["first_closes_at"]) <= closes_after
                or int(stored.get("reserved", len(stored.get("lot_ids", [])))) != taken
            )
            if sale_exists or sale_changed or request_exists:
                raise SaleConditionsFailed(
                    f"reserve_sale_lots: conditions failed (sale exists: {sale_exists}, changed: {sale_changed}, "
                    f"request exists: {request_exists})",
                    sale_exists=sale_exists, sale_changed=sale_changed, request_exists=request_exists,
                )
            if new_sale is not None:
                self._sales[sale_id] = _stored(new_sale)
            else:
                self._sales[sale_id]["reserved"] = Decimal(taken + len(batch["lot_ids"]))
                self._sales[sale_id].setdefault("lot_count", Decimal(taken))
            self._sale_requests[(sale_id, request)] = _stored({"request_id": request, "first": first})
            self._sale_batches[(sale_id, first)] = _stored(batch)

    def get_sale_request(self, sale_id: str, request_id: str) -> dict[str, Any] | None:
        with self._database_lock:
            return copy.deepcopy(self._sale_requests.get((sale_id, request_id)))

    def insert_lot_drafts(self, stored_events: Sequence[StoredEvent], snapshots: Sequence[Mapping[str, Any]]) -> None:
        items = len(stored_events) + len(snapshots)
        if items > TRANSACTION_LIMIT:
            raise ValueError(f"{items} items exceed the transaction limit of {TRANSACTION_LIMIT}")
        with self._database_lock:
            snapshot_ids = [str(s["lot_id"]) for s in snapshots]
            if len(set(snapshot_ids)) < len(snapshot_ids):
                raise IntegrityError("insert_lot_drafts: the same lot twice in one transaction")
            lot_ids = [str(e.originator_id) for e in stored_events] + snapshot_ids
            lots_exist = [lot for lot in dict.fromkeys(lot_ids) if lot in self._snapshots or self._stored_events_index.get(lot)]
            if lots_exist:
                raise SaleConditionsFailed(f"insert_lot_drafts: lots exist ({lots_exist})", lots_exist=lots_exist)
            notification_ids = self._update_table(stored_events) or []
            for snapshot in snapshots:
                self._snapshots[str(snapshot["lot_id"])] = _stored(snapshot)
        self._inserted(notification_ids)

    def commit_sale_batch(self, sale_id: str, first: int, count: int) -> bool:
        with self._database_lock:
            batch = self._sale_batches.get((sale_id, first))
            if batch is None or sale_id not in self._sales:
                raise IntegrityError(f"commit_sale_batch: no batch {first} of sale {sale_id!r}")
            if batch.get("committed") is not False:
                return False
            batch["committed"] = True
            sale = self._sales[sale_id]
            sale["lot_count"] = Decimal(int(sale.get("lot_count", 0)) + count)
            return True

    def open_drafts(self, snapshots: Sequence[Mapping[str, Any]]) -> None:
        with self._database_lock:
            for snapshot in snapshots:
                stored = self._snapshots.get(str(snapshot["lot_id"]))
                if stored is not None and stored.get(DRAFT_ATTRIBUTE) == snapshot[DRAFT_ATTRIBUTE]:
                    del stored[DRAFT_ATTRIBUTE]

    def get_sale(self, sale_id: str) -> dict[str, Any] | None:
        with self._database_lock:
            return copy.deepcopy(self._sales.get(sale_id))

    def get_sale_batch(self, sale_id: str, first: int) -> dict[str, Any] | None:
        with self._database_lock:
            return copy.deepcopy(self._sale_batches.get((sale_id, first)))

    def sale_batches(self, sale_id: str, from_first: int) -> Iterator[dict[str, Any]]:
        with self._database_lock:
            batches = sorted((first, copy.deepcopy(batch)) for (sale, first), batch in self._sale_batches.items()
                             if sale == sale_id and first >= from_first)
        for _, batch in batches:
            yield batch

    # --- ParkedMessages -------------------------------------------------------------

    def park(self, message_id: str, body: str, error: str, attributes: Mapping[str, Any]) -> None:
        with self._database_lock:
            self._parked[message_id] = _stored(
                {"body": body, "error": error, "attributes": dict(attributes), "parked_at": int(time.time() * 1000)}
            )

    def get_parked(self, message_id: str) -> dict[str, Any] | None:
        with self._database_lock:
            return copy.deepcopy(self._parked.get(message_id))

    # --- QuotaRecords ---------------------------------------------------------------

    def get_quota(self, user: str, name: str) -> dict[str, Any] | None:
        with self._database_lock:
            return copy.deepcopy(self._quotas.get((user, name)))

    def put_quota(self, user: str, name: str, record: Mapping[str, Any], expected_version: int) -> None:
        with self._database_lock:
            stored = self._quotas.get((user, name))
            if (0 if stored is None else int(stored["version"])) != expected_version:
                raise QuotaRecordChanged(f"the quota record {name} of {user} is no longer at version {expected_version}",
                                         copy.deepcopy(stored))
            self._quotas[(user, name)] = _stored({**record, "version": expected_version + 1})

    # --- RegistrationRecords --------------------------------------------------------

    def insert_registration(
        self, stored_events: Sequence[StoredEvent], state: Mapping[str, Any], expected_version: int | None,
        paddles: tuple[str, int] | None = None,
    ) -> None:
        registration_id = str(state["registration_id"])
        if len(stored_events) + 1 + (paddles is not None) > TRANSACTION_LIMIT:
            raise ValueError(f"more items than the transaction limit of {TRANSACTION_LIMIT}")
        with self._database_lock:
            stored = self._registrations.get(registration_id)
            events = self._registration_events.setdefault(registration_id, [])
            taken = {e.originator_version for e in events}
            if (expected_version is None) != (stored is None) or (
                stored is not None and stored.get("version") != expected_version
            ):
                raise IntegrityError(f"registration {registration_id!r} is not at version {expected_version or 'none'}")
            if any(e.originator_version in taken for e in stored_events):
                raise IntegrityError(f"registration {registration_id!r}: an event's version is taken")
            if paddles is not None and self._paddles.get(paddles[0], 0) != paddles[1]:
                raise IntegrityError(f"scope {paddles[0]!r}: the paddle counter moved on")
            events.extend(stored_events)
            self._registrations[registration_id] = _stored(state)
            if paddles is not None:
                self._paddles[paddles[0]] = int(state["paddle"])

    def get_registrations(self, registration_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self._database_lock:
            return {r: copy.deepcopy(self._registrations[r]) for r in dict.fromkeys(registration_ids) if r in self._registrations}

    def iter_registration_events(self, registration_id: str, *, lte: int | None = None) -> Iterator[StoredEvent]:
        with self._database_lock:
            events = sorted(self._registration_events.get(registration_id, []), key=lambda e: e.originator_version)
        yield from [e for e in events if lte is None or e.originator_version <= lte]

    def scope_registrations(
        self, scope: str, status: str | None, limit: int, after: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        with self._database_lock:
            ranked = sorted((f"{r['status']}#{r['user_id']}", copy.deepcopy(r)) for r in self._registrations.values()
                            if r.get("scope") == scope and (status is None or r["status"] == status))
        return _page([(rank, r) for rank, r in ranked if after is None or rank > after], limit)

    def bidder_registrations(self, user_id: str, limit: int, after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        with self._database_lock:
            ranked = sorted((str(r["scope"]), copy.deepcopy(r)) for r in self._registrations.values()
                            if "scope" in r and r["user_id"] == user_id)
        return _page([(scope, r) for scope, r in ranked if after is None or scope > after], limit)

    def get_exposures(self, registration_ids: Sequence[str]) -> dict[str, Decimal]:
        with self._database_lock:
            return {r: self._exposures[r] for r in dict.fromkeys(registration_ids) if r in self._exposures}

    def last_paddle(self, scope: str) -> int:
        with self._database_lock:
            return self._paddles.get(scope, 0)


def _page(ranked: list[tuple[str, dict[str, Any]]], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` records in order, and the cursor of the next page (None: no more)."""
    return [r for _, r in ranked[:limit]], (ranked[limit - 1][0] if len(ranked) > limit else None)


class InMemoryApplicationLotRecorder(InMemoryLotRecorder, POPOApplicationRecorder):
    """The same, numbering every event in one application sequence (the library's
    notification log) and waking its subscribers."""

    def _inserted(self, notification_ids: Sequence[int]) -> Sequence[int] | None:
        if notification_ids:
            self._notify_listeners()
        return notification_ids


class Factory(InfrastructureFactory[TrackingRecorder]):
    """eventsourcing infrastructure factory for the in-memory recorders (each one a fresh, empty store)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        if purpose != "events":
            raise NotImplementedError("lot snapshots are records written with the events")
        return InMemoryLotRecorder()

    def application_recorder(self) -> InMemoryApplicationLotRecorder:
        return InMemoryApplicationLotRecorder()

    def tracking_recorder(self, tracking_recorder_class: type[TrackingRecorder] | None = None) -> TrackingRecorder:
        raise NotImplementedError("SamSold's followers read DynamoDB Streams, not tracking records")

    def process_recorder(self) -> ProcessRecorder:
        raise NotImplementedError("SamSold's followers read DynamoDB Streams, not tracking records")
