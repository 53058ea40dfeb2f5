"""RFC 9162 section 2.1 Merkle trees: leaf and node hashes, inclusion and consistency proofs.

Pure functions over bytes. Proofs are produced from a `hash_at(level, index)` callable that
answers the hash of the perfect subtree at that height and position (from tiles, or from a
list of leaf hashes in tests), so nothing here knows where the tree lives. Verification
follows RFC 9162 2.1.3.2 and 2.1.4.2 step by step; the transparency-dev/merkle test vectors
(tests/fixtures/merkle) check both directions, happy and tampered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

HashAt = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof that does not verify, or arguments no proof can answer."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the leaf hashes (RFC 9162 2.1.1): the reference the tests build on."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = _largest_power_of_two_below(len(hashes))
    return node_hash(root_from_leaf_hashes(hashes[:k]), root_from_leaf_hashes(hashes[k:]))


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(hash_at: HashAt, start: int, end: int) -> bytes:
    """MTH of the leaves [start, end), from the perfect subtrees that cover it, right to left."""
    if end <= start:
        raise ProofError("empty range")
    parts: list[bytes] = []
    position = start
    while position < end:
        # The largest aligned perfect subtree starting at `position` that fits in the range.
        level = (position & -position).bit_length() - 1 if position else (end - position).bit_length() - 1
        while position + (1 << level) > end:
            level -= 1
        parts.append(hash_at(level, position >> level))
        position += 1 << level
    result = parts[-1]
    for part in reversed(parts[:-1]):
        result = node_hash(part, result)
    return result


def root(hash_at: HashAt, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_hash(hash_at, 0, size)


def inclusion_proof(hash_at: HashAt, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 2.1.3.1, leaf side first."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    return _path(hash_at, index, 0, size)


def _path(hash_at: HashAt, index: int, start: int, end: int) -> list[bytes]:
    if end - start == 1:
        return []
    k = _largest_power_of_two_below(end - start)
    if index - start < k:
        return [*_path(hash_at, index, start, start + k), subtree_hash(hash_at, start + k, end)]
    return [*_path(hash_at, index, start + k, end), subtree_hash(hash_at, start, start + k)]


def consistency_proof(hash_at: HashAt, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 2.1.4.1 (empty when the sizes are equal or the old tree is empty)."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    return _subproof(hash_at, old_size, 0, new_size, True)


def _subproof(hash_at: HashAt, m: int, start: int, end: int, complete: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if complete else [subtree_hash(hash_at, start, end)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof(hash_at, m, start, start + k, complete), subtree_hash(hash_at, start + k, end)]
    return [*_subproof(hash_at, m - k, start + k, end, False), subtree_hash(hash_at, start, start + k)]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> None:
    """RFC 9162 2.1.3.2 for a leaf hash; raises ProofError unless the proof leads to the root."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    _check_hash_sizes([leaf, expected_root, *proof])
    fn, sn = index, size - 1
    result = leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            result = node_hash(p, result)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if result != expected_root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 2.1.4.2; raises ProofError unless the old tree is a prefix of the new one.

    As in transparency-dev/merkle, nothing is proven from the empty tree: a checker starts from
    a first checkpoint it trusts.
    """
    if not 1 <= old_size <= new_size:
        raise ProofError(f"no consistency from size {old_size} to size {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("equal sizes with different roots")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    _check_hash_sizes([old_root, new_root, *proof])
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root")


def _check_hash_sizes(hashes: Sequence[bytes]) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ProofError(f"every hash must be {HASH_SIZE} bytes")


def hashes_of(leaf_hashes: Sequence[bytes]) -> HashAt:
    """`hash_at` over a list of leaf hashes held in memory (tests, small trees)."""

    def hash_at(level: int, index: int) -> bytes:
        start = index << level
        return root_from_leaf_hashes(leaf_hashes[start : start + (1 << level)])

    return hash_at
