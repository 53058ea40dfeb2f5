"""The Merkle code against the transparency-dev/merkle vectors, and proofs it makes against its own checks."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tlog import merkle

VECTORS = Path(__file__).parents[2] / "fixtures" / "merkle"


def _cases(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _proof(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


@pytest.mark.parametrize("path", _cases("inclusion"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_inclusion_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    check = lambda: merkle.verify_inclusion(  # noqa: E731
        _b64(case["leafHash"]), case["leafIdx"], case["treeSize"], _proof(case["proof"]), _b64(case["root"])
    )
    if case["wantErr"]:
        with pytest.raises(merkle.ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize("path", _cases("consistency"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_consistency_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    check = lambda: merkle.verify_consistency(  # noqa: E731
        case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), _proof(case["proof"])
    )
    if case["wantErr"]:
        with pytest.raises(merkle.ProofError):
            check()
    else:
        check()


def test_the_vectors_are_there() -> None:
    assert len(_cases("inclusion")) > 90 and len(_cases("consistency")) > 90


LEAVES = [merkle.leaf_hash(f"leaf {i}".encode()) for i in range(70)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 31, 64, 70])
def test_every_inclusion_proof_it_makes_verifies_and_no_other_index_does(size: int) -> None:
    hash_at = merkle.hashes_of(LEAVES[:size])
    root = merkle.root(hash_at, size)
    assert root == merkle.root_from_leaf_hashes(LEAVES[:size])
    for index in range(size):
        proof = merkle.inclusion_proof(hash_at, index, size)
        merkle.verify_inclusion(LEAVES[index], index, size, proof, root)
        if size > 1:
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(LEAVES[index], (index + 1) % size, size, proof, root)


@pytest.mark.parametrize("new_size", [1, 2, 5, 8, 13, 64, 70])
def test_every_consistency_proof_it_makes_verifies(new_size: int) -> None:
    hash_at = merkle.hashes_of(LEAVES[:new_size])
    new_root = merkle.root(hash_at, new_size)
    for old_size in range(1, new_size + 1):
        old_root = merkle.root(hash_at, old_size)
        proof = merkle.consistency_proof(hash_at, old_size, new_size)
        merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
        if old_size < new_size:
            with pytest.raises(merkle.ProofError):
                merkle.verify_consistency(old_size, new_size, merkle.leaf_hash(b"other"), new_root, proof)
