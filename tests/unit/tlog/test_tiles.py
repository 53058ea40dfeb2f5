"""Tiles: appended in any batches they hold the same tree as the reference hashing, at the C2SP paths."""

from __future__ import annotations

import pytest

from tlog import merkle, tiles


def test_paths_follow_tlog_tiles() -> None:
    assert tiles.tile_path(0, 0) == "tile/0/000"
    assert tiles.tile_path(1, 1234067, 5) == "tile/1/x001/x234/067.p/5"
    assert tiles.entries_path(1000) == "tile/entries/x001/000"


def test_bundles_round_trip() -> None:
    leaves = [b"", b"a", b"b" * 300]
    assert tiles.decode_bundle(tiles.encode_bundle(leaves)) == leaves
    with pytest.raises(ValueError):
        tiles.decode_bundle(b"\x00\x05ab")


@pytest.mark.parametrize("batches", [[1], [3, 1, 255, 1, 300], [256, 256, 1], [600, 66000 - 600]])
def test_appends_in_batches_make_the_reference_tree(batches: list[int]) -> None:
    store = tiles.MemoryTiles()
    leaves: list[bytes] = []
    size = 0
    for count in batches:
        new = [f"leaf {i}".encode() for i in range(size, size + count)]
        root = tiles.append(store, size, new)
        leaves += new
        size += count
        hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
        if size < 5000:
            assert root == merkle.root_from_leaf_hashes(hashes)
    reader = tiles.TreeReader(store, size)
    assert reader.root() == root
    assert reader.entries(0, size) == leaves
    for index in {0, size // 2, size - 1}:
        merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, size, reader.inclusion_proof(index), root)
    old = batches[0]
    old_root = tiles.TreeReader(store, old).root()
    merkle.verify_consistency(old, size, old_root, root, reader.consistency_proof(old))
    if size > 65536:
        assert "tile/2/000.p/1" in store.objects
