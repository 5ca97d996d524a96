"""corpus/dedup/buckets.py: sorting band keys gives the same candidate pairs as grouping them."""

from __future__ import annotations

from corpus.config import PipelineConfig
from corpus.dedup.buckets import band_table, bucket_task_edges
from corpus.dedup.keys import dedup_keys
from corpus.dedup.near import bucket_edges
from corpus.dedup.sorted_keys import reader_of, wanted
from corpus.extract import extract_document
from corpus.records import Document


def test_sorted_buckets_equal_grouped_buckets(sample_raw) -> None:
    config = PipelineConfig()
    docs = [d for d in (extract_document(r, config.extract) for r in sample_raw) if isinstance(d, Document)]
    halves = [docs[: len(docs) // 2], docs[len(docs) // 2 :]]  # two units
    keys = [dedup_keys(half, 0, config, by_url=False)[0] for half in halves]
    excluded = {0: {3, 7}, 1: set()}  # as if URL or exact dedup had dropped these
    written = {u: band_table([keys[u]], excluded[u]) for u in (0, 1)}
    units = [(u, layout) for u, (_, layout) in written.items()]
    read = reader_of({u: data for u, (data, _) in written.items()})

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
    # 64 slices: narrower than an index cell of these small units (a task reads a cell).
    for parts in (1, 2, 8, 64):
        found = set()
        for b in range(bands):
            for p in range(parts):
                found.update(bucket_task_edges(units, b, p, parts, read))
        assert found == expected


def test_bucket_tasks_read_each_row_once_at_any_unit_and_slice_count(sample_raw) -> None:
    """The sample cut into 1 to 64 units, its key space into 1 to 32 slices per band: the tasks
    read at most 1.5x the bytes of the band tables (here under 1x: ids are read only for bucket
    members), every row of a band section at least once, and find the same pairs."""
    config = PipelineConfig()
    docs = [d for d in (extract_document(r, config.extract) for r in sample_raw) if isinstance(d, Document)]
    bands = config.near_dedup.lsh_shape()[0]
    pairs = None
    for units_count in (1, 4, 16, 64):
        size = -(-len(docs) // units_count)
        chunks = [docs[i : i + size] for i in range(0, len(docs), size)]
        written = {
            u: band_table([dedup_keys(c, 0, config, by_url=False)[0]], set()) for u, c in enumerate(chunks)
        }
        tables = sum(layout.size for _, layout in written.values())
        rows_bytes = sum(layout.rows * layout.columns * 8 * layout.sections for _, layout in written.values())
        for parts in (1, 4, 32):
            got = [0]

            def read(unit: int, offset: int, size: int, got=got, written=written) -> bytes:
                got[0] += size
                return written[unit][0][offset : offset + size]

            found = set()
            for b in range(bands):
                for p in range(parts):
                    units = [(u, t) for u, (_, t) in written.items() if wanted(t, b, p, parts)]
                    found.update(bucket_task_edges(units, b, p, parts, read))
            assert rows_bytes <= got[0] <= 1.5 * tables, (units_count, parts, got[0], tables)
            by_id = {(a[2], b[2]) for a, b in found}  # units and positions differ with the cut
            assert by_id == (pairs if pairs is not None else by_id) and len(by_id) >= 9
            pairs = by_id
