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

import apache_beam as beam
import numpy as np
import pyarrow as pa

from corpus.config import NearDedupConfig
from corpus.dedup import near
from corpus.dedup.buckets import band_table, bucket_task_edges, parts_for
from corpus.dedup.keys import payload_of
from corpus.dedup.survivors import KEPT, choose_survivors
from corpus.records import row_groups, write_parquet
from pipelines import files
from pipelines.gather import CountAll, WithValue
from pipelines.stages.dedup import KeyTables, key_table_path
from pipelines.stages.extract import ids_at, payload_path

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
"""Documents of the groups one decision task takes at most, whose payloads it holds (about
4 KB each with ``verify = exact``)."""


class DecideGroupsFn(beam.DoFn):
    """A task of groups of candidates -> per member, its group, and its witness if it goes.

    The task reads the payload (shingle set or signature) of each of its members from the unit
    files the extract stage wrote, once per unit, and decides each group by
    corpus.dedup.survivors; payloads never travel through a shuffle."""

    def __init__(self, config: NearDedupConfig, work_dir: str) -> None:
        self.config = config
        self.work_dir = work_dir

    def process(self, element):
        _, pairs = element
        groups: dict[near.Node, list[near.Node]] = {}
        wanted: dict[int, set[int]] = {}
        for node, root in pairs:
            groups.setdefault(root, []).append(node)
            wanted.setdefault(node[3], set()).add(node[4])
        payload: dict[tuple[int, int], np.ndarray] = {}
        for unit in sorted(wanted):
            with files.open_input(payload_path(self.work_dir, unit), decompress=False) as f:
                for position, values in payload_of(row_groups(f), wanted[unit]).items():
                    payload[(unit, position)] = values
        checks = undecided = 0
        for root in sorted(groups):
            members = sorted(groups[root])
            chosen = choose_survivors(
                [payload[(m[3], m[4])] for m in members],
                near.similarity_for(self.config.verify),
                self.config.threshold,
                self.config.max_checks,
            )
            checks += chosen.checks
            undecided += chosen.undecided
            for m, w, similar in zip(members, chosen.witness, chosen.similarity, strict=True):
                witness = None if w == KEPT else members[w][2]
                yield "member", (m[3], (m[4], m[2], root[2], witness, similar))
        yield "decided", {"groups": len(groups), "checks": checks, "kept_undecided": undecided}


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
    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir

    def ids_of(self, unit: int, positions: list[int]) -> list[str]:
        return ids_at(self.work_dir, unit, positions)

    def process(self, task):
        band, part, parts, units = task
        tables = ((u, files.read_bytes(key_table_path(self.work_dir, "bands", u))) for u in units)
        yield from bucket_task_edges(tables, band, part, parts, self.ids_of)


class CandidatePairs(beam.PTransform):
    """Per-unit results + earlier drops -> candidate pairs (star edges of every LSH bucket).

    No record per document and band goes through a shuffle: each unit writes its band keys as
    arrays, and a task per (band, slice of the key space) sorts them (corpus/dedup/buckets.py)."""

    def __init__(self, config: NearDedupConfig, work_dir: str, earlier_drops) -> None:
        super().__init__()
        self.bands = config.lsh_shape()[0]
        self.work_dir = work_dir
        self.earlier_drops = earlier_drops

    def expand(self, units):
        bands, work_dir = self.bands, self.work_dir
        columns = ["position", "id_hash", "preference", "bands"]

        def tasks(tables: list) -> list:
            parts = parts_for(sum(n for _, n in tables))
            unit_list = sorted(u for u, _ in tables)
            return [(b, p, parts, unit_list) for b in range(bands) for p in range(parts)]

        return (
            units
            | "BandTables" >> KeyTables(work_dir, self.earlier_drops, "bands", columns, band_table)
            | "Tasks" >> beam.FlatMap(tasks)
            | "SpreadTasks" >> beam.Reshuffle()
            | "Buckets" >> beam.ParDo(BucketTaskFn(work_dir))
            | "UniquePairs" >> beam.Distinct()
        )


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
        candidates = units | "CandidatePairs" >> CandidatePairs(
            self.config, self.work_dir, self.earlier_drops
        )
        roots = candidates | "Groups" >> ConnectedComponents(self.config)
        nodes = roots | "CountNodes" >> CountAll()

        def to_task(node_root_total):
            (node, root), total = node_root_total
            tasks = max(1, -(-total // NODES_PER_TASK))
            return root[1] % tasks, (node, root)

        decided = (
            roots
            | "WithNodes" >> WithValue(nodes)
            | "ToTask" >> beam.Map(to_task)
            | "Tasks" >> beam.GroupByKey()
            | "Decide" >> beam.ParDo(DecideGroupsFn(self.config, self.work_dir))
        )
        members = decided | "Members" >> beam.FlatMap(lambda kv: [kv[1]] if kv[0] == "member" else [])
        counts = decided | "DecisionCounts" >> beam.FlatMap(
            lambda kv: [{"counts": {}, "skipped": {}, "near_dedup": kv[1]}] if kv[0] == "decided" else []
        )
        results = [counts]
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
