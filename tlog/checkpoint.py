"""Checkpoints as c2sp.org/tlog-checkpoint, signed as c2sp.org/signed-note (ECDSA P-256, type 0x02).

A checkpoint's note text is three lines: the origin, the tree size in decimal, the root hash in
standard base64. The signed note adds a blank line and one signature line
`— <origin> <base64(key ID || DER signature)>`, the signature ECDSA P-256 over SHA-256 of the
note text, the key ID the first 4 bytes of SHA-256 over the key's DER SubjectPublicKeyInfo:
exactly what an AWS KMS `ECC_NIST_P256` key answers to `Sign` with `ECDSA_SHA_256` over the
`RAW` message, so KMS and a local key file sign the same way.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = "ecdsa-p256-sha256"
SIGNATURE_TYPE = 0x02
_DASH = "\u2014"
_ORIGIN = re.compile(r"[!-~]+")  # a signed-note key name: printable ASCII, no spaces or "+"
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


class CheckpointError(ValueError):
    """A checkpoint that is malformed or not signed by the expected key."""


class Signer(Protocol):
    """Signs with the log's key: KMS in AWS, a key file locally (adapters/log_signers.py)."""

    def public_key_der(self) -> bytes:
        """The key's DER SubjectPublicKeyInfo."""
        ...

    def sign(self, message: bytes) -> bytes:
        """ECDSA P-256 over SHA-256 of `message`, ASN.1 DER."""
        ...


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def note_text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def key_id(public_key_der: bytes) -> bytes:
    return hashlib.sha256(public_key_der).digest()[:4]


def public_key_pem(public_key_der: bytes) -> str:
    key = serialization.load_der_public_key(public_key_der)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem_or_der: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of a P-256 public key given as PEM or DER."""
    try:
        key = (
            serialization.load_pem_public_key(pem_or_der)
            if pem_or_der.lstrip().startswith(b"-----")
            else serialization.load_der_public_key(pem_or_der)
        )
    except ValueError as error:
        raise CheckpointError(f"not a public key: {error}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise CheckpointError("the log's key must be ECDSA P-256")
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_origin(origin: str) -> str:
    if not _ORIGIN.fullmatch(origin) or "+" in origin:
        raise CheckpointError("the origin is printable ASCII without spaces or '+'")
    return origin


def sign(checkpoint: Checkpoint, signer: Signer) -> str:
    """The signed note of a checkpoint, as served and stored."""
    text = checkpoint.note_text()
    signature = signer.sign(text.encode())
    blob = base64.b64encode(key_id(signer.public_key_der()) + signature).decode()
    return f"{text}\n{_DASH} {checkpoint.origin} {blob}\n"


def parse(note: str) -> tuple[Checkpoint, list[tuple[str, bytes]]]:
    """A signed note's checkpoint and its signature lines (name, key ID || signature), unchecked."""
    text, separator, signatures = note.partition("\n\n")
    if not separator or not signatures.endswith("\n"):
        raise CheckpointError("a signed note is its text, a blank line and signature lines")
    lines = text.split("\n")
    if len(lines) < 3:
        raise CheckpointError("a checkpoint has an origin, a size and a root hash")
    origin, size, root = lines[:3]
    check_origin(origin)
    if not _SIZE.fullmatch(size):
        raise CheckpointError(f"bad tree size {size!r}")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except binascii.Error:
        raise CheckpointError("the root hash is not base64") from None
    if len(root_hash) != 32:
        raise CheckpointError("the root hash must be 32 bytes")
    parsed = []
    for line in signatures[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH:
            raise CheckpointError(f"bad signature line {line!r}")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            raise CheckpointError("a signature is not base64") from None
        if len(blob) < 5:
            raise CheckpointError("a signature is shorter than its key ID")
        parsed.append((parts[1], blob))
    return Checkpoint(origin, int(size), root_hash), parsed


def verify(note: str, public_key_der: bytes, origin: str | None = None) -> Checkpoint:
    """The checkpoint of a note signed by this key (and for this origin, when given), or CheckpointError."""
    checkpoint, signatures = parse(note)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint is for origin {checkpoint.origin!r}, not {origin!r}")
    wanted = key_id(public_key_der)
    mine = [blob[4:] for name, blob in signatures if name == checkpoint.origin and blob[:4] == wanted]
    if not mine:
        raise CheckpointError("checkpoint carries no signature by the log's key")
    key = serialization.load_der_public_key(public_key_der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    text = note.partition("\n\n")[0] + "\n"
    for signature in mine:
        try:
            key.verify(signature, text.encode(), ec.ECDSA(hashes.SHA256()))
            return checkpoint
        except InvalidSignature:
            continue
    raise CheckpointError("checkpoint signature does not verify")
