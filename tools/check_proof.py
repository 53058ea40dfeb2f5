#!/usr/bin/env python3
"""Check a SamSold lot proof without SamSold: the Python standard library and `cryptography` only.

    python3 check_proof.py PROOF.json KEY.pem [TRUSTED_CHECKPOINT]

Exit 0 and one line when every check holds; exit 1 naming the first that does not. The checks
and every byte they read are in docs/PROOFS.md; this file is written from that page alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


class Refused(Exception):
    pass


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        raise Refused("index outside the tree")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise Refused("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or r != root:
        raise Refused("inclusion proof does not lead to the checkpoint's root")


def verify_consistency(m: int, n: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> None:
    """RFC 9162 section 2.1.4.2."""
    if not 0 < m <= n:
        raise Refused("bad sizes")
    if m == n:
        if proof or old_root != new_root:
            raise Refused("equal sizes, different roots")
        return
    if not proof:
        raise Refused("empty consistency proof")
    path = ([old_root] if m & (m - 1) == 0 else []) + proof
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise Refused("consistency proof too long")
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise Refused("the log at the newer size does not extend the older")


def open_checkpoint(note: str, key_pem: bytes) -> tuple[str, int, bytes]:
    """The origin, size and root of a signed checkpoint, once its ECDSA P-256 signature holds."""
    key = serialization.load_pem_public_key(key_pem)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Refused("not an ECDSA key")
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    key_id = sha256(spki)[:4]
    text, _, signatures = note.partition("\n\n")
    lines = text.split("\n")
    if len(lines) < 3 or not re.fullmatch(r"0|[1-9][0-9]*", lines[1]):
        raise Refused("malformed checkpoint")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    for line in signatures.rstrip("\n").split("\n"):
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "\u2014" and parts[1] == origin:
            blob = base64.b64decode(parts[2], validate=True)
            if blob[:4] == key_id:
                try:
                    key.verify(blob[4:], (text + "\n").encode(), ec.ECDSA(hashes.SHA256()))
                    return origin, size, root
                except InvalidSignature:
                    raise Refused("the checkpoint's signature does not verify") from None
    raise Refused("the checkpoint has no signature by this key")


def check(proof: dict, key_pem: bytes, trusted: str | None = None) -> str:
    if proof.get("format") != "samsold.lot-proof/v1":
        raise Refused("not a samsold.lot-proof/v1")
    lot_id = proof["lot_id"]
    origin, size, root = open_checkpoint(proof["checkpoint"], key_pem)
    if origin != proof.get("origin"):
        raise Refused("the checkpoint is for another origin")
    prev_hash, last_index = "0" * 64, -1
    for expected, event in enumerate(proof["events"], start=1):
        version = event["version"]
        where = f"lot {lot_id} version {expected}"
        if version != expected:
            raise Refused(f"{where}: found version {version}")
        if event["prev_hash"] != prev_hash:
            raise Refused(f"{where}: prev_hash is not the previous event's hash")
        if not re.fullmatch(r"[0-9a-f]{64}", event["hash"]):
            raise Refused(f"{where}: bad hash")
        if event["body"] is not None and hashlib.sha256(f"{prev_hash}\n{event['body']}".encode()).hexdigest() != event["hash"]:
            raise Refused(f"{where}: the body does not hash to the event's hash")
        index = event["log_index"]
        if not last_index < index < size:
            raise Refused(f"{where}: log_index out of order or outside the tree")
        leaf = f"samsold/event/v1 {lot_id} {version} {event['hash']}\n".encode()
        try:
            verify_inclusion(sha256(b"\x00" + leaf), index, size,
                             [base64.b64decode(p, validate=True) for p in event["inclusion"]], root)
        except Refused as error:
            raise Refused(f"{where}: {error}") from None
        prev_hash, last_index = event["hash"], index
    if trusted is not None:
        trusted_origin, trusted_size, trusted_root = open_checkpoint(trusted, key_pem)
        if trusted_origin != origin or trusted_size > size:
            raise Refused(f"lot {lot_id}: the proof's checkpoint is older than the trusted one (history cut off)")
        if trusted_size < size:
            consistency = proof.get("consistency") or {}
            if consistency.get("from_size") != trusted_size:
                raise Refused(f"lot {lot_id}: no consistency proof from the trusted size")
            verify_consistency(trusted_size, size, trusted_root, root,
                               [base64.b64decode(p, validate=True) for p in consistency["proof"]])
        elif trusted_root != root:
            raise Refused(f"lot {lot_id}: same size as the trusted checkpoint, another root")
    opened = check_disclosures(lot_id, proof["events"], proof.get("disclosures", []))
    return f"lot {lot_id}: versions 1-{len(proof['events'])} are in the log {origin} at size {size}" + "".join(
        f"\n  version {version} {field}: {json.dumps(value, ensure_ascii=False)}" for (version, field), value in opened)


def check_disclosures(lot_id: str, events: list, disclosures: list) -> list:
    """Each disclosure, base64url of [salt, "<lot_id>/<version>/<field>", value], opens the
    commitment base64url(SHA-256(disclosure)) its event's body holds for that field."""
    bodies = {event["version"]: event["body"] for event in events}
    opened = []
    for disclosure in disclosures:
        if "=" in disclosure:
            raise Refused("a disclosure is base64url without padding")
        salt, path, value = json.loads(base64.urlsafe_b64decode(disclosure + "=" * (-len(disclosure) % 4)))
        parts = path.rsplit("/", 2)
        if len(parts) != 3 or parts[0] != lot_id or not parts[1].isdigit() or not isinstance(salt, str):
            raise Refused(f"lot {lot_id}: a disclosure for {path!r}")
        version, field = int(parts[1]), parts[2]
        body = json.loads(bodies.get(version) or "{}")
        digest = base64.urlsafe_b64encode(sha256(disclosure.encode("ascii"))).rstrip(b"=").decode()
        if field not in body.get("committed", []) or body.get(field) != digest:
            raise Refused(f"lot {lot_id} version {version}: the disclosure of {field} does not open the body's commitment")
        opened.append(((version, field), value))
    return opened


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        with open(argv[1]) as proof_file, open(argv[2], "rb") as key_file:
            proof, key = json.load(proof_file), key_file.read()
        trusted = open(argv[3]).read() if len(argv) == 4 else None
        print(check(proof, key, trusted))
        return 0
    except (Refused, KeyError, TypeError, ValueError) as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
