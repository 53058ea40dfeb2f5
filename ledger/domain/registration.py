"""Who may bid: a bidder's registration for a sale (or a lone lot), and their standing with
the house (a block). Each is an event-sourced aggregate of its own, keyed per sale (or lot)
and bidder, or per bidder: never a key all lots or bidders share. Their events are chained
and hashed as a lot's are (`ledger.domain.events.LotEvent`), and one fold per aggregate, here,
turns them into the state the processor, the API, replay and time travel read.

A lot's terms say whether bidding needs an approved registration (`registration`:
`open`, the default, or `approval`); a lot of a sale takes the sale's. The bid rules that read
a registration are in `ledger.domain.rules` (`registration_refusal`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import singledispatch
from typing import Any, Final, Literal

from eventsourcing.domain import BaseAggregate
from pydantic import BaseModel, ConfigDict

from ledger.domain.errors import BidderRefused, InvalidCommand, InvalidState
from ledger.domain.events import GENESIS_HASH, LotEvent, keep_stored_topic
from ledger.domain.state import stamp
from ledger.domain.values import Money, UtcTime, fits_currency, format_decimal, minor_units, to_currency

OPEN: Final = "open"
APPROVAL: Final = "approval"
RegistrationMode = Literal["open", "approval"]
PENDING: Final = "PENDING"
APPROVED: Final = "APPROVED"
DECLINED: Final = "DECLINED"
SUSPENDED: Final = "SUSPENDED"
RegistrationStatus = Literal["PENDING", "APPROVED", "DECLINED", "SUSPENDED"]
REGISTRATION_STATUSES: tuple[str, ...] = (PENDING, APPROVED, DECLINED, SUSPENDED)
SALE_SCOPE: Final = "SALE"
LOT_SCOPE: Final = "LOT"
STANDING_PREFIX: Final = "BIDDER"


# Page cursors of the registration lists: a sale's by status then bidder ("APPROVED#alice"),
# a bidder's by scope ("SALE#s1"); the lists give them back as `next`.
SCOPE_LIST_CURSOR_PATTERN = r"^(PENDING|APPROVED|DECLINED|SUSPENDED)#[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}$"
BIDDER_LIST_CURSOR_PATTERN = r"^(SALE|LOT)#[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


def scope_key(kind: str, scope_id: str) -> str:
    """What a registration is for: `SALE#{sale_id}`, or `LOT#{lot_id}` for a lone lot."""
    return f"{kind}#{scope_id}"


def lot_scope(lot_id: str, sale_id: str | None) -> str:
    """The scope of a lot's registrations: its sale's, or its own when it is a lone lot."""
    return scope_key(SALE_SCOPE, sale_id) if sale_id is not None else scope_key(LOT_SCOPE, lot_id)


def registration_id(scope: str, user_id: str) -> str:
    """A registration's id: its scope and its bidder (`SALE#{sale_id}#{user}`)."""
    return f"{scope}#{user_id}"


def standing_id(user_id: str) -> str:
    """A bidder's standing with the house: `BIDDER#{user}`."""
    return f"{STANDING_PREFIX}#{user_id}"


def split_scope(scope: str) -> tuple[str, str]:
    """(`SALE` or `LOT`, the sale's or lot's id) of a scope."""
    kind, _, scope_id = scope.partition("#")
    return kind, scope_id


@dataclass(frozen=True)
class RegistrationCheck:
    """A condition a lot's transaction puts on a registration's (or a standing's) stored
    record, so a change of it cannot slip between the processor's read and its write: the
    record is still at `version` (None: there is none), or, `unless_blocked`, the standing is
    absent or not blocked (what a bid on any lot needs, checked without reading it first)."""

    registration_id: str
    version: int | None
    unless_blocked: bool = False

    def matches(self, record: dict[str, Any] | None) -> bool:
        """Whether a stored record (None: there is none) is as checked."""
        if self.unless_blocked:
            return record is None or not record.get("blocked")
        if self.version is None:
            return record is None
        return record is not None and record.get("version") == self.version


@dataclass(frozen=True)
class ExposureChange:
    """How a lot's transaction moves a bidder's exposure in a sale (`ledger.domain.rules.exposure_changes`),
    kept with their registration: by `change`, and, given `at_most`, only if the exposure
    stored before is at most that (their limit less the change), so no interleaving of lots'
    transactions takes it past the limit."""

    registration_id: str
    change: Decimal
    at_most: Decimal | None = None

    def allows(self, exposure: Decimal | None) -> bool:
        """Whether the exposure stored (None: none yet, which is zero) lets the change through."""
        return self.at_most is None or (Decimal(0) if exposure is None else exposure) <= self.at_most


@dataclass(frozen=True)
class Admission:
    """What the processor knows of a bidder when it decides their bid: their registration for
    the lot's sale (None: none; only read where the lot needs approval) and whether the house
    blocked them (with the standing's version, when it was read)."""

    registration: RegistrationState | None = None
    blocked: bool = False
    standing_version: int | None = None
    # The bidder's exposure in the sale as read (their maxima on the lots they lead and the
    # prices of the lots they won), for a registration with a limit.
    exposure: Decimal = Decimal(0)


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RegistrationEvent(LotEvent):
    """An event of a registration or of a bidder's standing: chained and hashed as a lot's."""


@dataclass(frozen=True, kw_only=True)
class RegistrationRequested(RegistrationEvent):
    scope: str  # SALE#{sale_id} or LOT#{lot_id}
    user_id: str


@dataclass(frozen=True, kw_only=True)
class RegistrationApproved(RegistrationEvent):
    approved_by: str
    paddle: int  # the bidder's number across the sale, given at the first approval and kept
    limit: Decimal | None = None  # the most the bidder's exposure in the sale may reach (None: no limit)
    currency: str | None = None  # the limit's currency (the sale's lots')


@dataclass(frozen=True, kw_only=True)
class RegistrationDeclined(RegistrationEvent):
    declined_by: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RegistrationSuspended(RegistrationEvent):
    suspended_by: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class BidderBlocked(RegistrationEvent):
    user_id: str
    blocked_by: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class BidderUnblocked(RegistrationEvent):
    user_id: str
    unblocked_by: str


REGISTRATION_EVENTS: tuple[type[RegistrationEvent], ...] = (
    RegistrationRequested, RegistrationApproved, RegistrationDeclined, RegistrationSuspended, BidderBlocked, BidderUnblocked,
)


# --- state and the one fold ------------------------------------------------------------------


class RegistrationState(BaseModel):
    """A registration after `version` events: stored as its own record, read by the API and
    the processor. Bounded: a reason is at most 500 characters."""

    model_config = ConfigDict(extra="ignore")

    registration_id: str
    scope: str
    user_id: str
    status: RegistrationStatus
    paddle: int | None = None
    limit: Money | None = None
    currency: str | None = None
    reason: str | None = None  # the last decline's or suspension's
    decided_by: str | None = None
    requested_at: UtcTime
    updated_at: UtcTime
    version: int
    head_hash: str


class StandingState(BaseModel):
    """A bidder's standing with the house after `version` events: blocked or not."""

    model_config = ConfigDict(extra="ignore")

    registration_id: str  # standing_id(user_id): stored beside the registrations
    user_id: str
    blocked: bool
    reason: str | None = None
    decided_by: str | None = None
    updated_at: UtcTime
    version: int
    head_hash: str


AnyState = RegistrationState | StandingState


@singledispatch
def evolve_registration(event: RegistrationEvent, state: Any) -> AnyState:
    raise TypeError(f"no fold for event type {type(event).__name__}")



def _registration(state: Any, event: RegistrationEvent) -> RegistrationState:
    if not isinstance(state, RegistrationState):
        raise ValueError(f"{type(event).__name__} at version {event.originator_version} has no RegistrationRequested before it")
    return state


@evolve_registration.register
def _(event: RegistrationRequested, state: Any) -> AnyState:
    if state is not None:  # asked again after a decline
        state = _registration(state, event)
        state.status, state.reason, state.decided_by = PENDING, None, None
        return stamp(state, event)
    return RegistrationState(
        registration_id=event.originator_id, scope=event.scope, user_id=event.user_id, status=PENDING,
        requested_at=event.timestamp, updated_at=event.timestamp, version=event.originator_version, head_hash=event.hash,
    )


@evolve_registration.register
def _(event: RegistrationApproved, state: Any) -> AnyState:
    state = _registration(state, event)
    state.status, state.paddle, state.limit, state.currency = APPROVED, event.paddle, event.limit, event.currency
    state.decided_by, state.reason = event.approved_by, None
    return stamp(state, event)


@evolve_registration.register
def _(event: RegistrationDeclined, state: Any) -> AnyState:
    state = _registration(state, event)
    state.status, state.decided_by, state.reason = DECLINED, event.declined_by, event.reason
    return stamp(state, event)


@evolve_registration.register
def _(event: RegistrationSuspended, state: Any) -> AnyState:
    state = _registration(state, event)
    state.status, state.decided_by, state.reason = SUSPENDED, event.suspended_by, event.reason
    return stamp(state, event)


@evolve_registration.register
def _(event: BidderBlocked, state: Any) -> AnyState:
    if state is None:
        return StandingState(registration_id=event.originator_id, user_id=event.user_id, blocked=True, reason=event.reason,
                             decided_by=event.blocked_by, updated_at=event.timestamp, version=event.originator_version,
                             head_hash=event.hash)
    if not isinstance(state, StandingState):
        raise ValueError(f"BidderBlocked at version {event.originator_version} follows a registration's events")
    state.blocked, state.reason, state.decided_by = True, event.reason, event.blocked_by
    return stamp(state, event)


@evolve_registration.register
def _(event: BidderUnblocked, state: Any) -> AnyState:
    if not isinstance(state, StandingState):
        raise ValueError(f"BidderUnblocked at version {event.originator_version} has no BidderBlocked before it")
    state.blocked, state.reason, state.decided_by = False, None, event.unblocked_by
    return stamp(state, event)


def fold_registration(events: Iterable[RegistrationEvent], state: AnyState | None = None) -> AnyState | None:
    """Fold events onto a state (None: from nothing). None for no events at all."""
    for event in events:
        state = evolve_registration(event, state)
    return state


def state_from_record(record: dict[str, Any]) -> AnyState:
    """A stored record of either aggregate as its state (ValueError / ValidationError when it is not one)."""
    if str(record.get("registration_id", "")).startswith(f"{STANDING_PREFIX}#"):
        return StandingState.model_validate(record)
    return RegistrationState.model_validate(record)


def state_to_record(state: AnyState) -> dict[str, Any]:
    """A state as its stored record: JSON-able, None fields left out."""
    return state.model_dump(mode="json", exclude_none=True)


# --- the aggregates ----------------------------------------------------------------------------


class _Chained(BaseAggregate[str]):
    """An aggregate whose state is the fold of its events, each linked to the one before."""

    # `self.state` (the fold's state, None before the first event) is set by `at` and
    # `apply_event`; not a class annotation, which eventsourcing would turn into an __init__ arg.

    @classmethod
    def at(cls, aggregate_id: str, state: AnyState | None, now: datetime) -> Any:
        """The aggregate as `state` (None: none yet) says, ready to take the next event."""
        aggregate = cls.__new__(cls)
        aggregate.__base_init__(originator_id=aggregate_id, originator_version=0 if state is None else state.version,
                                timestamp=now if state is None else state.updated_at)
        aggregate.state = state
        return aggregate

    def apply_event(self, event: RegistrationEvent) -> None:
        self.state: Any = evolve_registration(event, self.state)

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        prev_hash = GENESIS_HASH if self.state is None else self.state.head_hash
        super().trigger_event(event_class, prev_hash=prev_hash, **kwargs)


class Registration(_Chained):
    """A bidder's registration for a sale (or a lone lot): requested by the bidder, then
    approved (with a paddle and an optional limit), declined or suspended by the sale's seller
    or an administrator. A bidder may ask again after a decline; an approval may be given
    again (a new limit) or after a suspension or a decline."""

    def request(self, scope: str, user_id: str, seller: str) -> bool:
        """Ask to bid; False (nothing recorded) when a registration exists and is not declined."""
        if user_id == seller:
            raise BidderRefused("SELLER_CANNOT_BID", "the seller may not register to bid on their own sale")
        if self.state is not None and self.state.status != DECLINED:
            return False
        if self.state is not None:  # asked again after a decline: the registration goes on, pending again
            self.trigger_event(RegistrationRequested, scope=self.state.scope, user_id=user_id)
        else:
            self.trigger_event(RegistrationRequested, scope=scope, user_id=user_id)
        return True

    def approve(self, by: str, paddle: int, limit: Decimal | None, currency: str | None) -> None:
        state = self._existing()
        if limit is not None:
            if currency is None:
                raise InvalidCommand("a limit needs the sale's lots to share one currency", {"field": "limit"})
            if not fits_currency(limit, currency):
                raise InvalidCommand(f"limit has more decimals than {currency} allows ({minor_units(currency)})",
                                     {"field": "limit", "currency": currency})
        if state.status == APPROVED and state.limit == limit:
            return  # approved already, on the same terms
        self.trigger_event(RegistrationApproved, approved_by=by, paddle=state.paddle or paddle, limit=limit,
                           currency=currency if limit is not None else None)

    def decline(self, by: str, reason: str) -> None:
        state = self._existing()
        if state.status == DECLINED:
            return
        self.trigger_event(RegistrationDeclined, declined_by=by, reason=reason)

    def suspend(self, by: str, reason: str) -> None:
        state = self._existing()
        if state.status == SUSPENDED:
            return
        if state.status != APPROVED:
            raise InvalidState(f"only an approved registration can be suspended (it is {state.status})",
                               {"status": state.status})
        self.trigger_event(RegistrationSuspended, suspended_by=by, reason=reason)

    def needs_paddle(self) -> bool:
        """Whether an approval now gives the bidder their first paddle."""
        return self.state is None or self.state.paddle is None

    def _existing(self) -> RegistrationState:
        if not isinstance(self.state, RegistrationState):
            raise InvalidState("no such registration")
        return self.state


class BidderStanding(_Chained):
    """A bidder's standing with the house: an administrator blocks them (their bids are
    refused on every lot) and unblocks them, saying why."""

    def block(self, user_id: str, by: str, reason: str) -> bool:
        if self.state is not None and self.state.blocked:
            return False
        self.trigger_event(BidderBlocked, user_id=user_id, blocked_by=by, reason=reason)
        return True

    def unblock(self, user_id: str, by: str) -> bool:
        if self.state is None or not self.state.blocked:
            return False
        self.trigger_event(BidderUnblocked, user_id=user_id, unblocked_by=by)
        return True


def limit_text(state: RegistrationState) -> str | None:
    """The limit as the API writes money: in its currency's digits."""
    if state.limit is None or state.currency is None:
        return None
    return format_decimal(to_currency(state.limit, state.currency))


keep_stored_topic(Registration, "ledger.registration")
keep_stored_topic(BidderStanding, "ledger.registration")
for _event_class in REGISTRATION_EVENTS:
    keep_stored_topic(_event_class, "ledger.registration")
