"""Private fields as commitments: what an event's public body hides, and how it is opened.

An event written since commitments exist carries, in its hashed body, for each private field
of its type (`PRIVATE_FIELDS`, the one list: whatever the public view does not show) a
commitment in place of the value:

    commitment = base64url( SHA-256( disclosure ) )
    disclosure = base64url( UTF-8( JSON [salt, "<lot_id>/<version>/<field>", value] ) )

`salt` is 16 random bytes in base64url; the JSON is compact (`","` and `":"`), non-ASCII
written as itself, the value in the event's canonical form (`canonical`: money as a decimal
string, times as `YYYY-MM-DDTHH:MM:SS.mmmZ`, null for none). base64url is RFC 4648 section 5
without padding. The disclosures are stored apart from the events (deleting a bidder's erases
their private data; every hash and proof still holds); reading an event opens it with the
disclosures still stored, and a field whose disclosure is gone reads as None. docs/PROOFS.md
states every byte.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

# The private fields of each event type, by its class name, with the type a disclosed value
# is read back as (str: as disclosed). Events of a type written before it was listed here
# keep their own rule: no commitments, the values in the body.
PRIVATE_FIELDS: Final[dict[str, dict[str, type]]] = {
    "BidPlaced": {"bidder": str, "amount": Decimal, "leader_maximum": Decimal},
    "BidRejected": {"bidder": str, "limit": Decimal, "exposure": Decimal},
    "LotClosed": {"winner": str},
    "LotCancelled": {"cancelled_by": str, "reason": str},
    "BidRetracted": {
        "bidder": str, "retracted_by": str, "reason": str, "leader": str, "leader_maximum": Decimal, "bidder_maximum": Decimal,
    },
}
# Whose data each private field is, by event type: the field naming a user, and the fields that
# go with it (a bidder's erasure deletes the disclosures of these fields of the events where
# that field is theirs). A BidPlaced's `leader_maximum` is its bidder's unless the leader's
# maximum answered the bid (`owned_by`'s `answered_by`).
OWNERS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "BidPlaced": {"bidder": ("bidder", "amount", "leader_maximum")},
    "BidRejected": {"bidder": ("bidder", "limit", "exposure")},
    "LotClosed": {"winner": ("winner",)},
    "BidRetracted": {"bidder": ("bidder", "reason", "bidder_maximum"), "leader": ("leader", "leader_maximum")},
}
SALT_BYTES = 16


class DisclosureError(ValueError):
    """A disclosure that is not one, or does not open the commitment it is given for."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    if not isinstance(text, str) or "=" in text:
        raise DisclosureError("not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise DisclosureError("not base64url") from None


def private_fields(event_type: str) -> dict[str, type]:
    return PRIVATE_FIELDS.get(event_type, {})


def path(lot_id: str, version: int, field: str) -> str:
    return f"{lot_id}/{version}/{field}"


def disclose(lot_id: str, version: int, field: str, value: Any, salt: bytes | None = None) -> str:
    """A new disclosure of `value` (in canonical form) for the field of the event at this version."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    text = json.dumps([b64url(salt), path(lot_id, version, field), value], separators=(",", ":"), ensure_ascii=False)
    return b64url(text.encode())


def commitment(disclosure: str) -> str:
    """The commitment a disclosure opens: base64url of SHA-256 over the disclosure's ASCII."""
    return b64url(hashlib.sha256(disclosure.encode("ascii")).digest())


def read_disclosure(disclosure: str) -> tuple[str, str, Any]:
    """(salt, path, value) of a disclosure; DisclosureError when it is not one."""
    try:
        opened = json.loads(unb64url(disclosure).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DisclosureError("a disclosure is base64url of a JSON array") from None
    if not (isinstance(opened, list) and len(opened) == 3 and isinstance(opened[0], str) and isinstance(opened[1], str)):
        raise DisclosureError("a disclosure is [salt, path, value]")
    return opened[0], opened[1], opened[2]


def opened_values(
    event_type: str, lot_id: str, version: int, sealed: Mapping[str, str], disclosures: Mapping[str, str]
) -> dict[str, Any]:
    """The values of the event's committed fields its disclosures open (a field without one
    is left out: erased); DisclosureError for one that does not open its commitment."""
    kinds = private_fields(event_type)
    values: dict[str, Any] = {}
    for field, disclosure in disclosures.items():
        if field not in sealed:
            continue
        if commitment(disclosure) != sealed[field]:
            raise DisclosureError(f"the disclosure of {field} does not open its commitment")
        _, where, value = read_disclosure(disclosure)
        if where != path(lot_id, version, field):
            raise DisclosureError(f"the disclosure of {field} is for {where}")
        values[field] = Decimal(value) if kinds.get(field) is Decimal and value is not None else value
    return values


def owned_by(event_type: str, values: Mapping[str, Any], user: str, answered_by: str | None = None) -> list[str]:
    """The private fields of an event (its opened `values`) that are `user`'s own data.
    `answered_by`: the leader whose maximum answered a BidPlaced (its outcome OUTBID; None
    for any other event): its `leader_maximum` is theirs, not the bidder's."""
    owned: list[str] = []
    for who, theirs in OWNERS.get(event_type, {}).items():
        if values.get(who) == user:
            owned += [f for f in theirs if f in values and f not in owned]
    if answered_by is not None:
        owned = [f for f in owned if f != "leader_maximum"]
        if answered_by == user and "leader_maximum" in values:
            owned.append("leader_maximum")
    return owned
