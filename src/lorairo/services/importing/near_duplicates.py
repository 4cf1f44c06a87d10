"""Near-duplicate search over the pHashes of a whole project.

Two finders give the same answer (tests/unit/test_phash_bands.py checks them against a plain reference):

- `BandFinder` (thresholds up to `MAX_BANDED_THRESHOLD`, the default 8 included) asks the database: the pHash
  is cut into the bands of `lorairo.database.schema.PHASH_BANDS`, each with an expression index. Two hashes
  within ``t`` bits differ in at most ``t // 3`` bits of at least one band (pigeonhole over three bands), so a
  query reads the index entries of the band values within that many bits of its own (718 probes for t = 8)
  and checks the exact distance of what comes back. Nothing is loaded at the start of an import and a query
  costs the same in an empty and in a 1M-image project (bench/scale.py).
- `ScanFinder` (larger thresholds, where the probes would outnumber the images) reads every pHash into one
  ``uint64`` array at the start; a query XORs it with the new hash and counts bits with ``np.bitwise_count``
  (a table lookup on older numpy). No Python loop ever runs over pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import combinations
from typing import Protocol

import numpy as np
import numpy.typing as npt

from lorairo.database.import_repository import ImportRepository
from lorairo.database.schema import PHASH_BANDS

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


#: Most bits a band may differ by and still be searched through its index: 2 bits of a 22-bit band are 254
#: probes; 3 bits would be 1,794 per band, slower than scanning a 100k project.
MAX_BAND_TOLERANCE = 2
#: Largest near-duplicate threshold the banded index answers exactly (``t // 3 <= 2``).
MAX_BANDED_THRESHOLD = len(PHASH_BANDS) * (MAX_BAND_TOLERANCE + 1) - 1

#: Results per query: the links recorded for one new image.
MATCH_LIMIT = 5
#: Band rows one query may check in Python before the finder switches to scanning (about 1 ms of work, less
#: than one numpy scan of 1M hashes; random hashes give ~300 at 1M): near-identical images make the bands
#: unselective.
MAX_BAND_CANDIDATES = 2_000


class NearDuplicateFinder(Protocol):
    """Finds the earlier images of the project within the threshold of a newly inserted image."""

    def find(self, repo: ImportRepository, image_id: int, phash_int: int) -> list[Match]:
        """Images with an id below `image_id` within the threshold, nearest first (then by id), at most 5.

        Called once per new image in id order; `repo` is the batch's write session, which already holds the
        image's row and those of the images before it."""
        ...


def finder_for(threshold: int, repo: ImportRepository) -> NearDuplicateFinder:
    """The banded index when it can answer `threshold` exactly, else a scan of the pHashes read now."""
    if band_tolerance(threshold) is not None:
        return BandFinder(threshold)
    return ScanFinder(PhashIndex.from_arrays(*repo.phash_arrays()), threshold)


def band_tolerance(threshold: int) -> int | None:
    """Bits a band may differ by for a hash within `threshold` (pigeonhole), or None past the bands' reach."""
    if threshold < 0:
        return None
    tolerance = threshold // len(PHASH_BANDS)
    return tolerance if tolerance <= MAX_BAND_TOLERANCE else None


@cache
def _flip_masks(width: int, tolerance: int) -> npt.NDArray[np.int64]:
    """Every value with at most `tolerance` of the low `width` bits set (XOR masks of a Hamming ball)."""
    masks = [sum(1 << bit for bit in bits) for d in range(tolerance + 1) for bits in combinations(range(width), d)]
    return np.array(masks, dtype=np.int64)


def band_probes(phash_int: int, tolerance: int) -> list[list[int]]:
    """For each band, the band values within `tolerance` bits of `phash_int`'s."""
    unsigned = to_unsigned(phash_int)
    probes = []
    for shift, width in PHASH_BANDS:
        value = (unsigned >> shift) & ((1 << width) - 1)
        probes.append((np.int64(value) ^ _flip_masks(width, tolerance)).tolist())
    return probes


def nearest(phash_int: int, candidates: list[tuple[int, int]], threshold: int, limit: int) -> list[Match]:
    """Exact distances of (image id, pHash) candidates: those within `threshold`, nearest then lowest id first."""
    unsigned = to_unsigned(phash_int)
    within: dict[int, int] = {}
    for image_id, other in candidates:
        distance = (unsigned ^ to_unsigned(other)).bit_count()
        if distance <= threshold:
            within[image_id] = distance
    ranked = sorted(within.items(), key=lambda item: (item[1], item[0]))[:limit]
    return [Match(image_id, distance) for image_id, distance in ranked]


class BandFinder:
    """Near-duplicates through the pHash band indexes of the database (thresholds up to 8).

    A folder of near-identical images (video frames, bursts, generated variations) gives every query a band
    value shared with thousands of earlier images; checking them one by one in Python would grow with the
    project. Past `max_candidates` rows for one query the finder reads the pHashes below it once and scans
    from then on (`ScanFinder`): the run's cost is then bounded by the scan's, never above it.
    """

    def __init__(self, threshold: int, limit: int = MATCH_LIMIT, max_candidates: int = MAX_BAND_CANDIDATES) -> None:
        tolerance = band_tolerance(threshold)
        if tolerance is None:
            raise ValueError(f"near-duplicate threshold {threshold} is past what the pHash bands answer")
        self.threshold, self.tolerance, self.limit = threshold, tolerance, limit
        self.max_candidates = max_candidates
        self.scan: ScanFinder | None = None  # set once a query found too many candidates

    def find(self, repo: ImportRepository, image_id: int, phash_int: int) -> list[Match]:
        if self.scan is None:
            probes = band_probes(phash_int, self.tolerance)
            candidates = repo.phash_band_candidates(probes, image_id, self.max_candidates + 1)
            if len(candidates) <= self.max_candidates:
                return nearest(phash_int, candidates, self.threshold, self.limit)
            below = PhashIndex.from_arrays(*repo.phash_arrays(below_id=image_id))
            self.scan = ScanFinder(below, self.threshold, self.limit)
        return self.scan.find(repo, image_id, phash_int)


class ScanFinder:
    """Near-duplicates by scanning every pHash of the project, held in memory for the run (any threshold)."""

    def __init__(self, index: PhashIndex, threshold: int, limit: int = MATCH_LIMIT) -> None:
        self.index, self.threshold, self.limit = index, threshold, limit

    def find(self, repo: ImportRepository, image_id: int, phash_int: int) -> list[Match]:
        matches = self.index.query(phash_int, self.threshold, self.limit)
        self.index.add(image_id, phash_int)
        return matches
