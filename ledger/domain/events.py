"""The Lot's events. Each one is immutable, stored once, and chained by SHA-256.

`hash` is SHA-256 over the previous event's hash and this event's canonical content
(its type and every field but `hash`, as sorted compact JSON), so editing, deleting,
inserting or reordering a stored event breaks the chain at that version.

New fields must get defaults (or an `upcast_v1_v2` with `class_version`) so stored
events stay readable without being rewritten. A stored event is read without calling
`__init__`: a field it lacks reads as the class default, so a field added later is listed
in `HASHED_UNLESS_DEFAULT` and hashed only when it differs from its default; an event
stored before the field existed then hashes exactly as it did.

Private fields (`ledger.domain.commitments`): an event written since commitments exist
carries `sealed`, its private fields' commitments; its body holds each commitment in place of
the value, and `committed`, the sorted names of those fields. The stored event holds no
private value (`sealed_state`); reading it back opens the values from the disclosures
stored apart. An event without `sealed` (every one written before) hashes as it always did.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal

from eventsourcing.domain import CanInitAggregate, CanMutateAggregate
from eventsourcing.utils import register_topic

from ledger.domain.values import format_decimal, format_time, utc_now

GENESIS_HASH = "0" * 64

# What an accepted bid did (BidPlaced.outcome): it took the lead; it was recorded but the
# leader's maximum answered it (the leader's automatic counter-bid moved the price); or
# the leader raised their own maximum.
TOOK_LEAD = "LEADING"
OUTBID = "OUTBID"
RAISED = "RAISED"

# Soft-close rules per lot (LotCreated, the lot's terms; `ledger.domain.rules.soft_close`
# applies them): where an extension counts from (the bid's time, or the current end), and
# which accepted bids extend (any, or only one that changes the leader).
FROM_BID: Final = "from_bid"
ADD_TO_END: Final = "add_to_end"
ANY_BID: Final = "any_bid"
LEADER_CHANGE: Final = "leader_change"
SoftCloseMode = Literal["from_bid", "add_to_end"]
SoftCloseTrigger = Literal["any_bid", "leader_change"]

# Buy-it-now (LotCreated, the lot's terms; `ledger.domain.rules.buy_now_refusal` applies them): a
# lot with a buy-now price offers it until the first accepted bid, or until the reserve is
# met. A purchase is a BidPlaced with the outcome BOUGHT, followed by the LotClosed it makes.
FIRST_BID: Final = "first_bid"
RESERVE_MET: Final = "reserve_met"
BuyNowUntil = Literal["first_bid", "reserve_met"]
BOUGHT = "BOUGHT"


def canonical(value: Any) -> Any:
    """The JSON-able form of a field value, the same however it was stored."""
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, datetime):
        # Ledger times are kept to the millisecond and written as "…T21:37:03.120Z".
        return format_time(value) if value.microsecond % 1000 == 0 else value.astimezone(UTC).isoformat()
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def canonical_body(event_type: str, content: dict[str, Any]) -> str:
    return json.dumps(
        {"type": event_type, **canonical(content)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def chain_hash(prev_hash: str, event_type: str, content: dict[str, Any]) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical_body(event_type, content)}".encode()).hexdigest()


def sealed_state(event_state: dict[str, Any]) -> dict[str, Any]:
    """An event's state as stored: its committed fields' values replaced by None (their
    commitments are in `sealed`), so storage holds no private value."""
    sealed = event_state.get("sealed")
    if not sealed:
        return event_state
    return {name: None if name in sealed else value for name, value in event_state.items()}


def open_event(event: LotEvent, values: dict[str, Any]) -> LotEvent:
    """The stored event with its committed fields' values as disclosed (`ledger.domain.commitments.opened_values`);
    a field without a disclosure (erased) reads as None. Its hash is the stored one."""
    for name in event.sealed or {}:
        object.__setattr__(event, name, values.get(name))
    return event


@dataclass(frozen=True, kw_only=True)
class LotEvent(CanMutateAggregate[str]):
    originator_id: str
    originator_version: int
    timestamp: datetime
    prev_hash: str
    hash: str = ""
    # The private fields' commitments, by field (`ledger.domain.commitments`); None: an event
    # written before commitments existed, whose body holds its values.
    sealed: dict[str, str] | None = None

    # Fields added after events of the type were stored (see the module's docstring).
    HASHED_UNLESS_DEFAULT: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def create_timestamp(cls) -> datetime:
        return utc_now()

    def __post_init__(self) -> None:
        # New events get their hash here; stored ones keep theirs (the mapper does not
        # call __init__), so verification compares what was stored with what it should be.
        if not self.hash:
            object.__setattr__(self, "hash", self.compute_hash())

    def content(self) -> dict[str, Any]:
        """What the event's hash covers: every field but `hash` (and `sealed`), with each
        committed field's commitment in place of its value and the names of those fields."""
        sealed = self.sealed or {}
        content = {
            f.name: sealed[f.name] if f.name in sealed else getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("hash", "sealed")
            and (f.name in sealed or not (
                f.name in self.HASHED_UNLESS_DEFAULT and f.default is not MISSING and getattr(self, f.name) == f.default))
        }
        if self.sealed is not None:
            content["committed"] = sorted(self.sealed)
        return content

    def body(self) -> str:
        """The exact string hashed after `prev_hash` and a newline (docs/PROOFS.md)."""
        return canonical_body(type(self).__name__, self.content())

    def compute_hash(self) -> str:
        return chain_hash(self.prev_hash, type(self).__name__, self.content())

    @property
    def lot_id(self) -> str:
        return self.originator_id

    @property
    def version(self) -> int:
        return self.originator_version

    def apply(self, aggregate: Any) -> None:
        aggregate.apply_event(self)


@dataclass(frozen=True, kw_only=True)
class LotCreated(LotEvent, CanInitAggregate[str]):
    originator_topic: str
    title: str
    seller: str
    currency: str
    starting_price: Decimal
    reserve_price: Decimal | None
    # {"type": "fixed", "step": "1.00"} or {"type": "bands", "bands": [[from, step], ...]}
    # in the currency's units, written out at creation so a later default cannot change it.
    increment: dict[str, Any]
    opens_at: datetime
    closes_at: datetime
    soft_close_window_s: int
    soft_close_extension_s: int
    hard_close_at: datetime | None
    # Soft-close rules per lot; the defaults are the rule of lots created before them.
    # None: no cap on the number of extensions (the hard close still caps the time).
    soft_close_mode: SoftCloseMode = FROM_BID
    soft_close_trigger: SoftCloseTrigger = ANY_BID
    max_extensions: int | None = None
    # Buy-it-now; None: the lot has no buy-now price (every lot created before it).
    buy_now_price: Decimal | None = None
    buy_now_until: BuyNowUntil = FIRST_BID
    # The staggered sale the lot was created in (`POST /sales`); None for a lot of its own.
    sale_id: str | None = None
    # Who may bid (`ledger.domain.registration`): "approval" (approved registrations only), or
    # None: any signed-in user (every lot created before registrations).
    registration: str | None = None
    # The seller's public handle (`ledger.domain.sellers`); None for lots created before
    # handles, whose views show none.
    seller_handle: str | None = None

    HASHED_UNLESS_DEFAULT: ClassVar[frozenset[str]] = frozenset(
        {"soft_close_mode", "soft_close_trigger", "max_extensions", "buy_now_price", "buy_now_until", "sale_id",
         "registration", "seller_handle"}
    )


@dataclass(frozen=True, kw_only=True)
class BidPlaced(LotEvent):
    bid_id: str
    bidder: str
    amount: Decimal
    placed_at: datetime
    minimum: Decimal  # the minimum next bid this bid met
    closes_at: datetime  # the close time after this bid (later than before when soft close extended it)
    correlation_id: str | None = None  # the API request that took the bid
    # The bidder's alias number on this lot (a new bidder's is one more than the highest
    # given before); None only in events recorded before aliases moved out of the snapshot.
    alias: int | None = None
    # Maximum (proxy) bids: `amount` is the bidder's maximum. What the bid did (LEADING: it
    # took the lead; OUTBID: the leader's maximum answered it, an automatic counter-bid;
    # RAISED: the leader raised their own maximum; BOUGHT: the bidder bought the lot at its
    # buy-now price, and a LotClosed follows), the visible price after it and the
    # leader's maximum after it: the numbers behind the price. Events recorded before
    # maximum bids have none of them: their amount was the price, and they took the lead.
    outcome: str = TOOK_LEAD
    price: Decimal | None = None
    leader_maximum: Decimal | None = None
    # On a lot that needs registration: the version of the bidder's registration that admitted
    # the bid (None: the lot is open to every signed-in bidder). `alias` is then their paddle.
    registration_version: int | None = None

    HASHED_UNLESS_DEFAULT: ClassVar[frozenset[str]] = frozenset(
        {"alias", "outcome", "price", "leader_maximum", "registration_version"}
    )

    @property
    def price_after(self) -> Decimal:
        """The visible price after this bid."""
        return self.amount if self.price is None else self.price


@dataclass(frozen=True, kw_only=True)
class BidRejected(LotEvent):
    bid_id: str
    bidder: str
    amount: str  # as received: it may not even fit the currency
    placed_at: datetime
    reason: str
    minimum: Decimal | None
    current_price: Decimal | None
    closes_at: datetime  # the close time in force when it was decided
    correlation_id: str | None = None  # the API request that took the bid
    # True: a purchase at the buy-now price (`amount` that price) was refused, not a bid.
    buy_now: bool = False
    # Refused for who bid (NOT_REGISTERED, REGISTRATION_PENDING, BIDDER_BLOCKED, LIMIT_EXCEEDED):
    # the registration's status and version that decided it (None: there was none), and for a
    # limit, the limit and the bidder's exposure in the sale before the bid.
    registration_status: str | None = None
    registration_version: int | None = None
    limit: Decimal | None = None
    exposure: Decimal | None = None

    HASHED_UNLESS_DEFAULT: ClassVar[frozenset[str]] = frozenset(
        {"buy_now", "registration_status", "registration_version", "limit", "exposure"}
    )


@dataclass(frozen=True, kw_only=True)
class LotClosed(LotEvent):
    outcome: str  # SOLD | UNSOLD
    price: Decimal | None
    winner: str | None
    winning_bid_id: str | None
    reserve_met: bool
    requested_at: datetime
    # True: closed by a purchase at the buy-now price (the BidPlaced before it, outcome
    # BOUGHT), not by the close time; `requested_at` is then the purchase's placed_at.
    bought_now: bool = False

    HASHED_UNLESS_DEFAULT: ClassVar[frozenset[str]] = frozenset({"bought_now"})


@dataclass(frozen=True, kw_only=True)
class LotCancelled(LotEvent):
    cancelled_by: str
    reason: str
    requested_at: datetime


@dataclass(frozen=True, kw_only=True)
class BidRetracted(LotEvent):
    """An administrator withdrew an accepted bid (`bid_id`, placed by `bidder`) while the
    lot was open. It carries the lot's standing computed from the accepted bids that remain
    (`ledger.domain.rules.standing_without`: the proxy rule re-run over them in order), so the fold
    stays constant-time per event and never reads earlier events. The close time is not
    moved back: an extension a retracted bid caused stays (bidders planned on it)."""

    bid_id: str
    bidder: str
    retracted_by: str
    reason: str
    requested_at: datetime
    # The lot after it: the visible price (None: no accepted bid remains), the leader, their
    # leading bid, maximum, alias and the time they placed it, the accepted bids still
    # standing, and whether the reserve is met.
    price: Decimal | None
    leader: str | None
    leading_bid_id: str | None
    leader_maximum: Decimal | None
    leader_alias: int | None
    leader_placed_at: datetime | None
    bid_count: int
    reserve_met: bool
    # The retracted bidder's highest maximum still standing (None: no bid of theirs remains),
    # for their own record of the lot (`projections.my_bids`).
    bidder_maximum: Decimal | None


def keep_stored_topic(cls: type, module: str) -> None:
    """Name `cls` by the topic it was stored under, `{module}:{name}`. Stored events name their
    class by that topic, and LotCreated's hashed content names the aggregate's: the modules
    moved into `ledger.domain`, the topics stay, so stored items and their hashes do not change."""
    topic = f"{module}:{cls.__name__}"
    cls.TOPIC = topic  # type: ignore[attr-defined]  # eventsourcing's construct_topic reads it
    register_topic(topic, cls)


for _event_class in (LotCreated, BidPlaced, BidRejected, LotClosed, LotCancelled, BidRetracted):
    keep_stored_topic(_event_class, "ledger.events")
