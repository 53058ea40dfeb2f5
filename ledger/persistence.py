"""The storage ports: what the ledger needs from storage, beyond the library's events.

A few narrow ports, each the records one kind of use needs, and their union `LotRecorder`,
which extends eventsourcing's `AggregateRecorder` (insert and select a lot's events) the way
the library's `examples/searchablecontent/persistence.py` declares an abstract recorder with
extra queries:

    LotEventStore   a lot's events and its snapshot, written together; what deciding needs
    BidRecords      bids as the API took them, and how they were decided or retracted
    LotListings     open lots by close time, ended lots by end time
    BidderRecords   bidders' aliases on lots and their records of the lots they bid on
    SaleRecords     staggered sales: their requests, batches and lots written as drafts
    ParkedMessages  messages that can never be processed, kept for inspection
    QuotaRecords    per-user quota records, each under one user (and lot), never shared
    ErasureRecords  what erasing a bidder deletes, and the record of each erasure
    RegistrationRecords  bidders' registrations for sales and lots, and their standing (blocks)

`ledger.dynamodb` implements every port on the Bids table, `ledger.memory` in plain Python;
`PERSISTENCE_MODULE` picks the implementation (the library's `InfrastructureFactory.construct`).
Each port's docstring states the semantics every implementation keeps, and one contract class
per port (`tests/support/recorder_contract.py`) holds both implementations to them. For all:
records come back as JSON-like dicts, numbers as `Decimal` (DynamoDB's number type), with no
storage keys.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, IntegrityError, StoredEvent

# The most items one transaction writes: the domain bounds a sale by it, every recorder keeps it.
from ledger.domain.commands import TRANSACTION_LIMIT as TRANSACTION_LIMIT
from ledger.domain.events import BidPlaced, BidRetracted

# A close key as `close_key` writes it, or an end key as `ended_key` does; the list's cursor
# (a domain value) is built on it, so the domain owns it.
from ledger.domain.listing import TIME_KEY_PATTERN as TIME_KEY_PATTERN
from ledger.domain.queued import BidRequestCheck
from ledger.domain.registration import ExposureChange, RegistrationCheck

OPEN_STATUS = "OPEN"
ENDED_STATUSES = ("CLOSED", "CANCELLED")

# The topics of the events a lot's public bid history is made of (`iter_bid_events`).
BID_TOPICS = frozenset({BidPlaced.TOPIC, BidRetracted.TOPIC})  # type: ignore[attr-defined]


def lot_key(lot_id: str) -> str:
    """How storage and its logs name a lot's records: `LOT#{lot_id}`."""
    return f"LOT#{lot_id}"


def close_key(closes_at: str, lot_id: str) -> str:
    """An open lot's place in close-time order: unique, and ordered as (closes_at, lot_id)."""
    return f"{closes_at}#{lot_id}"


def ended_at(snapshot: Mapping[str, Any]) -> str | None:
    """When an ended lot ended, as stored: `closed_at` of a CLOSED lot, `cancelled_at` of a
    CANCELLED one; None for a lot still open (or an ended snapshot without that time,
    which `replay --fix` rewrites). Neither changes once set, so a later write of the
    snapshot (a bid rejected after the close) keeps the lot's place in the ended list."""
    status = snapshot.get("status")
    when = snapshot.get("closed_at") if status == "CLOSED" else snapshot.get("cancelled_at") if status == "CANCELLED" else None
    return when if isinstance(when, str) else None


def ended_key(ended_at: str, lot_id: str) -> str:
    """An ended lot's place in end-time order: unique, and ordered as (ended_at, lot_id)."""
    return f"{ended_at}#{lot_id}"


@dataclass
class LotRecords:
    """What deciding a batch of a lot's commands needs, read together: the snapshot (None:
    no such lot), the receipts of the batch's bids decided before, by bid id, and the alias
    numbers of those of its bidders who bid on the lot before, by bidder."""

    snapshot: dict[str, Any] | None
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)


class ConditionsFailed(IntegrityError):
    """`insert_events` wrote nothing because conditions failed; which ones.

    `decided_bids`: the bids whose receipt exists already (decided before);
    `known_bidders`: the bidders whose alias record exists already (they bid before);
    `unmatched_requests`: the bids whose bid-request record is missing or says otherwise
    (`BidRequestCheck`: a command the API never admitted);
    `changed_registrations`: the registrations (or standings) whose `RegistrationCheck` failed
    (changed since they were read: read them again);
    `changed_exposures`: the registrations whose `ExposureChange` found the exposure past what it allows;
    `snapshot_changed`: the snapshot was not at `expected_version` (another writer moved
    it on, or it did not exist / existed already); `events_exist`: an event's version
    was taken. A storage that cannot tell sets `snapshot_changed` (reload everything)."""

    def __init__(
        self,
        message: str,
        *,
        decided_bids: Sequence[str] = (),
        known_bidders: Sequence[str] = (),
        unmatched_requests: Sequence[str] = (),
        changed_registrations: Sequence[str] = (),
        changed_exposures: Sequence[str] = (),
        snapshot_changed: bool = False,
        events_exist: bool = False,
    ) -> None:
        super().__init__(message)
        self.decided_bids = tuple(decided_bids)
        self.known_bidders = tuple(known_bidders)
        self.unmatched_requests = tuple(unmatched_requests)
        self.changed_registrations = tuple(changed_registrations)
        self.changed_exposures = tuple(changed_exposures)
        self.snapshot_changed = snapshot_changed
        self.events_exist = events_exist

    @property
    def only_records_exist(self) -> bool:
        """Only receipts', aliases', requests' or registrations' conditions failed: the snapshot
        decided on is still current."""
        return bool(self.decided_bids or self.known_bidders or self.unmatched_requests or self.changed_registrations
                    or self.changed_exposures) and not (
            self.snapshot_changed or self.events_exist
        )


class QuotaRecordChanged(IntegrityError):
    """`put_quota` wrote nothing: the stored record was not at the version named. `stored`
    is the record as stored (None: none is), which the failed write returns, so the writer
    tries again without reading it."""

    def __init__(self, message: str, stored: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.stored = stored


class SaleConditionsFailed(IntegrityError):
    """A sale's write failed its conditions, nothing written: the sale exists already
    (`sale_exists`, when creating it) or moved on since it was read (`sale_changed`: another
    request took positions, or its first close passed), the request was recorded already
    (`request_exists`), or some lots exist (`lots_exist`, by lot id)."""

    def __init__(self, message: str, *, sale_exists: bool = False, sale_changed: bool = False,
                 request_exists: bool = False, lots_exist: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.sale_exists = sale_exists
        self.sale_changed = sale_changed
        self.request_exists = request_exists
        self.lots_exist = tuple(lots_exist)


def sale_key(sale_id: str) -> str:
    """How storage names a staggered sale's item: `SALE#{sale_id}`."""
    return f"SALE#{sale_id}"


class LotEventStore(AggregateRecorder):
    """A lot's events and its snapshot: the library's aggregate recorder, with the lot's
    folded state kept beside its events and written in the same transaction.

    - `insert_events` writes the new events, the bid receipts, the new bidders' alias
      records, the retraction records, the bidders' records of the lot and the lot's
      snapshot all together or not at all, and only when each of `requests`
      (`BidRequestCheck`) finds its bid-request record as it says and each of `registrations`
      (`RegistrationCheck`) finds its registration's record as it says, and moves each of
      `exposures` (`ExposureChange`: a bidder's exposure in a sale, kept beside their
      registration) only where it allows. It raises
      `IntegrityError` (nothing written) when an event's version exists already, a
      receipt's bid was decided already, a bidder's alias record or a bid's retraction
      record exists already, a request check fails, or the snapshot is not at `expected_version` (`None`: there must be no
      snapshot yet), or, given `expected_snapshot`, not exactly that item (every one of its
      attributes equal: a writer that decided on a snapshot it kept in memory overwrites only
      that one, never one changed in place). When conditions failed, the error is a
      `ConditionsFailed` saying which (DynamoDB's CancellationReasons, index-aligned with the
      transaction's items, tell it; the in-memory recorder checks every condition too).
      A transaction holds at most TRANSACTION_LIMIT items (ValueError beyond).
    - Events are read in version order (or the reverse), page by page where storage pages.
    - `load_lot` reads what deciding a batch needs (the snapshot, the batch's receipts and
      its bidders' aliases) in one request.
    """

    @abstractmethod
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
        """Write events, their disclosure records (`lot_id`, `version`, `disclosures`: the
        event's disclosures by field, `ledger.domain.commitments`), receipts, new bidders' alias records (`lot_id`, `bidder`, `alias`,
        `version`), retraction records (`bid_id`, `lot_id`, `bidder`, `reason`,
        `retracted_by`, `retracted_at`, `version`; each written once: one that exists fails
        like a changed snapshot), bidders' records of the lot (as `BidderRecords.update_bidder_lots`
        takes them, but unconditionally: the snapshot's condition orders them) and the
        snapshot in one transaction (see the class's doc)."""

    @abstractmethod
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
        """A lot's events in version order (`desc`: the reverse), lazily, page by page;
        `LotUnreadable` for an item that is not an event."""

    @abstractmethod
    def iter_bid_events(self, lot_id: str, *, lt: int, limit: int) -> Iterator[StoredEvent]:
        """The lot's bid events (`BID_TOPICS`: accepted bids and retractions) before version
        `lt`, newest first, at most `limit`, however many other events lie between them. May
        lag the latest writes a little: for events older than those read with `iter_events`."""

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        return list(self.iter_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit))

    @abstractmethod
    def get_disclosures(self, lot_id: str, versions: Sequence[int]) -> dict[int, dict[str, str]]:
        """The disclosures still stored of the lot's events of these versions, by version and
        field (strongly consistent); an erased one is not there."""

    @abstractmethod
    def get_snapshot(self, lot_id: str) -> dict[str, Any] | None:
        """The lot's snapshot as stored (strongly consistent), or None."""

    @abstractmethod
    def get_snapshots(self, lot_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The snapshots of those lots that exist, by lot id (may lag a write a little)."""

    @abstractmethod
    def load_lot(self, lot_id: str, bid_ids: Sequence[str], bidders: Sequence[str]) -> LotRecords:
        """The snapshot, the receipts of `bid_ids` decided before and the aliases of those of
        `bidders` who bid on the lot before, in one request (strongly consistent)."""

    @abstractmethod
    def replace_snapshot(self, snapshot: Mapping[str, Any], expected_version: int) -> None:
        """Overwrite the snapshot, only if it is still at `expected_version` (else IntegrityError)."""

    @abstractmethod
    def lot_ids(self) -> Iterator[str]:
        """Every lot that has a snapshot (for operators' tools, not hot paths)."""


class BidRecords(ABC):
    """A bid's own records: the request as the API took it (recorded once, before the bid is
    queued), its receipt (how it was decided: written once, with the events that decided it,
    by `LotEventStore.insert_events`) and its retraction by an administrator (likewise)."""

    @abstractmethod
    def record_bid_request(self, request: Mapping[str, Any]) -> dict[str, Any] | None:
        """Record a bid as the API took it, once: the request recorded before under the
        same bid id, or None when this one is new."""

    @abstractmethod
    def get_bid_request(self, bid_id: str) -> dict[str, Any] | None:
        """The bid as the API took it, or None."""

    @abstractmethod
    def get_receipts(self, bid_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The receipts of those bids that were decided, by bid id."""

    @abstractmethod
    def get_retraction(self, bid_id: str) -> dict[str, Any] | None:
        """The bid's retraction record, or None when it was never retracted."""


class LotListings(ABC):
    """The lot lists, read from the snapshots as they are written.

    - An OPEN snapshot is listed by `open_lots`, by close time (the time strings' order),
      ties by lot id; `after` (the last lot listed: its `close_key`) pages on.
    - An ended snapshot (CLOSED or CANCELLED, with its `ended_at`) is listed by `ended_lots`,
      most recently ended first, ties by lot id (descending: the exact reverse of the key
      order); `after` (the last lot listed: its `ended_key`) pages on.
    - Snapshots come back as stored, without any index attributes.
    """

    @abstractmethod
    def open_lots(
        self, closing_by: str | None = None, limit: int | None = None, after: str | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Lot ids and snapshots of OPEN lots by close time, then lot id; with `closing_by`
        (a stored time string), only those whose close time is not after it; with `after`
        (a `close_key`), only those after it."""

    @abstractmethod
    def ended_lots(self, limit: int | None = None, after: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """Lot ids and snapshots of ended lots (CLOSED or CANCELLED), the most recently ended
        first, then by lot id descending; with `after` (an `ended_key`), only those before it."""

    def missing_index_keys(self, lot_id: str) -> list[str]:
        """The index attributes the lot's stored snapshot should carry for its status and does
        not (a snapshot written before its index existed), so `replay --fix` can rewrite it;
        storage without indexes has none."""
        return []


class BidderRecords(ABC):
    """A bidder's records of the lots they bid on: their alias on each lot (written once, with
    their first accepted bid, by `LotEventStore.insert_events`), and their record of the lot
    (their last bid and maximum), a projection written from the stream, which may deliver a
    change twice or late: a record is only ever replaced by a newer one."""

    @abstractmethod
    def get_aliases(self, lot_id: str, bidders: Sequence[str]) -> dict[str, int]:
        """The alias numbers of those of `bidders` who bid on the lot, by bidder."""

    @abstractmethod
    def update_bidder_lots(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Write bidders' records of lots (`bidder`, `lot_id`, `last_bid`, `last_bid_id`,
        `version`, and `maximum` when an accepted bid set it), each only over a record of an
        older version (a projection from the stream, which may deliver twice). A record
        without `last_bid` keeps the stored one; `maximum` given as None removes it (a
        retraction left the bidder no accepted bid)."""

    @abstractmethod
    def bidder_lots(self, bidder: str, limit: int, after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the bidder's records of lots, by lot id, after lot `after`, and the lot id
        to read on from (None: no more)."""

    @abstractmethod
    def get_bidder_lot(self, bidder: str, lot_id: str) -> dict[str, Any] | None:
        """The bidder's record of the lot, or None when they never bid on it."""

    @abstractmethod
    def lot_bidders(self, lot_id: str) -> Iterator[str]:
        """Every bidder with a record of the lot."""


class SaleRecords(ABC):
    """Staggered sales (`ledger.domain.sales`): the sale's item, each request's record and
    batch, and its lots written as drafts, opened by one commit. Each write is conditional,
    so a request sent again completes what it began and never does anything twice."""

    @abstractmethod
    def reserve_sale_lots(self, sale_id: str, new_sale: Mapping[str, Any] | None, taken: int, closes_after: str,
                          batch: Mapping[str, Any]) -> None:
        """In ONE transaction: the sale's item (`new_sale`, only if there is none) or its
        positions taken moved from `taken` to `taken + len(batch["lot_ids"])` (only if still
        `taken` and its `first_closes_at` is after `closes_after`); the request's record
        (`REQUEST#{request_id}`: its batch's first position) and its batch (uncommitted), each
        only if new. `SaleConditionsFailed` (nothing written) says which condition failed."""

    @abstractmethod
    def get_sale_request(self, sale_id: str, request_id: str) -> dict[str, Any] | None:
        """A request's record (`first`, the position of its batch), or None."""

    @abstractmethod
    def insert_lot_drafts(self, stored_events: Sequence[StoredEvent], snapshots: Sequence[Mapping[str, Any]]) -> None:
        """Lots' first events and their draft snapshots (carrying `draft`, listed nowhere) in
        one transaction of at most TRANSACTION_LIMIT items, each only if new;
        `SaleConditionsFailed` (`lots_exist`) and nothing written if any exists."""

    @abstractmethod
    def commit_sale_batch(self, sale_id: str, first: int, count: int) -> bool:
        """The commit marker: the batch at `first` committed and the sale's `lot_count` up by
        `count`, in one transaction, only if the batch is not committed yet (False then)."""

    @abstractmethod
    def open_drafts(self, snapshots: Sequence[Mapping[str, Any]]) -> None:
        """Each draft snapshot given (as read, with its `lot_id` and `draft`) without its
        `draft` and listed as its status says, only if it is still that draft (a snapshot a
        decision replaced since is left as it is)."""

    @abstractmethod
    def get_sale(self, sale_id: str) -> dict[str, Any] | None:
        """A sale's item as stored, or None."""

    @abstractmethod
    def get_sale_batch(self, sale_id: str, first: int) -> dict[str, Any] | None:
        """The batch at position `first`, or None."""

    @abstractmethod
    def sale_batches(self, sale_id: str, from_first: int) -> Iterator[dict[str, Any]]:
        """The sale's batches whose first position is at least `from_first`, in position order."""


class ParkedMessages(ABC):
    """Messages that can never be processed (not a lot command at all), kept for an operator
    instead of being retried or dropped; parking one twice keeps one."""

    @abstractmethod
    def park(self, message_id: str, body: str, error: str, attributes: Mapping[str, Any]) -> None:
        """Keep a message that can never be processed, for inspection (idempotent)."""

    @abstractmethod
    def get_parked(self, message_id: str) -> dict[str, Any] | None:
        """A parked message (body, error, attributes, parked_at), or None."""


class QuotaRecords(ABC):
    """The service's per-user quota records (`ledger.service.quotas`): small records, each
    keyed by one user and a name of the quota's choosing (such as a lot), so no key is
    shared by users or lots. A record carries an integer `version`; a write names the
    version it read (0: none stored), so two writers racing never both count."""

    @abstractmethod
    def get_quota(self, user: str, name: str) -> dict[str, Any] | None:
        """The record as stored, read consistently, or None."""

    @abstractmethod
    def put_quota(self, user: str, name: str, record: Mapping[str, Any], expected_version: int) -> None:
        """Store `record` (its `version` one above `expected_version`) if the stored record is
        still at `expected_version` (0: none stored); QuotaRecordChanged with the stored record
        and nothing written if not."""


class ErasureRecords(ABC):
    """Erasing a bidder (`ledger.service.erasure`): their disclosures, the records keyed by them
    and their bids' records go; a record of the erasure, holding no personal data, stays."""

    @abstractmethod
    def delete_disclosures(self, lot_id: str, version: int, fields: Sequence[str]) -> None:
        """Delete these fields' disclosures of the lot's event (its record when none is left)."""

    @abstractmethod
    def delete_user_records(self, user: str, bid_ids: Sequence[str]) -> int:
        """Delete every record keyed by the user (their aliases and records of lots, their quota
        records, their registrations' events, states and exposures; not their standing) and the
        requests, receipts and retractions of `bid_ids` and of the bids their quota records still
        hold as pending; how many records were deleted."""

    @abstractmethod
    def record_erasure(self, record: Mapping[str, Any]) -> None:
        """Keep the record of an erasure (`erasure_id`, `erased_at` and counts) under its day."""


def registration_key(registration_id: str) -> str:
    """How storage names a registration's (or a standing's) records: `REG#{registration_id}`."""
    return f"REG#{registration_id}"


class RegistrationRecords(ABC):
    """Registrations (`ledger.domain.registration`: a bidder's for a sale or a lone lot) and
    bidders' standings (blocks): each aggregate's events and its state record, written together,
    keyed by its own id (per sale or lot and bidder, or per bidder), never shared.

    - `insert_registration` writes the new events and the state record all or nothing: each
      event only if new, the record only at `expected_version` (None: there is none yet), and,
      given `paddles` (a scope and the last paddle number given there before), the scope's
      paddle counter moved on from that number to the state's paddle. IntegrityError (nothing
      written) when any condition fails.
    - Records come back as stored; lists page by an opaque cursor (None: no more).
    """

    @abstractmethod
    def insert_registration(
        self, stored_events: Sequence[StoredEvent], state: Mapping[str, Any], expected_version: int | None,
        paddles: tuple[str, int] | None = None,
    ) -> None:
        """Write a registration's (or a standing's) new events and its state record together."""

    @abstractmethod
    def get_registrations(self, registration_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The state records of those that exist, by id (strongly consistent)."""

    @abstractmethod
    def iter_registration_events(self, registration_id: str, *, lte: int | None = None) -> Iterator[StoredEvent]:
        """A registration's (or standing's) events in version order, up to `lte`."""

    @abstractmethod
    def scope_registrations(
        self, scope: str, status: str | None, limit: int, after: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of a sale's (or lone lot's) registrations, with `status` only those, by
        status then bidder, after the cursor `after`; and the next page's cursor."""

    @abstractmethod
    def bidder_registrations(self, user_id: str, limit: int, after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of a bidder's registrations, by scope, after the cursor `after`; and the next page's cursor."""

    @abstractmethod
    def get_exposures(self, registration_ids: Sequence[str]) -> dict[str, Decimal]:
        """The bidders' exposures in their sales (moved by `LotEventStore.insert_events`), by
        registration id; none stored reads as absent (zero). Strongly consistent."""

    @abstractmethod
    def last_paddle(self, scope: str) -> int:
        """The last paddle number given in the scope (0: none yet)."""


class LotRecorder(
    LotEventStore, BidRecords, LotListings, BidderRecords, SaleRecords, ParkedMessages, QuotaRecords, ErasureRecords,
    RegistrationRecords,
):
    """Every port together: what one storage implements, and what the service is given."""
