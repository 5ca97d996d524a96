"""Near dedup in Beam: band keys -> candidate pairs -> verified pairs -> clusters -> drops.

Only keys go through the shuffles: band keys, nodes (ids and ranks), and for verification the
shingle-hash sets (or signatures) of the documents on candidate pairs, read from the per-file
payloads the extract stage wrote. Text never moves.

Clusters are found in one worker (union-find) when the verified pairs are few
(``single_worker_max_edges``); otherwise by rounds of large-star / small-star, each round a
shuffle, so that no worker needs all edges.
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

from corpus.config import NearDedupConfig
from corpus.dedup import near
from corpus.dedup.buckets import band_table, bucket_task_edges, parts_for
from corpus.dedup.keys import payload_of
from corpus.records import row_groups, write_parquet
from corpus.steps import similarity
from pipelines import files
from pipelines.gather import GatherAll, WithValue
from pipelines.stages.extract import keys_path, payload_path

CLUSTER_SCHEMA = pa.schema(
    [
        pa.field("cluster_id", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("kept", pa.bool_(), nullable=False),
    ]
)


class AttachPayloadFn(beam.DoFn):
    """Per input file: the payload of each document on a candidate pair, keyed by the pair."""

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir

    def process(self, element):
        unit, wanted = element
        wanted = list(wanted)
        with files.open_input(payload_path(self.work_dir, unit), decompress=False) as f:
            by_position = payload_of(row_groups(f), {pos for pos, _, _ in wanted})
        for position, edge, end in wanted:
            yield edge, (end, by_position[position])


class VerifyFn(beam.DoFn):
    def __init__(self, config: NearDedupConfig) -> None:
        self.config = config
        self.candidates = Metrics.counter("near_dedup", "candidate_pairs")
        self.verified = Metrics.counter("near_dedup", "verified_pairs")

    def process(self, element):
        edge, ends = element
        by_end = dict(ends)
        self.candidates.inc()
        if similarity(by_end[0], by_end[1], self.config.verify) >= self.config.threshold:
            self.verified.inc()
            yield edge


def _edge_ends(edge: near.Edge):
    u, v = edge
    return [(u[3], (u[4], edge, 0)), (v[3], (v[4], edge, 1))]


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
        total = (
            edges
            | "OnePerEdge" >> beam.Map(lambda _e: (None, 1))
            | "CountEdges" >> beam.CombinePerKey(sum)
            | "Total" >> beam.Values()
        )
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
        rows = sorted(rows)
        table = pa.table(
            {
                "cluster_id": [r[0] for r in rows],
                "id": [r[1] for r in rows],
                "kept": [r[2] for r in rows],
            },
            schema=CLUSTER_SCHEMA,
        )
        out = files.join(self.clusters_dir, f"{file_index:06d}.parquet")
        files.write_atomic(out, lambda f: write_parquet(table, f))
        yield {"index": file_index, "clusters": out, "counts": {}, "skipped": {}}


def band_path(work_dir: str, unit: int) -> str:
    return files.join(work_dir, f"bands-{unit:06d}.npz")


class WriteBandTableFn(beam.DoFn):
    """Per unit: its documents' band keys as arrays, less those URL or exact dedup dropped."""

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir

    def process(self, element):
        unit, grouped = element
        excluded = set(grouped["dropped"])
        with files.open_input(keys_path(self.work_dir, unit), decompress=False) as f:
            data, documents = band_table(
                row_groups(f, columns=["position", "id_hash", "preference", "bands"]), excluded
            )
        files.write_atomic(band_path(self.work_dir, unit), lambda out: out.write(data))
        yield unit, documents


class BucketTaskFn(beam.DoFn):
    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir

    def ids_of(self, unit: int, positions: list[int]) -> list[str]:
        wanted = set(positions)
        found: dict[int, str] = {}
        with files.open_input(keys_path(self.work_dir, unit), decompress=False) as f:
            for table in row_groups(f, columns=["position", "id"]):
                for p, i in zip(
                    table.column("position").to_pylist(), table.column("id").to_pylist(), strict=True
                ):
                    if p in wanted:
                        found[p] = i
        return [found[p] for p in positions]

    def process(self, task):
        band, part, parts, units = task
        tables = ((u, files.read_bytes(band_path(self.work_dir, u))) for u in units)
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
        by_unit = units | "ByUnit" >> beam.Map(lambda r: (r["index"], r["index"]))
        dropped = self.earlier_drops | "DroppedPositions" >> beam.Map(lambda kv: (kv[0], kv[1][0]))

        def tasks(tables: list) -> list:
            parts = parts_for(sum(n for _, n in tables))
            unit_list = sorted(u for u, _ in tables)
            return [(b, p, parts, unit_list) for b in range(bands) for p in range(parts)]

        return (
            {"unit": by_unit, "dropped": dropped}
            | "JoinDrops" >> beam.CoGroupByKey()
            | "BandTables" >> beam.ParDo(WriteBandTableFn(work_dir))
            | "AllTables" >> GatherAll()
            | "Tasks" >> beam.FlatMap(tasks)
            | "SpreadTasks" >> beam.Reshuffle()
            | "Buckets" >> beam.ParDo(BucketTaskFn(work_dir))
            | "UniquePairs" >> beam.Distinct()
        )


class FindNearDuplicates(beam.PTransform):
    """Per-unit results + earlier drops (exact and URL dedup's) -> near drops.

    Output: (drops, cluster files): (unit, (position, ``near_dedup``, kept id)) for every removed
    document, and one result per ``clusters/`` file written (for the run's final barrier)."""

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
        verified = (
            candidates
            | "EdgeEnds" >> beam.FlatMap(_edge_ends)
            | "EndsByFile" >> beam.GroupByKey()
            | "AttachPayload" >> beam.ParDo(AttachPayloadFn(self.work_dir))
            | "BothEnds" >> beam.GroupByKey()
            | "Verify" >> beam.ParDo(VerifyFn(self.config))
        )
        roots = verified | "Clusters" >> ConnectedComponents(self.config)
        written = units.pipeline | "NoClusterFiles" >> beam.Create([])
        if self.config.write_clusters:
            written = (
                roots
                | "ClusterRows" >> beam.Map(lambda nr: (nr[0][3], (nr[1][2], nr[0][2], nr[0] == nr[1])))
                | "RowsByFile" >> beam.GroupByKey()
                | "WriteClusters" >> beam.ParDo(WriteClustersFn(self.clusters_dir))
            )
        drops = (
            roots
            | "Removed" >> beam.Filter(lambda nr: nr[0] != nr[1])
            | "Drops" >> beam.Map(lambda nr: (nr[0][3], (nr[0][4], near.STAGE, nr[1][2])))
        )
        return drops, written
