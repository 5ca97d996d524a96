"""corpus/dedup/buckets.py: sorting band keys gives the same candidate pairs as grouping them."""

from __future__ import annotations

from corpus.config import PipelineConfig
from corpus.dedup.buckets import band_table, bucket_task_edges
from corpus.dedup.keys import dedup_keys
from corpus.dedup.near import bucket_edges
from corpus.extract import extract_document
from corpus.records import Document


def test_sorted_buckets_equal_grouped_buckets(sample_raw) -> None:
    config = PipelineConfig()
    docs = [d for d in (extract_document(r, config.extract) for r in sample_raw) if isinstance(d, Document)]
    halves = [docs[: len(docs) // 2], docs[len(docs) // 2 :]]  # two units
    keys = [dedup_keys(half, 0, config, by_url=False)[0] for half in halves]
    excluded = {0: {3, 7}, 1: set()}  # as if URL or exact dedup had dropped these
    tables = [(u, band_table([keys[u]], excluded[u])[0]) for u in (0, 1)]
    ids = {
        (u, p): i
        for u in (0, 1)
        for p, i in zip(keys[u]["position"].to_pylist(), keys[u]["id"].to_pylist(), strict=True)
    }

    def ids_of(unit: int, positions: list[int]) -> list[str]:
        return [ids[(unit, p)] for p in positions]

    # What grouping one record per document and band would give (the shuffle this replaces).
    expected = set()
    bands = config.near_dedup.lsh_shape()[0]
    for b in range(bands):
        buckets: dict[int, list] = {}
        for u, table in enumerate(keys):
            for row in table.to_pylist():
                if row["bands"] is None or row["position"] in excluded[u]:
                    continue
                node = (row["preference"], row["id_hash"], row["id"], u, row["position"])
                buckets.setdefault(row["bands"][b], []).append(node)
        for members in buckets.values():
            if len(members) > 1:
                expected.update(bucket_edges(members))
    assert len(expected) >= 9  # the sample's near duplicates, and its exact copies
    for parts in (1, 3):
        found = set()
        for b in range(bands):
            for p in range(parts):
                found.update(bucket_task_edges(tables, b, p, parts, ids_of))
        assert found == expected
