"""A lot's history against the public log: leaves, the lot proof document and its checking.

Leaf: `samsold/event/v1 <lot_id> <version> <event hash, 64 lowercase hex>` and a newline.
Lot proof (JSON, `samsold.lot-proof/v1`): the signed checkpoint verbatim, and for each of the
lot's events in the log at that size its version, log index, `prev_hash`, `hash`, `body` (the
string hashed, or null for an event whose body is not public) and inclusion proof, plus an
optional consistency proof from an older checkpoint and optional disclosures, each opening
one commitment of a body (`ledger/domain/commitments.py` makes them). docs/PROOFS.md specifies every byte;
`check_lot_proof` is the checking it describes, and tools/check_proof.py does the same with
nothing of this repository.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tlog import checkpoint, merkle

LEAF_PREFIX = "samsold/event/v1"
PROOF_FORMAT = "samsold.lot-proof/v1"
GENESIS_HASH = "0" * 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
_LEAF = re.compile(r"samsold/event/v1 ([^\s]+) ([1-9][0-9]*) ([0-9a-f]{64})\n")


class LotProofError(ValueError):
    """A lot proof that does not prove what it says; names the lot and the version when one is at fault."""

    def __init__(self, message: str, lot_id: str | None = None, version: int | None = None) -> None:
        where = f"lot {lot_id}" + (f" version {version}" if version is not None else "") + ": " if lot_id else ""
        super().__init__(where + message)
        self.lot_id = lot_id
        self.version = version


def leaf(lot_id: str, version: int, event_hash: str) -> bytes:
    if not _HEX64.fullmatch(event_hash):
        raise ValueError("an event hash is 64 lowercase hex digits")
    return f"{LEAF_PREFIX} {lot_id} {version} {event_hash}\n".encode()


def parse_leaf(data: bytes) -> tuple[str, int, str]:
    """(lot_id, version, event hash) of a leaf, or ValueError."""
    match = _LEAF.fullmatch(data.decode("utf-8", errors="strict"))
    if not match:
        raise ValueError(f"not a samsold event leaf: {data[:120]!r}")
    return match[1], int(match[2]), match[3]


def event_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def b64(values: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


def unb64(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise LotProofError(f"{what} must be a list of base64 strings")
    try:
        return [base64.b64decode(v, validate=True) for v in values]
    except binascii.Error:
        raise LotProofError(f"{what} is not base64") from None


@dataclass(frozen=True)
class CheckedProof:
    lot_id: str
    checkpoint: checkpoint.Checkpoint
    versions: int  # how many events the proof proves, versions 1..n
    disclosed: dict[tuple[int, str], Any]  # the values its disclosures open, by (version, field)


def check_lot_proof(
    document: Mapping[str, Any], public_key_der: bytes, trusted_checkpoint: str | None = None
) -> CheckedProof:
    """Every check of docs/PROOFS.md, in its order; LotProofError at the first that fails."""
    if document.get("format") != PROOF_FORMAT:
        raise LotProofError(f"not a {PROOF_FORMAT} document")
    lot_id = document.get("lot_id")
    if not isinstance(lot_id, str) or not lot_id:
        raise LotProofError("lot_id missing")
    note = document.get("checkpoint")
    if not isinstance(note, str):
        raise LotProofError("checkpoint missing", lot_id)
    try:
        signed = checkpoint.verify(note, public_key_der, document.get("origin"))
    except checkpoint.CheckpointError as error:
        raise LotProofError(f"checkpoint refused: {error}", lot_id) from None
    events = document.get("events")
    if not isinstance(events, list) or not events:
        raise LotProofError("no events", lot_id)
    prev_hash, last_index = GENESIS_HASH, -1
    for expected_version, event in enumerate(events, start=1):
        version = event.get("version") if isinstance(event, dict) else None
        if version != expected_version:
            raise LotProofError(f"expected version {expected_version}, found {version!r}", lot_id, expected_version)
        _check_event(lot_id, version, event, prev_hash, last_index, signed)
        prev_hash, last_index = event["hash"], event["log_index"]
    if trusted_checkpoint is not None:
        _check_against_trusted(lot_id, document, signed, trusted_checkpoint, public_key_der)
    disclosed = check_disclosures(lot_id, events, document.get("disclosures", []))
    return CheckedProof(lot_id, signed, len(events), disclosed)


def check_disclosures(lot_id: str, events: Sequence[Mapping[str, Any]], disclosures: Any) -> dict[tuple[int, str], Any]:
    """Each disclosure opens the commitment in its event's body: the value it discloses, by (version, field)."""
    if not isinstance(disclosures, list):
        raise LotProofError("disclosures must be a list of base64url strings", lot_id)
    bodies = {event["version"]: event.get("body") for event in events}
    opened: dict[tuple[int, str], Any] = {}
    for disclosure in disclosures:
        salt_path_value = _read_disclosure(lot_id, disclosure)
        where = salt_path_value[1].rsplit("/", 2)
        if len(where) != 3 or where[0] != lot_id or not where[1].isdigit():
            raise LotProofError(f"a disclosure for {salt_path_value[1]!r}, not this lot's", lot_id)
        version, field = int(where[1]), where[2]
        body = bodies.get(version)
        if not isinstance(body, str):
            raise LotProofError(f"a disclosure of {field} for an event without a body", lot_id, version)
        try:
            content = json.loads(body)
        except ValueError:
            raise LotProofError("the body is not JSON", lot_id, version) from None
        if not isinstance(content, dict) or field not in content.get("committed", []) or content.get(field) != commitment(disclosure):
            raise LotProofError(f"the disclosure of {field} does not open the body's commitment", lot_id, version)
        opened[(version, field)] = salt_path_value[2]
    return opened


def commitment(disclosure: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(disclosure.encode("ascii")).digest()).rstrip(b"=").decode()


def _read_disclosure(lot_id: str, disclosure: Any) -> list[Any]:
    try:
        if not isinstance(disclosure, str) or "=" in disclosure:
            raise ValueError("not unpadded base64url")
        opened = json.loads(base64.urlsafe_b64decode(disclosure + "=" * (-len(disclosure) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise LotProofError("a disclosure that is not base64url of JSON", lot_id) from None
    if not (isinstance(opened, list) and len(opened) == 3 and all(isinstance(p, str) for p in opened[:2])):
        raise LotProofError("a disclosure is [salt, path, value]", lot_id)
    return opened


def _check_event(
    lot_id: str, version: int, event: Mapping[str, Any], prev_hash: str, last_index: int, signed: checkpoint.Checkpoint
) -> None:
    if event.get("prev_hash") != prev_hash:
        raise LotProofError("prev_hash is not the previous event's hash", lot_id, version)
    this_hash = event.get("hash")
    if not isinstance(this_hash, str) or not _HEX64.fullmatch(this_hash):
        raise LotProofError("hash is not 64 lowercase hex digits", lot_id, version)
    body = event.get("body")
    if body is not None and (not isinstance(body, str) or event_hash(prev_hash, body) != this_hash):
        raise LotProofError("the body does not hash to the event's hash", lot_id, version)
    index = event.get("log_index")
    if not isinstance(index, int) or isinstance(index, bool) or not last_index < index < signed.size:
        raise LotProofError(f"log_index {index!r} is not after the previous event's and inside size {signed.size}", lot_id, version)
    try:
        merkle.verify_inclusion(
            merkle.leaf_hash(leaf(lot_id, version, this_hash)), index, signed.size,
            unb64(event.get("inclusion"), "inclusion"), signed.root,
        )
    except merkle.ProofError as error:
        raise LotProofError(f"not in the log at index {index}: {error}", lot_id, version) from None


def _check_against_trusted(
    lot_id: str, document: Mapping[str, Any], signed: checkpoint.Checkpoint, trusted_note: str, key: bytes
) -> None:
    try:
        trusted = checkpoint.verify(trusted_note, key, signed.origin)
    except checkpoint.CheckpointError as error:
        raise LotProofError(f"trusted checkpoint refused: {error}", lot_id) from None
    if trusted.size > signed.size:
        raise LotProofError(
            f"the proof's checkpoint (size {signed.size}) is older than the trusted one (size {trusted.size}): "
            "its later history is cut off", lot_id)
    consistency = document.get("consistency")
    if trusted.size == signed.size:
        if trusted.root != signed.root:
            raise LotProofError("the trusted checkpoint has the same size and another root", lot_id)
        return
    if not isinstance(consistency, dict) or consistency.get("from_size") != trusted.size:
        raise LotProofError(f"no consistency proof from the trusted size {trusted.size}", lot_id)
    try:
        merkle.verify_consistency(trusted.size, signed.size, trusted.root, signed.root,
                                  unb64(consistency.get("proof"), "consistency proof"))
    except merkle.ProofError as error:
        raise LotProofError(f"the log is not an extension of the trusted checkpoint: {error}", lot_id) from None
