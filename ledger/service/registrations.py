"""Who may bid, as use cases: a bidder registers for a sale (or a lone lot) that needs
approval; its seller or an administrator approves (giving the bidder a paddle and perhaps a
limit), declines or suspends; an administrator blocks and unblocks a bidder house-wide. Each
change is an event of the registration's (or standing's) own aggregate
(`ledger.domain.registration`), saved with its state through `RegistrationRecords`, so it
replays, verifies and travels in time like a lot."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError, Mapper
from pydantic import ValidationError

from ledger.domain.commands import RetractBid
from ledger.domain.errors import (
    InvalidCommand,
    InvalidState,
    NotAllowed,
    RegistrationNotFound,
    SaleNotFound,
    TransientError,
)
from ledger.domain.events import BidPlaced, BidRetracted
from ledger.domain.registration import (
    APPROVAL,
    SALE_SCOPE,
    AnyState,
    BidderStanding,
    Registration,
    RegistrationEvent,
    RegistrationState,
    StandingState,
    evolve_registration,
    lot_scope,
    registration_id,
    scope_key,
    standing_id,
    state_from_record,
    state_to_record,
)
from ledger.domain.sales import SaleRecord
from ledger.persistence import LotRecorder
from ledger.service.commands import LotCommands
from ledger.service.queries import LotQueries

# Racing writers of one registration (two reviewers at once): read and decide again this often.
WRITE_ATTEMPTS = 5
Aggregate = TypeVar("Aggregate", Registration, BidderStanding)


@dataclass(frozen=True)
class Scope:
    """What registrations are for: a sale, or a lone lot; its seller, whether it needs approval,
    and its lots' one currency (None: none kept, as for an open sale; a sale stored before
    sales kept it names its lots, at most 49, in `lot_ids`)."""

    key: str  # SALE#{sale_id} or LOT#{lot_id}
    seller: str
    mode: str
    currency: str | None
    lot_ids: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return self.key.partition("#")[0]

    @property
    def scope_id(self) -> str:
        return self.key.partition("#")[2]


class Registrations:
    """Registrations and blocks over the command side's recorder and mapper (`bootstrap` wires them)."""

    def __init__(self, commands: LotCommands, queries: LotQueries) -> None:
        self.commands = commands
        self.queries = queries
        self.store: LotRecorder = queries.store
        self.mapper: Mapper[str] = queries.mapper
        self.clock: Callable[[], datetime] = commands.clock

    # --- scopes -----------------------------------------------------------------------------

    def sale_scope(self, sale_id: str) -> Scope:
        item = self.store.get_sale(sale_id)
        if item is None:
            raise SaleNotFound(f"no sale {sale_id!r}", {"sale_id": sale_id})
        try:
            sale = SaleRecord.model_validate(item)
        except ValidationError:
            raise SaleNotFound(f"no sale {sale_id!r}", {"sale_id": sale_id}) from None
        return Scope(scope_key(SALE_SCOPE, sale_id), sale.seller, sale.registration, sale.currency, tuple(sale.lot_ids))

    def lot_scope(self, lot_id: str) -> Scope:
        """A lone lot's scope; a lot of a sale is registered for with its sale."""
        lot = self.queries.get_lot(lot_id)
        if lot.sale_id is not None:
            return self.sale_scope(lot.sale_id)
        return Scope(lot_scope(lot.lot_id, None), lot.seller, lot.registration or "open", lot.currency)

    def _currency(self, scope: Scope) -> str | None:
        """The one currency of the scope's lots (None: several, or none kept)."""
        if scope.currency is not None or not scope.lot_ids:
            return scope.currency
        currencies = {str(item.get("currency")) for item in self.store.get_snapshots(list(scope.lot_ids)).values()}
        return currencies.pop() if len(currencies) == 1 else None

    # --- reads ------------------------------------------------------------------------------

    def find(self, scope: str, user_id: str) -> RegistrationState | None:
        state = self._read(registration_id(scope, user_id))
        return state if isinstance(state, RegistrationState) else None

    def standing(self, user_id: str) -> StandingState | None:
        state = self._read(standing_id(user_id))
        return state if isinstance(state, StandingState) else None

    def _read(self, aggregate_id: str) -> AnyState | None:
        record = self.store.get_registrations([aggregate_id]).get(aggregate_id)
        return None if record is None else state_from_record(record)

    def of_scope(self, scope: Scope, caller: str, is_admin: bool, status: str | None, limit: int,
                 cursor: str | None = None) -> tuple[list[RegistrationState], str | None]:
        """A page of the scope's registrations (its seller and administrators only)."""
        _may_review(scope, caller, is_admin)
        records, next_cursor = self.store.scope_registrations(scope.key, status, limit, cursor)
        return [RegistrationState.model_validate(r) for r in records], next_cursor

    def of_bidder(self, user_id: str, limit: int, cursor: str | None = None) -> tuple[list[RegistrationState], str | None]:
        records, next_cursor = self.store.bidder_registrations(user_id, limit, cursor)
        return [RegistrationState.model_validate(r) for r in records], next_cursor

    def events(self, aggregate_id: str, upto_version: int | None = None) -> Iterator[RegistrationEvent]:
        """A registration's (or standing's) events in order, decoded."""
        for stored in self.store.iter_registration_events(aggregate_id, lte=upto_version):
            event = self.mapper.to_domain_event(stored)
            if not isinstance(event, RegistrationEvent):
                raise TypeError(f"{aggregate_id} version {stored.originator_version}: not a registration event")
            yield event

    def as_of(self, aggregate_id: str, version: int) -> AnyState | None:
        """The registration (or standing) as it stood at `version`: the fold of its events up to it."""
        state: Any = None
        for event in self.events(aggregate_id, upto_version=version):
            state = evolve_registration(event, state)
        return state

    # --- changes ----------------------------------------------------------------------------

    def register(self, scope: Scope, user_id: str) -> tuple[RegistrationState, bool]:
        """Ask to bid in the scope: PENDING (True: asked now), or the registration as it is."""
        if scope.mode != APPROVAL:
            what = "sale" if scope.kind == SALE_SCOPE else "lot"
            raise InvalidCommand(f"this {what} is open to every signed-in bidder: no registration is needed",
                                 {"registration": scope.mode})
        asked = False

        def request(registration: Registration) -> None:
            nonlocal asked
            asked = registration.request(scope.key, user_id, scope.seller)

        state = self._change(Registration, registration_id(scope.key, user_id), request)
        assert isinstance(state, RegistrationState)
        return state, asked

    def approve(self, scope: Scope, user_id: str, caller: str, is_admin: bool, limit: Decimal | None) -> RegistrationState:
        """Approve (again, perhaps with another limit): the bidder's first approval gives them
        the next paddle number of the scope (a counter per sale, moved in the same transaction)."""
        _may_review(scope, caller, is_admin)
        currency = self._currency(scope) if limit is not None else None
        return self._review(scope, user_id, lambda r, paddle: r.approve(caller, paddle, limit, currency))

    def decline(self, scope: Scope, user_id: str, caller: str, is_admin: bool, reason: str) -> RegistrationState:
        _may_review(scope, caller, is_admin)
        return self._review(scope, user_id, lambda r, _: r.decline(caller, reason))

    def suspend(self, scope: Scope, user_id: str, caller: str, is_admin: bool, reason: str) -> RegistrationState:
        _may_review(scope, caller, is_admin)
        return self._review(scope, user_id, lambda r, _: r.suspend(caller, reason))

    def block(self, user_id: str, caller: str, is_admin: bool, reason: str) -> tuple[StandingState, int]:
        """Block a bidder house-wide (administrators): their bids are refused on every lot from
        now on, and their maxima stop counting: each of their accepted bids on a lot still open
        is retracted (as an administrator's retraction, `RetractBid`, with the block's reason),
        so a lot they led falls back to what its other bids give. Bids on lots that closed
        stand: the house deals with a sale as it deals with any buyer who does not pay.
        Returns the standing and how many bids were retracted."""
        if not is_admin:
            raise NotAllowed("only administrators may block a bidder")
        state = self._change(BidderStanding, standing_id(user_id), lambda s: s.block(user_id, caller, reason))
        assert isinstance(state, StandingState)
        return state, self._withdraw_bids(user_id, caller, f"bidder blocked: {reason}")

    def _withdraw_bids(self, user_id: str, caller: str, reason: str) -> int:
        """Retract the bidder's accepted bids on the open lots they bid on; how many."""
        withdrawn, after = 0, None
        while True:
            page, after = self.queries.bidder_lots(user_id, 100, after)
            for lot, _ in page:
                if lot.status != "OPEN":
                    continue
                retracted = {e.bid_id for e in self.queries.lot_events(lot.lot_id) if isinstance(e, BidRetracted)}
                standing = [e.bid_id for e in self.queries.lot_events(lot.lot_id)
                            if isinstance(e, BidPlaced) and e.bidder == user_id and e.bid_id not in retracted]
                for bid_id in reversed(standing):
                    try:
                        self.commands.retract_bid(RetractBid(lot_id=lot.lot_id, bid_id=bid_id, retracted_by=caller,
                                                             reason=reason[:500], requested_at=self.clock()), is_admin=True)
                    except InvalidState:  # the lot's close time passed meanwhile: its bids stand
                        break
                    withdrawn += 1
            if after is None:
                return withdrawn

    def unblock(self, user_id: str, caller: str, is_admin: bool) -> StandingState:
        if not is_admin:
            raise NotAllowed("only administrators may unblock a bidder")
        state = self._change(BidderStanding, standing_id(user_id), lambda s: s.unblock(user_id, caller))
        if state is None:
            return StandingState(registration_id=standing_id(user_id), user_id=user_id, blocked=False,
                                 updated_at=self.clock(), version=0, head_hash="")
        assert isinstance(state, StandingState)
        return state

    def _review(self, scope: Scope, user_id: str, decide: Callable[[Registration, int], None]) -> RegistrationState:
        aggregate_id = registration_id(scope.key, user_id)
        if self.find(scope.key, user_id) is None:
            raise RegistrationNotFound(f"{user_id!r} has not registered", {"user_id": user_id})

        def with_paddle(registration: Registration) -> tuple[str, int] | None:
            if not registration.needs_paddle():
                decide(registration, 0)
                return None
            last = self.store.last_paddle(scope.key)
            decide(registration, last + 1)
            gave = isinstance(registration.state, RegistrationState) and registration.state.paddle == last + 1
            return (scope.key, last) if gave else None

        state = self._change(Registration, aggregate_id, with_paddle)
        assert isinstance(state, RegistrationState)
        return state

    def _change(self, kind: type[Aggregate], aggregate_id: str, decide: Callable[[Aggregate], Any]) -> AnyState | None:
        """Decide on the aggregate as stored and save what it recorded, with its state, on the
        version read (another writer first: read and decide again)."""
        for _ in range(WRITE_ATTEMPTS):
            state = self._read(aggregate_id)
            # The fold changes the state it is given: the aggregate gets a copy.
            aggregate = kind.at(aggregate_id, None if state is None else state.model_copy(deep=True), self.clock())
            paddles = decide(aggregate)
            events = aggregate.collect_events()
            if not events:
                return state
            stored = [self.mapper.to_stored_event(e) for e in events]
            try:
                self.store.insert_registration(stored, state_to_record(aggregate.state), None if state is None else state.version,
                                               paddles if isinstance(paddles, tuple) else None)
            except IntegrityError:
                continue
            new_state: AnyState = aggregate.state
            return new_state
        raise TransientError(f"{aggregate_id}: other changes kept winning; try again")


def _may_review(scope: Scope, caller: str, is_admin: bool) -> None:
    if not (is_admin or caller == scope.seller):
        raise NotAllowed("only the sale's seller or an administrator may review its registrations")

