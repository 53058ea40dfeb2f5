"""A lot's snapshot as its stored item: the `LOT#`/`SNAPSHOT` attributes both recorders keep.

The state model and its fold (`ledger.domain.state`) say what a lot is; this module says how
that state is written down and read back, so the domain knows nothing of items. The item is
at most 2 KB (`tests/integration/ledger/test_bounded_snapshot.py` holds the bound) and the
largest had only a few dozen bytes to spare, so three groups of fields are kept in one short
attribute each (`sc`, `inc`, `bn`, below). Reading back is strict: an attribute that is not of
its form, or an item the model refuses, is `LotUnreadable`, naming the lot, the version stored
and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter, ValidationError

from ledger.domain.errors import LotUnreadable
from ledger.domain.events import ADD_TO_END, ANY_BID, FIRST_BID, FROM_BID, LEADER_CHANGE, RESERVE_MET
from ledger.domain.state import LotSnapshot
from ledger.domain.values import format_decimal

# The soft-close rule in the item is one short attribute: `sc` is the mode's letter (B: from
# the bid, E: added to the end), the trigger's (A: any bid, L: a leader change) and the cap on
# extensions when there is one: "EL3". Today's rule, "BA", is left out.
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
# first bid). Absent for a lot without a buy-now price.
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


def snapshot_to_item(snapshot: LotSnapshot) -> dict[str, Any]:
    """JSON-able attributes for the stored item (money and times as strings); an attribute
    that is None is left out (it reads back as None), which keeps the item small, and so is
    the soft-close rule when it is today's (see `_RULE_ATTRIBUTE`)."""
    item = snapshot.model_dump(mode="json", exclude_none=True,
                               exclude=set(_RULE_FIELDS) | set(_BUY_NOW_FIELDS) | {"increment"})
    item[_INCREMENT_ATTRIBUTE] = _increment_code(snapshot.increment)
    if snapshot.buy_now_price is not None:
        item[_BUY_NOW_ATTRIBUTE] = format_decimal(snapshot.buy_now_price) + _UNTIL_CODES[snapshot.buy_now_until]
    code = _MODE_CODES[snapshot.soft_close_mode] + _TRIGGER_CODES[snapshot.soft_close_trigger]
    code += "" if snapshot.max_extensions is None else str(snapshot.max_extensions)
    if code != _TODAYS_RULE:
        item[_RULE_ATTRIBUTE] = code
    return item


def snapshot_from_item(lot_id: str, item: Mapping[str, Any]) -> LotSnapshot:
    """The snapshot the lot's stored `LOT#`/`SNAPSHOT` item holds; LotUnreadable (naming the
    lot, the version stored and what is wrong) when it cannot be read back."""
    try:
        # The stored item leaves `lot_id` to its key (`ledger.dynamodb.items.put_snapshot`).
        return _STORED_SNAPSHOT.validate_python({"lot_id": lot_id, **item})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'item'}: {e['msg']}" for e in error.errors()[:3]
        )
        version = item.get("version")
        known_version = int(version) if isinstance(version, int | Decimal) and version == int(version) else None
        raise LotUnreadable(lot_id, "snapshot", problems, known_version) from None


def _read_short_attributes(data: Any) -> Any:
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
# The snapshot model, reading the short attributes first (a failed one is a validation error
# of the whole item, as a field the model refuses is).
_STORED_SNAPSHOT: TypeAdapter[LotSnapshot] = TypeAdapter(Annotated[LotSnapshot, BeforeValidator(_read_short_attributes)])
