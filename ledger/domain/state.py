"""The one fold: from a lot's events to its `LOT#`/`SNAPSHOT` item.

The writer folds each new event onto the loaded snapshot before saving both in one
transaction; replay, time travel and dispute reports fold stored events from version 1.
Same function, so a replayed lot equals its stored snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from functools import singledispatch
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from ledger.domain.errors import LotUnreadable
from ledger.domain.events import (
    ADD_TO_END,
    ANY_BID,
    FIRST_BID,
    FROM_BID,
    LEADER_CHANGE,
    OUTBID,
    RESERVE_MET,
    BidPlaced,
    BidRejected,
    BidRetracted,
    BuyNowUntil,
    LotCancelled,
    LotClosed,
    LotCreated,
    LotEvent,
    SoftCloseMode,
    SoftCloseTrigger,
)
from ledger.domain.values import Money, UtcTime, format_decimal

LotStatus = Literal["OPEN", "CLOSED", "CANCELLED"]
Outcome = Literal["SOLD", "UNSOLD"]


class LotSnapshot(BaseModel):
    """The state of a lot after `version` events; stored as the `LOT#`/`SNAPSHOT` item.

    Bounded on purpose (DESIGN.md section 2: at most 2 KB): it holds nothing that grows
    with bidders or bids. Bidders' aliases live in their own items (the BidPlaced event
    carries the alias it gave), the bid history is the events themselves.
    Mutable on purpose: folding 100,000 events copies nothing per event.
    """

    model_config = ConfigDict(extra="ignore")

    lot_id: str
    title: str
    seller: str
    currency: str
    starting_price: Money
    reserve_price: Money | None = None
    increment: dict[str, Any]
    opens_at: UtcTime
    closes_at: UtcTime
    scheduled_closes_at: UtcTime  # as created, before any soft-close extension
    soft_close_window_s: int
    soft_close_extension_s: int
    hard_close_at: UtcTime | None = None
    # The lot's soft-close rule (`ledger.domain.rules.soft_close`); the item holds it in one
    # short attribute, left out for today's rule (`to_item`).
    soft_close_mode: SoftCloseMode = FROM_BID
    soft_close_trigger: SoftCloseTrigger = ANY_BID
    max_extensions: int | None = None
    # Buy-it-now terms (`ledger.domain.rules.buy_now_refusal`); the item holds them in one short
    # attribute (`_BUY_NOW_ATTRIBUTE`), absent for a lot without a buy-now price.
    buy_now_price: Money | None = None
    buy_now_until: BuyNowUntil = FIRST_BID
    sale_id: str | None = None  # the staggered sale the lot is in (left out of the item when None)
    status: LotStatus
    outcome: Outcome | None = None
    current_price: Money | None = None
    leader: str | None = None
    leading_bid_id: str | None = None
    # The leader's maximum and when they placed it (private: never in public views).
    leader_maximum: Money | None = None
    leader_placed_at: UtcTime | None = None
    bid_count: int = 0
    rejected_count: int = 0
    extension_count: int = 0
    # Aliases are numbered in order of first accepted bid ("Bidder 3"): the highest given
    # so far, and the leader's (None before the first bid, or for events that carry none).
    bidder_count: int = 0
    leader_alias: int | None = None
    updated_at: UtcTime
    closed_at: UtcTime | None = None
    cancelled_at: UtcTime | None = None
    version: int
    head_hash: str

    @property
    def leader_name(self) -> str | None:
        """The leader as the public sees them: "Bidder 3"."""
        return alias_name(self.leader_alias)

    def to_item(self) -> dict[str, Any]:
        """JSON-able attributes for the DynamoDB item (money and times as strings); an
        attribute that is None is left out (it reads back as None), which keeps the item
        small, and so is the soft-close rule when it is today's (see `_RULE_ATTRIBUTE`)."""
        item = self.model_dump(mode="json", exclude_none=True,
                               exclude=set(_RULE_FIELDS) | set(_BUY_NOW_FIELDS) | {"increment"})
        item[_INCREMENT_ATTRIBUTE] = _increment_code(self.increment)
        if self.buy_now_price is not None:
            item[_BUY_NOW_ATTRIBUTE] = format_decimal(self.buy_now_price) + _UNTIL_CODES[self.buy_now_until]
        code = _MODE_CODES[self.soft_close_mode] + _TRIGGER_CODES[self.soft_close_trigger]
        code += "" if self.max_extensions is None else str(self.max_extensions)
        if code != _TODAYS_RULE:
            item[_RULE_ATTRIBUTE] = code
        return item

    @model_validator(mode="before")
    @classmethod
    def _read_short_attributes(cls, data: Any) -> Any:
        """The fields the item keeps in short attributes (`_SHORT_ATTRIBUTES`: the soft-close
        rule, the increment rule, the buy-now terms), decoded; an absent one leaves its fields
        to their defaults (or, for the increment, to an older item's `increment` map)."""
        if not isinstance(data, Mapping):
            return data
        for attribute, (decode, example) in _SHORT_ATTRIBUTES.items():
            if attribute not in data:
                continue
            code = data[attribute]
            decoded = decode(code) if isinstance(code, str) else None
            if decoded is None:
                raise ValueError(f"{attribute}: {code!r} is not {example}")
            data = {k: v for k, v in data.items() if k != attribute} | decoded
        return data

    @classmethod
    def from_item(cls, lot_id: str, item: Mapping[str, Any]) -> LotSnapshot:
        """The snapshot the lot's stored `LOT#`/`SNAPSHOT` item holds; LotUnreadable
        (naming the lot, the version stored and what is wrong) when it cannot be read back."""
        try:
            # The stored item leaves `lot_id` to its key (ledger.dynamodb).
            return cls.model_validate({"lot_id": lot_id, **item})
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'item'}: {e['msg']}" for e in error.errors()[:3]
            )
            version = item.get("version")
            known_version = int(version) if isinstance(version, int | Decimal) and version == int(version) else None
            raise LotUnreadable(lot_id, "snapshot", problems, known_version) from None


# The soft-close rule in the item is one short attribute: the item is at most 2 KB (DESIGN.md
# section 2) and the largest had only a few dozen bytes to spare. `sc` is the mode's letter
# (B: from the bid, E: added to the end), the trigger's (A: any bid, L: a leader change) and
# the cap on extensions when there is one: "EL3". Today's rule, "BA", is left out.
_RULE_ATTRIBUTE = "sc"
_RULE_FIELDS = ("soft_close_mode", "soft_close_trigger", "max_extensions")
_MODE_CODES: dict[str, str] = {FROM_BID: "B", ADD_TO_END: "E"}
_TRIGGER_CODES: dict[str, str] = {ANY_BID: "A", LEADER_CHANGE: "L"}
_MODES = {code: mode for mode, code in _MODE_CODES.items()}
_TRIGGERS = {code: trigger for trigger, code in _TRIGGER_CODES.items()}
_TODAYS_RULE = "BA"
_RULE_CODE = re.compile(r"([BE])([AL])(0|[1-9][0-9]{0,8})?")
# The buy-now terms in the item, in one attribute for the same reason: `bn` is the price, and
# an "R" after it when it is offered until the reserve is met ("50.00R"; "50.00": until the
# first bid).
_BUY_NOW_ATTRIBUTE = "bn"
_BUY_NOW_FIELDS = ("buy_now_price", "buy_now_until")
_UNTIL_CODES: dict[str, str] = {FIRST_BID: "", RESERVE_MET: "R"}
_UNTILS = {code: until for until, code in _UNTIL_CODES.items()}
_DECIMAL_TEXT = r"[0-9]{1,30}(?:\.[0-9]{1,30})?"
_BUY_NOW_CODE = re.compile(f"({_DECIMAL_TEXT})(R?)")
# The increment rule in the item, one string for the same reason (the band table as a map of
# lists took 192 bytes, this about 110): `inc` is "S" and a fixed step ("S1.00"), or "B" and
# the band table's "from:step" pairs ("B0.00:0.05 1.00:0.25 ..."). Items written before it
# hold the map under `increment`: replay compares like for like (`REPLACED_ATTRIBUTES`), and
# the next write of the snapshot (a whole-item Put) replaces it.
_INCREMENT_ATTRIBUTE = "inc"
_FIXED_CODE = re.compile(f"S({_DECIMAL_TEXT})")
_BANDS_CODE = re.compile(f"B({_DECIMAL_TEXT}:{_DECIMAL_TEXT}(?: {_DECIMAL_TEXT}:{_DECIMAL_TEXT}){{0,63}})")
# Attributes a snapshot item written before a compact attribute held instead of it.
REPLACED_ATTRIBUTES = frozenset({"increment"})


def _increment_code(rule: Mapping[str, Any]) -> str:
    if rule["type"] == "fixed":
        return f"S{rule['step']}"
    return "B" + " ".join(f"{start}:{step}" for start, step in rule["bands"])


def _increment_rule(code: str) -> dict[str, Any] | None:
    if (fixed := _FIXED_CODE.fullmatch(code)) is not None:
        return {"type": "fixed", "step": fixed.group(1)}
    if (bands := _BANDS_CODE.fullmatch(code)) is not None:
        return {"type": "bands", "bands": [pair.split(":") for pair in bands.group(1).split(" ")]}
    return None


def _rule_fields(code: str) -> dict[str, Any] | None:
    if (match := _RULE_CODE.fullmatch(code)) is None:
        return None
    mode, trigger, cap = match.groups()
    return {"soft_close_mode": _MODES[mode], "soft_close_trigger": _TRIGGERS[trigger],
            "max_extensions": None if cap is None else int(cap)}


def _increment_fields(code: str) -> dict[str, Any] | None:
    rule = _increment_rule(code)
    return None if rule is None else {"increment": rule}


def _buy_now_fields(code: str) -> dict[str, Any] | None:
    if (match := _BUY_NOW_CODE.fullmatch(code)) is None:
        return None
    price, until = match.groups()
    return {"buy_now_price": price, "buy_now_until": _UNTILS[until]}


# Each short attribute of the item: how it decodes into the snapshot's fields, and what it looks like.
_SHORT_ATTRIBUTES: dict[str, tuple[Callable[[str], dict[str, Any] | None], str]] = {
    _RULE_ATTRIBUTE: (_rule_fields, "a soft-close rule such as 'EL3'"),
    _INCREMENT_ATTRIBUTE: (_increment_fields, "an increment rule such as 'S1.00' or 'B0.00:0.05 1.00:0.25'"),
    _BUY_NOW_ATTRIBUTE: (_buy_now_fields, "buy-now terms such as '50.00' or '50.00R'"),
}


def alias_name(alias: int | None) -> str | None:
    """How public views name a bidder: by their alias on the lot, never by identity."""
    return None if alias is None else f"Bidder {alias}"


@singledispatch
def evolve(event: LotEvent, state: LotSnapshot | None) -> LotSnapshot:
    raise TypeError(f"no fold for event type {type(event).__name__}")


def _stamp(state: LotSnapshot, event: LotEvent) -> LotSnapshot:
    state.version = event.originator_version
    state.head_hash = event.hash
    state.updated_at = event.timestamp
    return state


def _existing(state: LotSnapshot | None, event: LotEvent) -> LotSnapshot:
    if state is None:
        raise ValueError(f"{type(event).__name__} at version {event.originator_version} has no LotCreated before it")
    return state


@evolve.register
def _(event: LotCreated, state: LotSnapshot | None) -> LotSnapshot:
    if state is not None:
        raise ValueError("LotCreated can only be the first event")
    return LotSnapshot(
        lot_id=event.originator_id,
        title=event.title,
        seller=event.seller,
        currency=event.currency,
        starting_price=event.starting_price,
        reserve_price=event.reserve_price,
        increment=event.increment,
        opens_at=event.opens_at,
        closes_at=event.closes_at,
        scheduled_closes_at=event.closes_at,
        soft_close_window_s=event.soft_close_window_s,
        soft_close_extension_s=event.soft_close_extension_s,
        hard_close_at=event.hard_close_at,
        soft_close_mode=event.soft_close_mode,
        soft_close_trigger=event.soft_close_trigger,
        max_extensions=event.max_extensions,
        buy_now_price=event.buy_now_price,
        buy_now_until=event.buy_now_until,
        sale_id=event.sale_id,
        status="OPEN",
        updated_at=event.timestamp,
        version=event.originator_version,
        head_hash=event.hash,
    )


@evolve.register
def _(event: BidPlaced, state: LotSnapshot | None) -> LotSnapshot:
    state = _existing(state, event)
    if event.alias is not None and event.alias > state.bidder_count:
        state.bidder_count = event.alias  # a new bidder's first accepted bid
    if event.closes_at > state.closes_at:
        state.extension_count += 1
        state.closes_at = event.closes_at
    state.current_price = event.price_after
    if event.outcome != OUTBID:  # it took the lead, or the leader raised their maximum
        state.leader = event.bidder
        state.leader_alias = event.alias
        state.leading_bid_id = event.bid_id
        state.leader_placed_at = event.placed_at
        state.leader_maximum = event.amount if event.price is not None else None
    state.bid_count += 1
    return _stamp(state, event)


@evolve.register
def _(event: BidRejected, state: LotSnapshot | None) -> LotSnapshot:
    state = _existing(state, event)
    state.rejected_count += 1
    return _stamp(state, event)


@evolve.register
def _(event: LotClosed, state: LotSnapshot | None) -> LotSnapshot:
    state = _existing(state, event)
    state.status = "CLOSED"
    state.outcome = event.outcome  # type: ignore[assignment]
    state.closed_at = event.timestamp
    return _stamp(state, event)


@evolve.register
def _(event: LotCancelled, state: LotSnapshot | None) -> LotSnapshot:
    state = _existing(state, event)
    state.status = "CANCELLED"
    state.cancelled_at = event.timestamp  # the reason stays in the event: free text would unbound the item
    return _stamp(state, event)


@evolve.register
def _(event: BidRetracted, state: LotSnapshot | None) -> LotSnapshot:
    # The event carries the standing the remaining bids give (computed once, when it was
    # decided), so folding it is constant-time. The close time and the aliases stay.
    state = _existing(state, event)
    state.current_price = event.price
    state.leader = event.leader
    state.leading_bid_id = event.leading_bid_id
    state.leader_maximum = event.leader_maximum
    state.leader_alias = event.leader_alias
    state.leader_placed_at = event.leader_placed_at
    state.bid_count = event.bid_count
    return _stamp(state, event)


def fold(events: Iterable[LotEvent], state: LotSnapshot | None = None) -> LotSnapshot | None:
    """Fold events onto a state (None: from nothing). Returns None for no events at all."""
    for event in events:
        state = evolve(event, state)
    return state

