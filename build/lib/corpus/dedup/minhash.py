"""MinHash signatures for many documents at once, bit-for-bit equal to datasketch's ``MinHash``.

datasketch 2.0's default scheme ``affine32``: a 32-bit input hash ``h`` is pre-mixed with
MurmurHash3's fmix32, then permutation k gives ``a_k * h + b_k mod 2^32`` with odd ``a_k``; the
parameters come from ``numpy.random.RandomState(seed)``. Our input hash of a shingle is the low 32
bits of its 64-bit shingle hash, so ``MinHash(num_perm, seed, hashfunc=low32, scheme="affine32")``
updated with the same shingle hashes holds the same ``hashvalues`` (tested), and a
``datasketch.MinHashLSH`` index accepts our signatures as ``LeanMinHash`` objects.

Band keys for LSH are 64-bit hashes of each band's ``rows`` values, computed in numpy too.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from corpus.dedup.shingles import fmix64

_U32 = np.uint32
EMPTY = np.uint32(0xFFFFFFFF)
"""A signature slot no shingle reached (datasketch's initial value): documents with no shingle."""


@lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 parameters (a odd, b) for ``num_perm`` permutations and ``seed``."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=_U32) * _U32(2) + _U32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=_U32)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _U32(16))
    h = h * _U32(0x85EBCA6B)
    h = h ^ (h >> _U32(13))
    h = h * _U32(0xC2B2AE35)
    return h ^ (h >> _U32(16))


def low32(h: int) -> int:
    """The datasketch ``hashfunc`` matching our signatures: the low 32 bits of a shingle hash."""
    return int(h) & 0xFFFFFFFF


def signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signature (uint32[num_perm]) of each document, from its 64-bit shingle hashes.

    A document without shingles gets all slots ``EMPTY`` (datasketch's empty MinHash). One pass
    per permutation over all shingles of the batch, reduced per document with ``reduceat`` on a
    contiguous row: memory is one uint32 per shingle, and numpy never walks a strided axis."""
    n_docs = len(offsets) - 1
    out = np.full((n_docs, num_perm), EMPTY, dtype=_U32)
    if n_docs == 0 or len(hashes) == 0:
        return out
    a, b = permutations(num_perm, seed)
    with np.errstate(over="ignore"):
        h = fmix32((hashes & np.uint64(0xFFFFFFFF)).astype(_U32))
    present = np.flatnonzero(np.diff(offsets) > 0)
    starts = offsets[present]
    tmp = np.empty(len(h), dtype=_U32)
    cols = np.empty((num_perm, len(present)), dtype=_U32)
    with np.errstate(over="ignore"):
        for k in range(num_perm):
            np.multiply(h, a[k], out=tmp)
            np.add(tmp, b[k], out=tmp)
            cols[k] = np.minimum.reduceat(tmp, starts)
    out[present] = cols.T
    return out


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64[docs, bands]: a hash of each band's ``rows`` values, salted by the band number."""
    if bands * rows > sigs.shape[1]:
        raise ValueError(f"bands x rows = {bands * rows} exceeds the {sigs.shape[1]} permutations")
    v = sigs[:, : bands * rows].astype(np.uint64).reshape(len(sigs), bands, rows)
    with np.errstate(over="ignore"):
        acc = np.arange(1, bands + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        acc = np.broadcast_to(acc, (len(sigs), bands)).copy()
        for r in range(rows):
            acc = fmix64(acc ^ v[:, :, r]) + np.uint64(r + 1)
    return fmix64(acc)


def estimated_jaccard(x: np.ndarray, y: np.ndarray) -> float:
    """Share of equal slots of two signatures: the MinHash estimate of their Jaccard similarity."""
    return float(np.count_nonzero(x == y)) / len(x)


def exact_jaccard(x: np.ndarray, y: np.ndarray) -> float:
    """Jaccard similarity of two sorted sets of shingle hashes (from ``unique_per_document``)."""
    if len(x) == 0 and len(y) == 0:
        return 1.0
    inter = len(np.intersect1d(x, y, assume_unique=True))
    return inter / (len(x) + len(y) - inter)


def lsh_parameters(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising false positives + false negatives at ``threshold`` (datasketch's
    optimiser, as ``MinHashLSH`` itself uses it)."""
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, 0.5, 0.5)
    return int(bands), int(rows)
