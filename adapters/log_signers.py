"""The log's signing key behind `tlog.checkpoint.Signer`: an AWS KMS key in AWS, a key file locally.

KMS: `Sign` with `ECDSA_SHA_256` over the `RAW` message answers the DER signature a signed
note carries, and `GetPublicKey` the DER SubjectPublicKeyInfo its key ID is taken from; the
key policy in template.yaml lets only the sequencer call either. Locally the stack keeps a
P-256 key as PKCS#8 PEM in its data directory, made on first use with mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


class KmsSigner:
    def __init__(self, kms_client: Any, key_id: str) -> None:
        self.kms = kms_client
        self.key_id = key_id
        self._public_key: bytes | None = None

    def public_key_der(self) -> bytes:
        if self._public_key is None:
            self._public_key = bytes(self.kms.get_public_key(KeyId=self.key_id)["PublicKey"])
        return self._public_key

    def sign(self, message: bytes) -> bytes:
        response = self.kms.sign(KeyId=self.key_id, Message=message, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
        return bytes(response["Signature"])


class KeyFileSigner:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._key = self._load_or_create(path)

    @staticmethod
    def _load_or_create(path: Path) -> ec.EllipticCurvePrivateKey:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            # Created with its final mode, and by exactly one process when two start at once.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as file:
                    file.write(pem)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
            raise ValueError(f"{path} is not an ECDSA P-256 key")
        return loaded

    def public_key_der(self) -> bytes:
        return self._key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message, ec.ECDSA(hashes.SHA256()))
