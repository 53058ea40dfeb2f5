"""The command loop: load a lot from its snapshot (or take the one this instance kept from
its last write or read of the lot), let the Lot decide, and save events, bid receipts and
the new snapshot in one transaction, deciding again from fresh state when a condition says
another writer got there first (or a bid was decided before).

It is the eventsourcing library's `Application`: the library makes the recorder (chosen by
PERSISTENCE_MODULE: `ledger.dynamodb` by default, `ledger.memory` in unit tests, or one
given) and the mapper; the other rooms of the service share both (`bootstrap` wires them)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Mapper, OperationalError, StoredEvent
from eventsourcing.utils import get_topic

from ledger.domain import rules
from ledger.domain.bidder_records import records_from
from ledger.domain.commands import BidOutcome, BuyNow, CancelLot, CloseLot, CommandResult, PlaceBid, RetractBid
from ledger.domain.errors import InvalidCommand, LedgerError, LotNotFound, SnapshotChanged, TransientError
from ledger.domain.events import BidPlaced, BidRetracted, LotEvent, sealed_state
from ledger.domain.lot import Lot
from ledger.domain.queued import NO_MATCHING_REQUEST, BidRequestCheck, QueuedCommand, in_processor_time, request_check
from ledger.domain.registration import (
    Admission,
    AnyState,
    ExposureChange,
    RegistrationCheck,
    RegistrationState,
    StandingState,
    lot_scope,
    registration_id,
    standing_id,
    state_from_record,
)
from ledger.domain.state import LotSnapshot
from ledger.domain.values import format_time, utc_now
from ledger.persistence import TRANSACTION_LIMIT, ConditionsFailed, LotRecorder
from ledger.service.cache import LruCache
from ledger.service.queries import LotQueries, read_snapshot
from ledger.snapshot_item import snapshot_to_item

LotCommand = PlaceBid | CloseLot | CancelLot | RetractBid | BuyNow
# The commands decided as bids: each has a bid id (its receipt's key) and a bidder.
BID_COMMANDS = (PlaceBid, BuyNow)

# The items a transaction of a lot's commands needs at most (`transaction_items`): once per lot
# the snapshot, and a purchase's LotClosed at the buy-now price with its disclosures; per bid an
# event and its disclosures, a receipt, a new bidder's alias, the bidder's record of the lot and
# the check of its bid request (any other command: an event and its disclosures); per distinct
# bidder the check of their standing, and on a lot that needs approval the check of their
# registration and the move of their exposure, and one exposure more, the leader the batch outbids
# (a close or a retraction may move two bidders' exposures). Batches are split only when they need more.
ITEMS_PER_LOT = 3
ITEMS_PER_BID = 6
ITEMS_PER_OTHER_COMMAND = 2
ITEMS_PER_BIDDER = 1
ITEMS_PER_APPROVAL_BIDDER = 2
EXPOSURES_PER_OTHER_COMMAND = 2


def transaction_items(commands: Sequence[LotCommand], needs_approval: bool) -> int:
    """The most items a transaction deciding `commands` of one lot writes or checks."""
    bids = [command for command in commands if isinstance(command, BID_COMMANDS)]
    others = len(commands) - len(bids)
    bidders = len({command.bidder for command in bids})
    items = ITEMS_PER_LOT + ITEMS_PER_BID * len(bids) + ITEMS_PER_OTHER_COMMAND * others + ITEMS_PER_BIDDER * bidders
    if needs_approval:
        items += ITEMS_PER_APPROVAL_BIDDER * bidders + 1 + EXPOSURES_PER_OTHER_COMMAND * others
    return items


def transaction_batches(commands: Sequence[LotCommand], needs_approval: bool) -> list[Sequence[LotCommand]]:
    """The commands in order, in as few transactions as their items allow (`transaction_items`)."""
    batches: list[Sequence[LotCommand]] = []
    start = 0
    for end in range(1, len(commands) + 1):
        if end - start > 1 and transaction_items(commands[start:end], needs_approval) > TRANSACTION_LIMIT:
            batches.append(commands[start : end - 1])
            start = end - 1
    if start < len(commands):
        batches.append(commands[start:])
    return batches


# Bids of as many different bidders on a lot that needs approval always fit in one transaction
# (SQS hands the processor at most 10 at once).
COMMANDS_PER_TRANSACTION = (TRANSACTION_LIMIT - ITEMS_PER_LOT - 1) // (ITEMS_PER_BID + ITEMS_PER_BIDDER + ITEMS_PER_APPROVAL_BIDDER)
# The aliases a cached lot remembers; beyond it they are forgotten, and a returning bidder
# costs a failed condition and a read (bounded memory for a lot with many thousands of bidders).
ALIASES_KEPT_PER_LOT = 10_000
# The lots whose last snapshot is kept (one per Lambda container: a few thousand lots).
SNAPSHOTS_KEPT = 4096
# The registrations and standings read to decide bids, kept (each checked on its version in the
# transaction that relies on it, so a kept one that changed since costs a failed condition and a read).
REGISTRATIONS_KEPT = 16384


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

    @classmethod
    def of(
        cls, state: LotSnapshot, item: dict[str, Any], aliases: Mapping[str, int] | None = None, newcomers: Iterable[str] = ()
    ) -> KnownSnapshot:
        """The snapshot with the aliases known, forgetting them all beyond ALIASES_KEPT_PER_LOT."""
        known = dict(aliases or {})
        strangers = frozenset(newcomers) - known.keys()
        if len(known) + len(strangers) > ALIASES_KEPT_PER_LOT:
            known, strangers = {}, frozenset()
        return cls(state, item, known, strangers)

    def unknown(self, bidders: Sequence[str]) -> list[str]:
        """Those of `bidders` who may have an alias this instance does not know: none when
        it knows as many aliases as the lot has bidders."""
        if len(self.aliases) >= self.state.bidder_count:
            return []
        return [b for b in bidders if b not in self.aliases and b not in self.newcomers]


class SealingMapper(Mapper[str]):
    """The library's mapper, storing no private value: an event's committed fields are
    stored as None (`ledger.domain.events.sealed_state`); their disclosures are stored apart."""

    def to_stored_event(self, domain_event: DomainEventProtocol[str]) -> StoredEvent:
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        stored_state = self.transcoder.encode(sealed_state(event_state))
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(originator_id=originator_id, originator_version=originator_version,
                           topic=get_topic(domain_event.__class__), state=stored_state)


class LotCommands(Application[str]):
    """Decides lots' commands and saves what they change: `execute` (the processor's
    batches), cancelling a lot and retracting a bid (administrators), and an operator's
    repair of a drifted snapshot."""

    name = "SamSold"
    env = {"PERSISTENCE_MODULE": "ledger.dynamodb"}
    max_attempts = 8

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utc_now,
        recorder: LotRecorder | None = None,
        snapshot_cache_size: int = SNAPSHOTS_KEPT,
    ) -> None:
        # A recorder given here is used instead of the one PERSISTENCE_MODULE's factory makes.
        self._given_recorder = recorder
        super().__init__(None if env is None else dict(env))
        self.clock = clock
        self._snapshots: LruCache[str, KnownSnapshot] = LruCache(snapshot_cache_size)
        # Registrations and standings as last read, by id: (state,), or (None,) for none.
        self._registrations: LruCache[str, tuple[AnyState | None]] = LruCache(REGISTRATIONS_KEPT)
        # A retraction is decided on the lot's events up to the state decided on.
        self._events = LotQueries(self.store, self.mapper)

    def construct_mapper(self) -> Mapper[str]:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=SealingMapper)

    def construct_recorder(self) -> ApplicationRecorder:
        if self._given_recorder is not None:
            return cast(ApplicationRecorder, self._given_recorder)
        return super().construct_recorder()

    @property
    def store(self) -> LotRecorder:
        """The storage port, shared with the service's other rooms."""
        return cast(LotRecorder, self.recorder)

    def remember(self, lot: LotSnapshot, item: dict[str, Any]) -> None:
        """Keep a lot just written by another room (a new lot, a sale's lots): its first
        command is decided without a read."""
        self._snapshots.put(lot.lot_id, KnownSnapshot.of(lot, item))

    def cancel_lot(self, command: CancelLot, is_admin: bool) -> CommandResult:
        return self.execute(command.lot_id, [command], is_admin=is_admin)[0]

    def retract_bid(self, command: RetractBid, is_admin: bool) -> CommandResult:
        """Retract an accepted bid (administrators, while the lot is open). Executed here,
        in the lot's one transaction like a cancel: the snapshot's version condition makes a
        race with the processor deciding the lot's bids a conflict, decided again on fresh
        state and the lot's events up to it."""
        return self.execute(command.lot_id, [command], is_admin=is_admin)[0]

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

    def park(self, message_id: str, body: str, reason: str, attributes: Mapping[str, Any]) -> None:
        """Keep a message that can never be processed, with the reason, for inspection."""
        self.store.park(message_id, body, reason, attributes)

    def execute(
        self, lot_id: str, commands: Sequence[LotCommand], is_admin: bool = False, from_queue: bool = False
    ) -> list[CommandResult]:
        """Decide several commands of one lot in order, saving each transaction's worth
        at once. A bid decided before (same bid_id) returns its first outcome and
        writes nothing. Commands `from_queue` are believed only as `ledger.domain.queued`
        says (`decide_queued`)."""
        for command in commands:
            if command.lot_id != lot_id:
                raise InvalidCommand(f"command for lot {command.lot_id!r} in a batch for {lot_id!r}")
        results: list[CommandResult] = []
        # A lot not seen yet is taken to need approval (the larger budget).
        known = self._snapshots.get(lot_id)
        needs_approval = known is None or known.state.registration is not None
        for chunk in transaction_batches(commands, needs_approval):
            results += self._execute_in_one_transaction(lot_id, chunk, is_admin, from_queue)
        return results

    def decide_queued(self, lot_id: str, commands: Sequence[QueuedCommand]) -> list[CommandResult]:
        """The processor's batch of a lot: commands that came through the queue, whoever sent
        them. Their times are capped at this clock, and a bid or purchase is decided only when
        its bid-request record, checked in the decision's transaction, matches it; otherwise
        its result is `parked` (NO_MATCHING_REQUEST) and nothing is written for it."""
        return self.execute(lot_id, commands, from_queue=True)

    def _keep(
        self, state: LotSnapshot, item: dict[str, Any], aliases: Mapping[str, int] | None = None, newcomers: Iterable[str] = ()
    ) -> KnownSnapshot:
        return self._snapshots.put(state.lot_id, KnownSnapshot.of(state, item, aliases, newcomers))

    def _execute_in_one_transaction(
        self, lot_id: str, commands: Sequence[LotCommand], is_admin: bool, from_queue: bool = False
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
        exists after all is read and the batch decided again. Commands `from_queue`: a bid whose
        request check fails is set aside (parked) and the rest decided again."""
        bid_ids = [c.bid_id for c in commands if isinstance(c, BID_COMMANDS)]
        bidders = list(dict.fromkeys(c.bidder for c in commands if isinstance(c, BID_COMMANDS)))
        decided: dict[str, dict[str, Any]] = {}
        unmatched: set[str] = set()  # queued bids with no matching request: parked, never decided
        known = self._snapshots.get(lot_id)
        for attempt in range(self.max_attempts):
            cached = known is not None
            if known is None:
                known, decided = self._load(lot_id, bid_ids, bidders)
            elif unknown := known.unknown(bidders):
                # Some of the lot's bidders are unknown here, so a bidder new to this instance
                # may have an alias: read theirs (cheaper than a transaction that fails on it).
                found = self.store.get_aliases(lot_id, unknown)
                known = self._keep(known.state, known.item, known.aliases | found, known.newcomers | set(unknown))
            lot = Lot.from_snapshot(known.state.model_copy(deep=True))  # the fold changes the state it is given
            aliases = dict(known.aliases)
            admissions = self._admissions(known.state, bidders)
            try:
                results, receipts, checks = self._decide(
                    lot, commands, dict(decided), is_admin, aliases, from_queue, frozenset(unmatched), admissions
                )
            except LedgerError:
                if not cached:
                    raise
                self._snapshots.drop(lot_id)  # refuse only on what is stored now
                known = None
                continue
            if lot.version == known.state.version:
                if cached and not all(r.duplicate or r.parked for r in results):
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
                    bidder_lots=records_from(lot.pending_events, lot.state.currency),
                    requests=checks,
                    disclosures=disclosure_records(lot),
                    registrations=self._registration_checks(known.state, [str(r["bidder"]) for r in receipts]),
                    exposures=self._exposure_changes(known.state, lot, admissions),
                )
            except ConditionsFailed as failed:
                if failed.changed_registrations:  # decide again on the registrations as they stand now
                    self._read_registrations(failed.changed_registrations)
                if failed.only_records_exist:
                    # Bids decided before, or bidders seen before, and the snapshot is current:
                    # read what exists and decide again on the same snapshot.
                    decided |= self.store.get_receipts(failed.decided_bids) if failed.decided_bids else {}
                    found = self.store.get_aliases(lot_id, failed.known_bidders) if failed.known_bidders else {}
                    unmatched |= set(failed.unmatched_requests)
                    if set(failed.decided_bids) <= set(decided) and set(failed.known_bidders) <= set(found):
                        known = self._keep(known.state, known.item, known.aliases | found, known.newcomers)
                        continue
                self._snapshots.drop(lot_id)
                known = None
            except (IntegrityError, OperationalError):
                # Another writer won (or the transaction collided): decide again on fresh state.
                self._snapshots.drop(lot_id)
                known = None
            else:
                self._keep(lot.state, item, aliases, known.newcomers)
                return results
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
        raise TransientError(f"lot {lot_id!r}: gave up after {self.max_attempts} conflicting attempts")

    def _read_registrations(self, ids: Sequence[str]) -> None:
        """Read registrations (or standings) as stored now and keep them."""
        found = self.store.get_registrations(ids)
        for registration in ids:
            record = found.get(registration)
            self._registrations.put(registration, (None if record is None else state_from_record(record),))

    def _admissions(self, lot: LotSnapshot, bidders: Sequence[str]) -> dict[str, Admission]:
        """What is known of each bidder: their registration, read where the lot needs approval
        (kept from an earlier read, or read now in one request), and their standing, as last
        read (a bidder whose standing was never read is taken to be clear: the transaction's
        check says otherwise, and the standing is read then)."""
        scope = lot_scope(lot.lot_id, lot.sale_id)
        if lot.registration is not None:
            unread = [rid for b in bidders if self._registrations.get(rid := registration_id(scope, b)) is None]
            if unread:
                self._read_registrations(unread)
        registrations = {b: self._known(registration_id(scope, b)) for b in bidders} if lot.registration is not None else {}
        # The exposures of those with a limit, read as they are now (other lots move them).
        limited = [registration_id(scope, b) for b, r in registrations.items()
                   if isinstance(r, RegistrationState) and r.limit is not None]
        exposures = self.store.get_exposures(limited) if limited else {}
        admissions: dict[str, Admission] = {}
        for bidder in bidders:
            standing = self._known(standing_id(bidder))
            registration = registrations.get(bidder)
            admissions[bidder] = Admission(
                registration=registration if isinstance(registration, RegistrationState) else None,
                blocked=isinstance(standing, StandingState) and standing.blocked,
                standing_version=standing.version if isinstance(standing, StandingState) else None,
                exposure=exposures.get(registration_id(scope, bidder), Decimal(0)),
            )
        return admissions

    def _exposure_changes(self, before: LotSnapshot, lot: Lot, admissions: Mapping[str, Admission]) -> list[ExposureChange]:
        """On a lot that needs approval, how its new events move each bidder's exposure in the
        sale (`rules.exposure_changes`): a rise only while the exposure stored stays within the
        bidder's limit less the rise (their registration's, as the decision read it)."""
        if before.registration is None:
            return []
        scope = lot_scope(before.lot_id, before.sale_id)
        changes: list[ExposureChange] = []
        for bidder, change in rules.exposure_changes(before, cast(list[LotEvent], lot.pending_events)).items():
            admission = admissions.get(bidder)
            limit = None if admission is None or admission.registration is None else admission.registration.limit
            at_most = limit - change if limit is not None and change > 0 else None
            changes.append(ExposureChange(registration_id(scope, bidder), change, at_most))
        return changes

    def _known(self, registration: str) -> AnyState | None:
        kept = self._registrations.get(registration)
        return None if kept is None else kept[0]

    def _registration_checks(self, lot: LotSnapshot, bidders: Sequence[str]) -> list[RegistrationCheck]:
        """The conditions the decision rests on, for each bidder it decided a bid of: their
        standing as it was taken (clear: absent or not blocked, whatever its version; blocked:
        its version), and their registration's version where the lot needs approval."""
        checks: list[RegistrationCheck] = []
        scope = lot_scope(lot.lot_id, lot.sale_id)
        for bidder in dict.fromkeys(bidders):
            standing = self._known(standing_id(bidder))
            if isinstance(standing, StandingState) and standing.blocked:
                checks.append(RegistrationCheck(standing_id(bidder), standing.version))
            else:
                checks.append(RegistrationCheck(standing_id(bidder), None, unless_blocked=True))
            if lot.registration is not None:
                registration = self._known(registration_id(scope, bidder))
                checks.append(RegistrationCheck(registration_id(scope, bidder), None if registration is None else registration.version))
        return checks

    def _load(self, lot_id: str, bid_ids: list[str], bidders: list[str]) -> tuple[KnownSnapshot, dict[str, dict[str, Any]]]:
        """The lot's snapshot as stored now, with the batch's receipts and its bidders'
        aliases (one strongly consistent read), kept for the next batch."""
        records = self.store.load_lot(lot_id, bid_ids, bidders)
        if records.snapshot is None:
            raise LotNotFound(f"no lot {lot_id!r}", {"lot_id": lot_id})
        state = read_snapshot(lot_id, records.snapshot)
        return self._keep(state, records.snapshot, records.aliases, bidders), records.receipts

    def _decide(
        self,
        lot: Lot,
        commands: Sequence[LotCommand],
        decided: dict[str, dict[str, Any]],
        is_admin: bool,
        aliases: dict[str, int],
        from_queue: bool = False,
        unmatched: frozenset[str] = frozenset(),
        admissions: Mapping[str, Admission] | None = None,
    ) -> tuple[list[CommandResult], list[dict[str, Any]], list[BidRequestCheck]]:
        now = self.clock()
        results: list[CommandResult] = []
        receipts: list[dict[str, Any]] = []
        checks: list[BidRequestCheck] = []
        for command in commands:
            if isinstance(command, BID_COMMANDS):
                if command.bid_id in decided:
                    outcome = BidOutcome.model_validate(decided[command.bid_id])
                    results.append(CommandResult(command=command.type, lot_id=lot.id, changed=False, bid=outcome, duplicate=True))
                    continue
                if from_queue:
                    if command.bid_id in unmatched:
                        results.append(CommandResult(command=command.type, lot_id=lot.id, changed=False, parked=NO_MATCHING_REQUEST))
                        continue
                    checks.append(request_check(command))
                    command = in_processor_time(command, now)
                admission = (admissions or {}).get(command.bidder)
                if isinstance(command, BuyNow):
                    outcome = lot.buy_now(command, now, aliases, admission)
                else:
                    outcome = lot.place_bid(command, now, aliases, admission)
                receipt = outcome.model_dump(mode="json")
                decided[command.bid_id] = receipt
                receipts.append(receipt)
                results.append(CommandResult(command=command.type, lot_id=lot.id, changed=True, bid=outcome))
            elif isinstance(command, CloseLot):
                if from_queue:
                    command = in_processor_time(command, now)
                results.append(CommandResult(command="CloseLot", lot_id=lot.id, changed=lot.close(command)))
            elif isinstance(command, RetractBid):
                # Rare: the lot's events up to the state decided on (the write's condition holds it there).
                lot.retract(command, is_admin, self._events.lot_events(lot.id, upto_version=lot.version))
                results.append(CommandResult(command="RetractBid", lot_id=lot.id, changed=True))
            else:
                results.append(CommandResult(command="CancelLot", lot_id=lot.id, changed=lot.cancel(command, is_admin)))
        return results, receipts, checks


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


def disclosure_records(lot: Lot) -> list[dict[str, Any]]:
    """The disclosure records of the lot's new events (`lot_id`, `version`, `disclosures` by
    field): stored apart from the events, in their transaction."""
    versions = {event.originator_version for event in lot.pending_events}
    return [{"lot_id": lot.id, "version": version, "disclosures": disclosed}
            for version, disclosed in sorted(lot.disclosures.items()) if version in versions]
