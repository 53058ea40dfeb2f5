"""How `samsold history` names bidders and lays out a lot's events: aliases ("Bidder 2")
as the events gave them, user ids beside them only when asked, one line per event within
80 columns (or, with --wide, every field at whatever width it takes)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.table import Table

from ledger.domain.events import BidPlaced, BidRejected, LotCreated, LotEvent
from ledger.domain.state import alias_name

# The fields of an event's data that hold a user id.
IDENTITY_FIELDS = ("bidder", "seller", "winner", "cancelled_by", "retracted_by", "leader")
NO_ALIAS = "(no alias)"  # a bidder whose bids were all rejected: aliases come with an accepted bid
_ALIAS_TEXT = re.compile(r"(?:bidder\s*)?(\d+)", re.IGNORECASE)


class UnknownBidder(ValueError):
    pass


@dataclass
class BidderNames:
    """Who is who on one lot, from its events alone (the same mapping as the dispute report)."""

    lot_id: str
    seller: str | None = None
    aliases: dict[str, int] = field(default_factory=dict)  # bidder id -> alias number
    bidders: list[str] = field(default_factory=list)  # every bidder id, in order of first bid

    @classmethod
    def from_events(cls, lot_id: str, events: Iterable[LotEvent]) -> BidderNames:
        names = cls(lot_id)
        for event in events:
            if isinstance(event, LotCreated):
                names.seller = event.seller
            if isinstance(event, BidPlaced | BidRejected) and event.bidder not in names.bidders:
                names.bidders.append(event.bidder)
            if isinstance(event, BidPlaced) and event.alias is not None:
                names.aliases.setdefault(event.bidder, event.alias)
        return names

    def label(self, user: str | None, field_name: str = "bidder") -> str | None:
        """How a user id is shown without --reveal."""
        if user is None:
            return None
        if field_name in ("cancelled_by", "retracted_by"):
            return "an admin"
        if user in self.aliases:
            return alias_name(self.aliases[user])
        if user == self.seller:
            return "seller"
        return NO_ALIAS

    def resolve(self, text: str) -> str:
        """The bidder id that `--bidder` names: a user id of a bidder on this lot, or an
        alias ("Bidder 2", "bidder 2" or "2"). UnknownBidder says what there is instead."""
        if text in self.bidders:
            return text
        match = _ALIAS_TEXT.fullmatch(text.strip())
        if match is not None:
            number = int(match.group(1))
            for user, alias in self.aliases.items():
                if alias == number:
                    return user
        known = ", ".join(alias_name(a) or "" for a in sorted(self.aliases.values())) or "none"
        raise UnknownBidder(
            f"no bidder {text!r} on lot {self.lot_id!r} (aliases: {known}); give an alias "
            "(\"Bidder 2\" or 2) or a user id (`history --reveal` lists them)"
        )

    def shown(self, record: dict[str, Any], reveal: bool, beside: bool = False) -> dict[str, Any]:
        """The record with user ids replaced by aliases, unless revealed: then each id keeps
        its place and its alias comes beside it (`<field>_alias`, or with `beside` in the
        same field, "Bidder 1 (alice)", for a table). The hashes are always over the stored ids."""
        data = dict(record["data"])
        for name in IDENTITY_FIELDS:
            if data.get(name) is None:
                continue
            label = self.label(data[name], name)
            if not reveal:
                data[name] = label
            elif beside:
                data[name] = f"{label} ({data[name]})"
            else:
                data[f"{name}_alias"] = label
        return record | {"data": data}

    def legend(self) -> list[tuple[str, str]]:
        """(shown as, user id) for --reveal: every bidder and the seller."""
        rows = [(self.label(user) or NO_ALIAS, user) for user in self.bidders]
        rows.sort(key=lambda row: (row[0] == NO_ALIAS, self.aliases.get(row[1], 0)))
        return ([("seller", self.seller)] if self.seller else []) + rows


@dataclass(frozen=True)
class _Clock:
    """How the compact table writes times: the part every event shares goes in the title,
    each row shows the rest (to the millisecond when all are on one day). A time outside
    the shared part (a close on another day) is written in full."""

    shared: str  # "2026-11-23", "2026", or ""
    start: int
    end: int

    @classmethod
    def of(cls, records: list[dict[str, Any]]) -> _Clock:
        days = {r["recorded_at"][:10] for r in records}
        if len(days) <= 1:
            return cls(next(iter(days), ""), 11, 23)  # "21:37:03.120"
        years = {day[:4] for day in days}
        if len(years) == 1:
            return cls(next(iter(years)), 5, 19)  # "11-23 21:37:03"
        return cls("", 0, 19)

    def __call__(self, text: str) -> str:
        if not text.startswith(self.shared):
            return text[:19].replace("T", " ")
        return text[self.start : self.end].replace("T", " ")


def _what(record: dict[str, Any], previous_close: str | None, when: _Clock) -> str:
    """What the event did, in the words of its own fields."""
    kind, data = record["type"], record["data"]
    if kind == "LotCreated":
        return f"closes {when(data['closes_at'])}" + (f" (sale {data['sale_id']})" if data.get("sale_id") else "")
    if kind == "BidPlaced":
        extended = previous_close is not None and data["closes_at"] != previous_close
        return data.get("outcome", "LEADING") + (f", closes {when(data['closes_at'])}" if extended else "")
    if kind == "BidRejected":
        return data["reason"] + (f" (min {data['minimum']})" if data.get("minimum") and data["reason"] == "BELOW_MINIMUM" else "") + (
            " (buy now)" if data.get("buy_now") else "")
    if kind == "LotClosed":
        return data["outcome"] + (f" to {data['winner']}" if data.get("winner") else "") + (
            ", bought now" if data.get("bought_now") else "")
    if kind == "LotCancelled":
        return f"CANCELLED: {data['reason']}"
    if kind == "BidRetracted":  # the bidder column is the retracted bid's; the price is the lot's after it
        return f"RETRACTED bid {data['bid_id']}: {data['reason']}; leader now {data.get('leader') or 'none'}"
    return str(kind)


def compact_table(lot_id: str, records: list[dict[str, Any]], all_records: list[dict[str, Any]]) -> Table:
    """One line per event: version, time, bidder, maximum, price, what it did."""
    when = _Clock.of(all_records)
    title = f"lot {lot_id}, times UTC" + (f" ({when.shared})" if when.shared else "")
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, caption_justify="left", caption=(
        "Accepted: LEADING, OUTBID (the leader's maximum answered), RAISED, BOUGHT\n"
        "(at the buy-now price); RETRACTED by an admin.\n"
        "Rejected: the other codes. --wide: every field and the hashes."))
    for name, justify in (("v", "right"), ("recorded", "left"), ("bidder", "left"), ("maximum", "right"),
                          ("price", "right"), ("what", "left")):
        table.add_column(name, justify=justify, no_wrap=name != "what", overflow="fold")  # type: ignore[arg-type]
    shown = {r["version"] for r in records}
    close: str | None = None
    for r in all_records:  # all of them: an extension is a change from the close time before
        d = r["data"]
        if r["version"] in shown:
            price = d.get("price") or d.get("current_price") or ""
            who = d.get("bidder") or ("seller" if r["type"] == "LotCreated" else "")
            table.add_row(str(r["version"]), when(r["recorded_at"]), who,
                          d.get("amount") or d.get("starting_price") or "", price, _what(r, close, when))
        close = d.get("closes_at", close)
    return table


def wide_table(lot_id: str, records: list[dict[str, Any]]) -> Table:
    """Every field that decides something, and the hash: for a wide terminal or a file."""
    table = Table(title=f"lot {lot_id}", title_justify="left")
    for column in ("v", "recorded", "type", "bidder", "amount", "placed at", "reason / outcome", "numbers", "hash"):
        table.add_column(column, no_wrap=True)
    for r in records:
        d = r["data"]
        numbers = ", ".join(f"{k}={d[k]}" for k in ("minimum", "current_price", "closes_at", "price", "leader_maximum")
                            if d.get(k) is not None)
        table.add_row(
            str(r["version"]), r["recorded_at"], r["type"], d.get("bidder") or d.get("seller") or "",
            d.get("amount") or d.get("starting_price") or "", d.get("placed_at") or "",
            d.get("reason") or d.get("outcome") or "", numbers, r["hash"][:12],
        )
    return table
