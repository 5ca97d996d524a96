"""The near-dedup decision this project made before kept witnesses, for comparison in the bench:
verify every candidate pair, join verified pairs into connected components, keep one document
per component (the most preferred). What datatrove and NeMo Curator also do, minus their
verification."""

from __future__ import annotations

from collections.abc import Sequence

from corpus.config import NearDedupConfig
from corpus.dedup import near


def components_removed(texts: Sequence[str], config: NearDedupConfig) -> dict[int, int]:
    """Removed document -> the kept document of its component (documents ranked by index)."""
    pass1 = near.band_keys_of(texts, config)
    n = len(texts)
    rank = near._ranks(n, None)
    edges = near._candidate_edges(pass1.keys, pass1.has_shingles, rank)
    values = near._comparable(texts, sorted({int(d) for d in edges.ravel()}), config, pass1)
    similarity = near.similarity_for(config.verify)
    verified = [
        ((int(u),), (int(v),))
        for u, v in edges
        if similarity(values[int(u)], values[int(v)]) >= config.threshold
    ]
    roots = near.union_find(verified)  # type: ignore[arg-type]
    return {node[0]: root[0] for node, root in roots.items() if node != root}
