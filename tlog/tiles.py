"""The tree stored as C2SP tlog-tiles: hash tiles and entry bundles, appended and read.

A tile at level L holds up to 256 consecutive hashes of the tree's level 8L (level 0: the
leaf hashes), each 32 bytes; a full tile lives at `tile/<L>/<N>`, a partial one at
`tile/<L>/<N>.p/<W>` (W hashes). Entry bundles hold the leaves themselves, 256 to a bundle,
each as a big-endian uint16 length then its bytes, at `tile/entries/<N>[.p/<W>]`. N is
written in groups of three digits, all but the last prefixed by `x` (1234067 is
`x001/x234/067`). Tiles are never changed once the tree that contains them is published.

Appending k leaves to a tree of size n reads at most one partial tile per level and writes
the tiles that changed: work in k (and log n), never in n. A proof reads the tiles that hold
its subtree hashes (`TreeReader`).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Protocol

from tlog import merkle

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH = merkle.HASH_SIZE


class TileStore(Protocol):
    """Where tiles and entry bundles live: an S3 bucket in AWS, a folder locally."""

    def read(self, path: str) -> bytes | None: ...

    def write(self, path: str, data: bytes) -> None: ...


class TileMissing(LookupError):
    """A tile the tree's size says must exist is not in the store."""


def _index_path(n: int) -> str:
    digits = f"{n:03d}"
    groups = [digits[max(0, i - 3) : i] for i in range(len(digits), 0, -3)][::-1]
    groups[0] = groups[0].rjust(3, "0")
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def tile_path(level: int | str, index: int, width: int = TILE_WIDTH) -> str:
    path = f"tile/{level}/{_index_path(index)}"
    return path if width == TILE_WIDTH else f"{path}.p/{width}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    return tile_path("entries", index, width)


def _width(count: int, index: int) -> int:
    """How many of tile `index`'s items exist when its level has `count` items."""
    return min(TILE_WIDTH, count - index * TILE_WIDTH)


def encode_bundle(leaves: Sequence[bytes]) -> bytes:
    return b"".join(struct.pack(">H", len(leaf)) + leaf for leaf in leaves)


def decode_bundle(data: bytes) -> list[bytes]:
    leaves, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise ValueError("entry bundle ends inside a length")
        (length,) = struct.unpack_from(">H", data, at)
        if at + 2 + length > len(data):
            raise ValueError("entry bundle ends inside an entry")
        leaves.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    return leaves


def _read(store: TileStore, path: str) -> bytes:
    data = store.read(path)
    if data is None:
        raise TileMissing(path)
    return data


def append(store: TileStore, size: int, leaves: Sequence[bytes]) -> bytes:
    """Write `leaves` after the first `size` leaves of the stored tree; the new root hash."""
    if any(len(leaf) > 0xFFFF for leaf in leaves):
        raise ValueError("a leaf is at most 65535 bytes")
    new_size = size + len(leaves)
    # Entry bundles: the old partial bundle, if any, then the new leaves.
    first = size // TILE_WIDTH
    kept = decode_bundle(_read(store, entries_path(first, size % TILE_WIDTH))) if size % TILE_WIDTH else []
    _write_runs(store, entries_path, first, new_size, [*kept, *leaves], encode_bundle)
    # Hash tiles, level by level: a level's tiles completed here give the next level its new hashes.
    new_hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    written: dict[tuple[int, int], bytes] = {}
    level, old_count, new_count = 0, size, new_size
    while new_count > 0 and (new_hashes or level == 0):
        first = old_count // TILE_WIDTH
        kept_hashes = _split(_read(store, tile_path(level, first, old_count % TILE_WIDTH))) if old_count % TILE_WIDTH else []
        run = [*kept_hashes, *new_hashes]
        tiles = _write_runs(store, lambda n, w, lv=level: tile_path(lv, n, w), first, new_count, run, b"".join)
        for index, hashes in tiles.items():
            written[(level, index)] = b"".join(hashes)
        # Each tile completed by this append is one new hash of the level above.
        new_hashes = [merkle.root_from_leaf_hashes(h) for i, h in sorted(tiles.items()) if len(h) == TILE_WIDTH]
        level, old_count, new_count = level + 1, old_count // TILE_WIDTH, new_count // TILE_WIDTH
    reader = TreeReader(store, new_size, cache=written)
    return merkle.root(reader.hash_at, new_size)


def _split(tile: bytes) -> list[bytes]:
    return [tile[i : i + HASH] for i in range(0, len(tile), HASH)]


def _write_runs(store: TileStore, path_of: object, first: int, count: int, items: list[bytes], encode: object) -> dict[int, list[bytes]]:
    """Write the tiles `first`.. of a level holding `count` items, `items` starting at tile `first`."""
    tiles: dict[int, list[bytes]] = {}
    index = first
    while index * TILE_WIDTH < count:
        start = (index - first) * TILE_WIDTH
        chunk = items[start : start + _width(count, index)]
        tiles[index] = chunk
        store.write(path_of(index, len(chunk)), encode(chunk))  # type: ignore[operator]
        index += 1
    return tiles


class TreeReader:
    """The hashes of a stored tree of a given size, from its tiles (each tile read once)."""

    def __init__(self, store: TileStore, size: int, cache: dict[tuple[int, int], bytes] | None = None) -> None:
        self.store = store
        self.size = size
        self._tiles: dict[tuple[int, int], bytes] = dict(cache or {})

    def _tile(self, level: int, index: int) -> bytes:
        count = self.size >> (TILE_HEIGHT * level)
        width = _width(count, index)
        tile = self._tiles.get((level, index))
        if tile is None or len(tile) < width * HASH:
            tile = _read(self.store, tile_path(level, index, width))
            self._tiles[(level, index)] = tile
        return tile[: width * HASH]

    def hash_at(self, height: int, index: int) -> bytes:
        """The hash of the perfect subtree of 2**height leaves at `index` (it must be complete)."""
        if (index + 1) << height > self.size:
            raise merkle.ProofError(f"no complete subtree at height {height}, index {index} in size {self.size}")
        level, rest = divmod(height, TILE_HEIGHT)
        first = index << rest
        tile = self._tile(level, first // TILE_WIDTH)
        offset = first % TILE_WIDTH
        return merkle.root_from_leaf_hashes(_split(tile[offset * HASH : (offset + (1 << rest)) * HASH]))

    def root(self) -> bytes:
        return merkle.root(self.hash_at, self.size)

    def inclusion_proof(self, index: int) -> list[bytes]:
        return merkle.inclusion_proof(self.hash_at, index, self.size)

    def consistency_proof(self, old_size: int) -> list[bytes]:
        return merkle.consistency_proof(self.hash_at, old_size, self.size)

    def entries(self, start: int, end: int) -> list[bytes]:
        """The leaves [start, end) of the tree."""
        if not 0 <= start <= end <= self.size:
            raise ValueError(f"entries {start}..{end} are not in a tree of size {self.size}")
        leaves: list[bytes] = []
        index = start // TILE_WIDTH
        while index * TILE_WIDTH < end:
            bundle = decode_bundle(_read(self.store, entries_path(index, _width(self.size, index))))
            base = index * TILE_WIDTH
            leaves.extend(bundle[max(start, base) - base : min(end, base + TILE_WIDTH) - base])
            index += 1
        return leaves


class MemoryTiles:
    """A TileStore in a dict (tests)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def read(self, path: str) -> bytes | None:
        return self.objects.get(path)

    def write(self, path: str, data: bytes) -> None:
        self.objects[path] = data
