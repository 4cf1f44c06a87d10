"""Near-duplicate search over the pHashes of a whole project, vectorised with numpy.

All pHashes live in one ``uint64`` array; a query XORs it with the new hash and counts bits with
``np.bitwise_count`` (a table lookup on older numpy), which scans 100k hashes in well under a millisecond
(bench/ingest.py measures it). No Python loop ever runs over pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_UINT64 = np.uint64
_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def to_unsigned(phash_int: int) -> int:
    """A signed int64 pHash (as stored in SQLite) as the unsigned 64-bit value."""
    return phash_int & 0xFFFF_FFFF_FFFF_FFFF


def popcount(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
    """Number of set bits of each uint64."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values).astype(np.uint8)
    as_bytes = values.view(np.uint8).reshape(-1, 8)
    return _BYTE_POPCOUNT[as_bytes].sum(axis=1, dtype=np.uint8)


@dataclass(frozen=True)
class Match:
    """An image whose pHash is within the threshold of a query."""

    image_id: int
    distance: int


class PhashIndex:
    """Growable arrays of (image id, pHash) with a vectorised Hamming-distance query."""

    def __init__(self, capacity: int = 1024) -> None:
        self._hashes = np.zeros(max(capacity, 16), dtype=_UINT64)
        self._ids = np.zeros(max(capacity, 16), dtype=np.int64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @classmethod
    def from_rows(cls, rows: list[tuple[int, int]]) -> PhashIndex:
        """Build from ``(image_id, signed phash_int)`` rows (``SELECT id, phash_int FROM images``)."""
        index = cls(capacity=len(rows) * 2 + 1024)
        if rows:
            ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
            signed = np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows))
            index._ids[: len(rows)] = ids
            index._hashes[: len(rows)] = signed.view(_UINT64)
            index._size = len(rows)
        return index

    @classmethod
    def from_arrays(cls, ids: npt.NDArray[np.int64], signed: npt.NDArray[np.int64]) -> PhashIndex:
        """Build from parallel int64 arrays of image ids and signed pHashes (`ImportRepository.phash_arrays`)."""
        index = cls(capacity=len(ids) + len(ids) // 8 + 1024)
        index._ids[: len(ids)] = ids
        index._hashes[: len(ids)] = signed.view(_UINT64)
        index._size = len(ids)
        return index

    def add(self, image_id: int, phash_int: int) -> None:
        """Add one image (signed or unsigned pHash)."""
        if self._size == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
            self._ids = np.concatenate([self._ids, np.zeros_like(self._ids)])
        self._hashes[self._size] = to_unsigned(phash_int)
        self._ids[self._size] = image_id
        self._size += 1

    def query(self, phash_int: int, threshold: int, limit: int = 5) -> list[Match]:
        """The closest images within `threshold` bits of `phash_int`, nearest first, at most `limit`."""
        if self._size == 0:
            return []
        distances = popcount(np.bitwise_xor(self._hashes[: self._size], _UINT64(to_unsigned(phash_int))))
        hits = np.flatnonzero(distances <= threshold)
        if hits.size == 0:
            return []
        order = hits[np.argsort(distances[hits], kind="stable")][:limit]
        return [Match(int(self._ids[i]), int(distances[i])) for i in order]
