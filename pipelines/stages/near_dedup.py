"""Near dedup in Beam: band keys -> candidate pairs -> groups -> survivors and witnesses -> drops.

Only keys go through the shuffles: candidate pairs and group members as nodes (ids and ranks).
Band keys are sorted as arrays (corpus/dedup/buckets.py), and the shingle-hash sets (or
signatures) that decide a group are read by the task deciding it from the per-unit payloads the
extract stage wrote. Text and payloads never move through a shuffle.

Groups (connected components of candidate pairs) are found in one worker (union-find) when the
pairs are few (``single_worker_max_edges``); otherwise by rounds of large-star / small-star,
each round a shuffle, so that no worker needs all pairs. Each group is then decided in keep
order with a kept witness for every removal (corpus/dedup/survivors.py).
"""

from __future__ import annotations

import tempfile
import time

import apache_beam as beam
import numpy as np
import pyarrow as pa

from corpus.config import NearDedupConfig
from corpus.dedup import near, sorted_keys
from corpus.dedup.buckets import band_table, bucket_task_edges, parts_for
from corpus.dedup.keys import payload_arrays, payload_slices
from corpus.dedup.survivors import KEPT, Survivors
from corpus.records import row_groups, write_parquet
from pipelines import files
from pipelines.gather import CountAll, WithValue
from pipelines.stages.dedup import KeyTables, as_result, run_task, tagged
from pipelines.stages.extract import payload_path
from pipelines.stats import peak_rss_mb

CLUSTER_SCHEMA = pa.schema(
    [
        pa.field("cluster_id", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("kept", pa.bool_(), nullable=False),
        # The kept document a removed one duplicates, and their similarity (null when kept).
        pa.field("witness", pa.string()),
        pa.field("similarity", pa.float32()),
    ]
)


NODES_PER_TASK = 20_000
"""Documents of the groups one decision task takes at most (a bigger group is one task: it
streams through its decision, holding the values of its kept members only)."""


def slices_path(work_dir: str, unit: int) -> str:
    return files.join(work_dir, f"near-slices-{unit:06d}.arrow")


class SlicePayloadsFn(beam.DoFn):
    """A unit and the decision task of each of its group members -> ("slice", (task, (unit,
    offset, size))) per slice, then ("stats", stats).

    It reads the unit's payload file once and writes the rows the tasks need to
    ``near-slices-NNNNNN.arrow``, an Arrow IPC stream per (row group, task), tasks in order: a
    decision task then reads only its own rows (byte ranges), never a whole payload file."""

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir

    def process(self, element):
        unit, members = element
        started = time.perf_counter()
        io = files.start_counting()
        task_of = dict(members)
        found: list[tuple[int, tuple[int, int, int]]] = []

        def write(out) -> None:
            offset = 0
            with files.open_input(payload_path(self.work_dir, unit), decompress=False) as f:
                for task, rows in payload_slices(row_groups(f), task_of):
                    sink = pa.BufferOutputStream()
                    with pa.ipc.new_stream(sink, rows.schema) as writer:
                        writer.write_table(rows)
                    data = sink.getvalue().to_pybytes()
                    out.write(data)
                    found.append((task, (unit, offset, len(data))))
                    offset += len(data)

        files.write_atomic(slices_path(self.work_dir, unit), write)
        stats = {
            "stage": near.STAGE,
            "seconds": time.perf_counter() - started,
            "peak_rss_mb": peak_rss_mb(),
            # The slices are tables the deciders read; the payload file (in bytes_read) is read
            # whole, once, here.
            "table_bytes": sum(size for _, (_, _, size) in found),
        }
        stats.update(io.stop())
        for item in found:
            yield "slice", item
        yield "stats", stats


class _Spill:
    """Members' payload values on local disk, read back one member at a time: a decision task's
    memory holds its kept members' values, not every member's."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()
        self.size = 0

    def add(self, values: np.ndarray) -> tuple[int, int]:
        data = np.ascontiguousarray(values, dtype=np.uint64).tobytes()
        self.file.write(data)
        where = (self.size, len(values))
        self.size += len(data)
        return where

    def get(self, offset: int, count: int) -> np.ndarray:
        self.file.seek(offset)
        return np.frombuffer(self.file.read(count * 8), dtype=np.uint64)

    def close(self) -> None:
        self.file.close()


class DecideGroupsFn(beam.DoFn):
    """A task of groups of candidates and its payload slices -> ("member", (unit, (position, id,
    group id, witness id or None, similarity))) per member, ("decided", counts), ("stats", stats).

    The task reads its members' payloads (shingle set or signature, and band keys) from the
    slices SlicePayloadsFn wrote for it, spills the values to local disk, and streams each group
    in keep order through corpus.dedup.survivors; payloads never travel through a shuffle."""

    def __init__(self, config: NearDedupConfig, work_dir: str) -> None:
        self.config = config
        self.work_dir = work_dir

    def process(self, element):
        _, grouped = element
        started = time.perf_counter()
        groups: dict[near.Node, list[near.Node]] = {}
        for node, root in grouped["members"]:
            groups.setdefault(root, []).append(node)
        spill = _Spill()
        where: dict[tuple[int, int], tuple[int, int, np.ndarray]] = {}
        io = files.start_counting()
        reader = files.RangeReader()
        try:
            for unit, offset, size in sorted(grouped["slices"]):
                data = reader.read(slices_path(self.work_dir, unit), offset, size)
                positions, flat, offsets, bands = payload_arrays(pa.ipc.open_stream(data).read_all())
                for j, position in enumerate(positions.tolist()):
                    at, count = spill.add(flat[offsets[j] : offsets[j + 1]])
                    where[(unit, position)] = (at, count, bands[j].copy())
        finally:
            reader.close()
        stats = {"stage": near.STAGE, "task": True, "table_bytes_read": reader.read_bytes}
        stats.update(io.stop())
        measure = near.similarity_for(self.config.verify)
        checks = by_centres = 0
        try:
            for root in sorted(groups):
                members = sorted(groups[root])
                chosen = Survivors(measure, self.config.threshold, self.config.max_checks)
                for m in members:
                    at, count, keys = where[(m[3], m[4])]
                    chosen.decide(spill.get(at, count), keys)
                checks += chosen.checks
                by_centres += chosen.by_centres
                for m, w, similar in zip(members, chosen.witness, chosen.similarity, strict=True):
                    witness = None if w == KEPT else members[w][2]
                    yield "member", (m[3], (m[4], m[2], root[2], witness, similar))
        finally:
            spill.close()
        # kept_undecided stays in summary.json's schema: no member is left undecided any more.
        yield "decided", {"groups": len(groups), "checks": checks, "kept_undecided": 0}
        stats.update(seconds=time.perf_counter() - started, peak_rss_mb=peak_rss_mb())
        yield "stats", stats


class _StarRound(beam.PTransform):
    def __init__(self, step) -> None:
        super().__init__()
        self.step = step

    def expand(self, edges):
        step = self.step
        return (
            edges
            | "BothDirections" >> beam.FlatMap(near.both_directions)
            | "Neighbours" >> beam.GroupByKey()
            | "Star" >> beam.FlatMap(lambda kv: [e for e in step(kv[0], kv[1]) if e[0] != e[1]])
        )


class ConnectedComponents(beam.PTransform):
    """Verified edges -> (node, smallest node of its cluster) for every node on an edge."""

    def __init__(self, config: NearDedupConfig) -> None:
        super().__init__()
        self.config = config

    def expand(self, edges):
        limit = self.config.single_worker_max_edges
        rounds = self.config.max_rounds
        total = edges | "CountEdges" >> CountAll()
        # Two filters, not a Partition: the DaskRunner does not separate a ParDo's outputs.
        with_total = edges | "WithTotal" >> WithValue(total)
        small = with_total | "SmallEdges" >> beam.FlatMap(lambda et: [et[0]] if et[1] <= limit else [])
        large = with_total | "LargeEdges" >> beam.FlatMap(lambda et: [et[0]] if et[1] > limit else [])
        one_worker = (
            small
            | "ToOneWorker" >> beam.Map(lambda e: (None, e))
            | "AllEdges" >> beam.GroupByKey()
            | "UnionFind" >> beam.FlatMap(lambda kv: list(near.union_find(kv[1]).items()))
        )
        current = large
        for r in range(rounds):
            current = current | f"LargeStar{r}" >> _StarRound(near.large_star)
            current = current | f"SmallStar{r}" >> _StarRound(near.small_star)
        iterative = (
            current
            | "FinalBothDirections" >> beam.FlatMap(near.both_directions)
            | "FinalNeighbours" >> beam.GroupByKey()
            | "StarLabels" >> beam.FlatMap(lambda kv: near.star_labels(kv[0], kv[1], rounds))
        )
        return (one_worker, iterative) | "Roots" >> beam.Flatten()


class WriteClustersFn(beam.DoFn):
    def __init__(self, clusters_dir: str) -> None:
        self.clusters_dir = clusters_dir

    def process(self, element):
        file_index, rows = element
        rows = sorted(rows, key=lambda r: (r[0], r[1]))
        table = pa.table(
            {
                "cluster_id": [r[0] for r in rows],
                "id": [r[1] for r in rows],
                "kept": [r[2] is None for r in rows],
                "witness": [r[2] for r in rows],
                "similarity": pa.array([r[3] if r[2] is not None else None for r in rows], pa.float32()),
            },
            schema=CLUSTER_SCHEMA,
        )
        out = files.join(self.clusters_dir, f"{file_index:06d}.parquet")
        files.write_atomic(out, lambda f: write_parquet(table, f))
        yield {"index": file_index, "clusters": out, "counts": {}, "skipped": {}}


class BucketTaskFn(beam.DoFn):
    """One band and one slice of its key space -> ("pair", candidate pair) for each pair, then
    ("stats", stats): it reads only its band's rows of its slice from each unit's band table."""

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir

    def process(self, task):
        band, part, parts, units = task
        edges, stats = run_task(
            self.work_dir, "bands", lambda read: bucket_task_edges(units, band, part, parts, read)
        )
        for edge in edges:
            yield "pair", edge
        yield "stats", stats


class CandidatePairs(beam.PTransform):
    """Per-unit results + earlier drops -> (candidate pairs (star edges of every LSH bucket),
    the band-table writers' and bucket tasks' stats as run results).

    No record per document and band goes through a shuffle: each unit writes its band keys as a
    sorted key table with a section per band, and a task per (band, slice of the key space)
    reads and sorts only its rows of it (corpus/dedup/buckets.py)."""

    def __init__(self, config: NearDedupConfig, work_dir: str, earlier_drops) -> None:
        super().__init__()
        self.bands = config.lsh_shape()[0]
        self.work_dir = work_dir
        self.earlier_drops = earlier_drops

    def expand(self, units):
        bands, work_dir = self.bands, self.work_dir
        columns = ["position", "id_hash", "preference", "bands", "id"]

        def tasks(tables: list) -> list:
            parts = parts_for(sum(layout.rows for _, layout, _ in tables))
            layouts = sorted((u, layout) for u, layout, _ in tables)
            return [
                (b, p, parts, [(u, t) for u, t in layouts if sorted_keys.wanted(t, b, p, parts)])
                for b in range(bands)
                for p in range(parts)
            ]

        tables = units | "BandTables" >> KeyTables(work_dir, self.earlier_drops, "bands", columns, band_table)
        out = (
            tables
            | "Tasks" >> beam.FlatMap(tasks)
            | "SpreadTasks" >> beam.Reshuffle()
            | "Buckets" >> beam.ParDo(BucketTaskFn(work_dir))
        )
        pairs = out | "Pairs" >> tagged("pair") | "UniquePairs" >> beam.Distinct()
        stats = (
            tables | "WriterStats" >> beam.FlatMap(lambda ts: [s for _, _, s in ts]),
            out | "TaskStats" >> tagged("stats"),
        ) | "Stats" >> beam.Flatten()
        return pairs, stats | "AsResults" >> beam.Map(as_result)


class FindNearDuplicates(beam.PTransform):
    """Per-unit results + earlier drops (exact and URL dedup's) -> near drops.

    Candidate pairs join documents into groups (connected components); each group is decided by
    corpus.dedup.survivors, so every removed document has a kept witness with a verified
    similarity. Output: (drops, results): (unit, (position, ``near_dedup``, witness id,
    similarity)) for every removed document; and for the run's final barrier one result per
    ``clusters/`` file written plus the decision counts (``summary.json``'s ``near_dedup``)."""

    def __init__(self, config: NearDedupConfig, work_dir: str, clusters_dir: str, earlier_drops) -> None:
        super().__init__()
        self.config = config
        self.work_dir = work_dir
        self.clusters_dir = clusters_dir
        self.earlier_drops = earlier_drops

    def expand(self, units):
        candidates, bucket_stats = units | "CandidatePairs" >> CandidatePairs(
            self.config, self.work_dir, self.earlier_drops
        )
        roots = candidates | "Groups" >> ConnectedComponents(self.config)
        nodes = roots | "CountNodes" >> CountAll()

        def to_task(node_root_total):
            (node, root), total = node_root_total
            tasks = max(1, -(-total // NODES_PER_TASK))
            return root[1] % tasks, (node, root)

        tasked = roots | "WithNodes" >> WithValue(nodes) | "ToTask" >> beam.Map(to_task)
        # Each unit's payload file is read once, by one task that writes each decision task's
        # rows apart; a decision task then reads only its rows.
        sliced = (
            tasked
            | "MemberOfUnit" >> beam.Map(lambda tm: (tm[1][0][3], (tm[1][0][4], tm[0])))
            | "MembersByUnit" >> beam.GroupByKey()
            | "SlicePayloads" >> beam.ParDo(SlicePayloadsFn(self.work_dir))
        )
        decided = (
            {"members": tasked, "slices": sliced | "Slices" >> tagged("slice")}
            | "Tasks" >> beam.CoGroupByKey()
            | "Decide" >> beam.ParDo(DecideGroupsFn(self.config, self.work_dir))
        )
        members = decided | "Members" >> tagged("member")
        counts = decided | "DecisionCounts" >> beam.FlatMap(
            lambda kv: [{"counts": {}, "skipped": {}, "near_dedup": kv[1]}] if kv[0] == "decided" else []
        )
        task_stats = (
            sliced | "SliceStats" >> tagged("stats"),
            decided | "DecideStats" >> tagged("stats"),
        ) | "DecisionStats" >> beam.Flatten()
        results = [counts, bucket_stats, task_stats | "DecisionResults" >> beam.Map(as_result)]
        if self.config.write_clusters:
            results.append(
                members
                | "ClusterRows" >> beam.Map(lambda um: (um[0], (um[1][2], um[1][1], um[1][3], um[1][4])))
                | "RowsByFile" >> beam.GroupByKey()
                | "WriteClusters" >> beam.ParDo(WriteClustersFn(self.clusters_dir))
            )
        drops = members | "Drops" >> beam.FlatMap(
            lambda um: [(um[0], (um[1][0], near.STAGE, um[1][3], um[1][4]))] if um[1][3] is not None else []
        )
        return drops, results | "NearResults" >> beam.Flatten()
