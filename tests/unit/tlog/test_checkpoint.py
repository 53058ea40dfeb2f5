"""Checkpoints as signed notes: the bytes, the key ID, and what a checker refuses."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from adapters.log_signers import KeyFileSigner
from tlog import checkpoint
from tlog.checkpoint import Checkpoint, CheckpointError

ROOT = hashlib.sha256(b"root").digest()


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> KeyFileSigner:
    return KeyFileSigner(tmp_path_factory.mktemp("log") / "log-key.pem")


def test_a_signed_checkpoint_is_the_note_text_a_blank_line_and_one_signature_line(signer: KeyFileSigner) -> None:
    note = checkpoint.sign(Checkpoint("samsold.example/log", 7, ROOT), signer)
    text, signature_line = note.split("\n\n")
    assert text == f"samsold.example/log\n7\n{base64.b64encode(ROOT).decode()}"
    dash, name, blob = signature_line.rstrip("\n").split(" ")
    assert (dash, name) == ("\u2014", "samsold.example/log")
    assert base64.b64decode(blob)[:4] == hashlib.sha256(signer.public_key_der()).digest()[:4]
    assert checkpoint.verify(note, signer.public_key_der(), "samsold.example/log") == Checkpoint("samsold.example/log", 7, ROOT)


def test_the_key_file_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = KeyFileSigner(tmp_path / "k.pem")
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    assert KeyFileSigner(tmp_path / "k.pem").public_key_der() == first.public_key_der()


def test_a_forged_or_missing_signature_or_another_key_is_refused(signer: KeyFileSigner, tmp_path: Path) -> None:
    note = checkpoint.sign(Checkpoint("samsold.example/log", 7, ROOT), signer)
    forged = note.replace("\n7\n", "\n8\n")
    with pytest.raises(CheckpointError, match="does not verify"):
        checkpoint.verify(forged, signer.public_key_der())
    with pytest.raises(CheckpointError):
        checkpoint.verify(note.split("\n\n")[0] + "\n", signer.public_key_der())
    other = KeyFileSigner(tmp_path / "other.pem")
    with pytest.raises(CheckpointError, match="no signature by the log's key"):
        checkpoint.verify(note, other.public_key_der())
    with pytest.raises(CheckpointError, match="origin"):
        checkpoint.verify(note, signer.public_key_der(), "another.example/log")


@pytest.mark.parametrize(
    "note",
    ["", "o\n1\nAAAA\n\n\u2014 o AAAAAAAA\n", "o\n01\n" + base64.b64encode(ROOT).decode() + "\n\n\u2014 o AAAAAAAA\n",
     "o o\n1\n" + base64.b64encode(ROOT).decode() + "\n\n\u2014 o AAAAAAAA\n"],
)
def test_malformed_checkpoints_are_refused(note: str, signer: KeyFileSigner) -> None:
    with pytest.raises(CheckpointError):
        checkpoint.verify(note, signer.public_key_der())


def test_the_kms_signer_asks_kms_for_what_a_signed_note_needs(signer: KeyFileSigner) -> None:
    from adapters.log_signers import KmsSigner

    class Kms:
        calls: list[dict[str, object]] = []

        def get_public_key(self, **kw: object) -> dict[str, bytes]:
            self.calls.append(kw)
            return {"PublicKey": signer.public_key_der()}

        def sign(self, **kw: object) -> dict[str, bytes]:
            self.calls.append(kw)
            message = kw["Message"]
            assert isinstance(message, bytes)
            return {"Signature": signer.sign(message)}

    kms = Kms()
    note = checkpoint.sign(Checkpoint("o.example/log", 1, ROOT), KmsSigner(kms, "alias/log"))
    checkpoint.verify(note, signer.public_key_der())
    assert kms.calls[0]["MessageType"] == "RAW" and kms.calls[0]["SigningAlgorithm"] == "ECDSA_SHA_256"
