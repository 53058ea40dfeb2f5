"""The lot list's order and its cursor (`GET /lots?status=open|closed|all`).

One order serves every status: the open lots, soonest to close first (then lot id), and
after them the ended lots (CLOSED or CANCELLED), most recently ended first (then lot id
descending). `open` lists the first part, `closed` the second, `all` both. A cursor is
a position in that order: the part and the last lot's key in it (`OPEN#{close key}` or
`ENDED#{end key}`), so any string of its pattern is a position, and a cursor from one
status is valid with another (an `ENDED#` cursor with `open` is past every open lot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ledger.domain.errors import InvalidCommand

# A lot's key in one part of the order: a stored time (fixed width, so the strings sort as the
# times do) and the lot id, as `ledger.persistence.close_key` and `ended_key` write them. The
# lot id is unanchored so the cursor below is built on it. Any string of this shape is a
# position in the order, whether or not a lot has it.
TIME_KEY_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z#[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"

ListStatus = Literal["open", "closed", "all"]
ListPart = Literal["OPEN", "ENDED"]
OPEN_PART: ListPart = "OPEN"
ENDED_PART: ListPart = "ENDED"
LIST_CURSOR_PATTERN = rf"^(?:{OPEN_PART}|{ENDED_PART})#{TIME_KEY_PATTERN}$"
_LIST_CURSOR = re.compile(LIST_CURSOR_PATTERN)


@dataclass(frozen=True)
class ListPosition:
    """Where a page of the list ends: in which part, after which lot's key."""

    part: ListPart
    key: str  # a `close_key` in the open part, an `ended_key` in the ended part

    @property
    def cursor(self) -> str:
        return f"{self.part}#{self.key}"

    @classmethod
    def from_cursor(cls, cursor: str) -> ListPosition:
        """The position a cursor names; InvalidCommand when it is not of the pattern."""
        if not _LIST_CURSOR.match(cursor):
            raise InvalidCommand("the cursor is not one this list gave", {"cursor": cursor})
        part, _, key = cursor.partition("#")
        return cls(OPEN_PART if part == OPEN_PART else ENDED_PART, key)
