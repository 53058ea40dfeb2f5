"""Sellers as the public sees them, and the lot ids each reserves.

A seller's handle is public (each lot view's `seller`): the handle an administrator gave
them (the token's `custom:seller_handle`; `samsold token NAME --seller` gives NAME), else
one derived from their user id ("u" and 10 hex digits of a hash), never the user id
itself. It is stable: the user id never changes, and only administrators set handles.

Lot ids are unique and first come, but a seller's lots carry the seller's handle: a lot id
starts with `{handle}-` (an id left out is generated so), so nobody can take an id another
seller will want. Handles have no "-", so one handle's prefix is never another's.
Administrators may name a lot as they wish."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from ledger.domain.commands import new_id
from ledger.domain.errors import LotIdReserved

# Lower-case letters and digits, a letter first, 2 to 24: short enough that the handle, a
# "-" and a generated id fit an id (64) and a terminal's line.
HANDLE_PATTERN = r"^[a-z][a-z0-9]{1,23}$"
# A generated lot id's own part: 20 hex digits (80 random bits) after the handle.
GENERATED_DIGITS = 20
_HANDLE = re.compile(HANDLE_PATTERN)
# A lot's terms: CreateLot, or a lot's in a sale.
Terms = TypeVar("Terms", bound=BaseModel)


def is_handle(value: Any) -> bool:
    return isinstance(value, str) and _HANDLE.fullmatch(value) is not None


def derived_handle(user: str) -> str:
    """The handle of a seller no administrator gave one: the same for the same user, and
    unlinkable to their user id."""
    return "u" + hashlib.sha256(f"seller\n{user}".encode()).hexdigest()[:10]


@dataclass(frozen=True)
class ListedAs:
    """How a seller's lots are listed: under their public handle, and whether their lot ids
    must carry it (administrators' need not)."""

    handle: str
    any_lot_id: bool = False

    @property
    def prefix(self) -> str:
        return f"{self.handle}-"

    def lot_terms(self, terms: Terms, where: str = "lot_id") -> Terms:
        """The terms with the lot id this seller may use: a generated one carrying their
        handle when none was given; LotIdReserved (nothing written) for another's."""
        if "lot_id" not in terms.model_fields_set:
            return terms.model_copy(update={"lot_id": f"{self.prefix}{new_id()[:GENERATED_DIGITS]}"})
        lot_id = str(terms.model_dump(include={"lot_id"})["lot_id"])
        if self.any_lot_id or lot_id.startswith(self.prefix):
            return terms
        raise LotIdReserved(
            f"lot ids of seller {self.handle!r} start with {self.prefix!r} (such as {self.prefix}vase), so nobody"
            f" takes another seller's: send one so, or leave lot_id out to have one generated",
            {"field": where, "lot_id": lot_id, "reserved_prefix": self.prefix},
        )
