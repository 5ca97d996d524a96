"""Which split each document goes to, in which order, and where shards are cut."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corpus.hashing import id_hash

_SPLIT_BUCKETS = 1_000_000


def split_of(doc_id: str, val_fraction: float) -> str:
    """ "val" for a stable ``val_fraction`` of ids, else "train" (independent of arrival order)."""
    # The high bits decide the split; the full hash decides the order within a shard.
    bucket = (id_hash(doc_id) >> 31) % _SPLIT_BUCKETS
    return "val" if bucket < round(val_fraction * _SPLIT_BUCKETS) else "train"


def cut_shards(lengths: Sequence[int], max_tokens: int) -> list[tuple[int, int]]:
    """[start, end) document ranges such that no shard passes ``max_tokens`` (unless one
    document alone does: it then gets a shard of its own)."""
    ranges: list[tuple[int, int]] = []
    start, tokens = 0, 0
    for i, n in enumerate(lengths):
        if i > start and tokens + n > max_tokens:
            ranges.append((start, i))
            start, tokens = i, 0
        tokens += n
    if start < len(lengths):
        ranges.append((start, len(lengths)))
    return ranges


def order_by_id_hash(ids: Sequence[str]) -> np.ndarray:
    """Positions of ``ids`` sorted by id hash (ties, impossible in practice, by id)."""
    return np.array(sorted(range(len(ids)), key=lambda i: (id_hash(ids[i]), ids[i])), dtype=np.int64)
