"""URL and exact dedup: each sorts per-unit arrays of keys (URL hashes, text hashes); no record
per document goes through a shuffle, and never text. URL dedup runs first, on every document;
exact dedup on what it kept; near dedup (near_dedup.py) on what both kept. Each later stage
leaves out what the earlier ones dropped, so no stage drops the copy another one kept in place
of a duplicate.

Each unit writes its keys as a sorted key table (corpus/dedup/sorted_keys.py), and each task
reads only the byte ranges of its slice of the key space from every unit's table: the bytes the
tasks read are about the bytes of the tables, at any number of units and tasks. Every writer and
task counts its bytes (pipelines/files.py start_counting); the counts travel as "stats" results
into run_stats.json."""

from __future__ import annotations

import time
from collections.abc import Callable

import apache_beam as beam

from corpus.dedup import exact, sorted_keys, url
from corpus.records import row_groups
from pipelines import files
from pipelines.gather import GatherAll
from pipelines.stages.extract import keys_path
from pipelines.stats import peak_rss_mb

STAGES = {"url": url.STAGE, "exact": exact.STAGE, "bands": "near_dedup"}
"""The stage a kind of key table is counted under in run_stats.json."""


def key_table_path(work_dir: str, kind: str, unit: int) -> str:
    return files.join(work_dir, f"{kind}-{unit:06d}.keys")


def as_result(stats: dict) -> dict:
    """A stats dict as one of the run's results (what CommitRun gathers)."""
    return {"counts": {}, "skipped": {}, "stats": stats}


class WriteKeyTableFn(beam.DoFn):
    """Per unit: its documents' keys for one dedup (``kind``) as a sorted key table made by
    ``table_fn`` from the unit's keys file (``columns``), less those earlier dedups dropped;
    -> (unit, layout, stats)."""

    def __init__(self, work_dir: str, kind: str, columns: list[str], table_fn: Callable) -> None:
        self.work_dir = work_dir
        self.kind = kind
        self.columns = columns
        self.table_fn = table_fn

    def process(self, element):
        unit, grouped = element
        started = time.perf_counter()
        excluded = set(grouped["dropped"])
        io = files.start_counting()
        with files.open_input(keys_path(self.work_dir, unit), decompress=False) as f:
            data, layout = self.table_fn(row_groups(f, columns=self.columns), excluded)
        files.write_atomic(key_table_path(self.work_dir, self.kind, unit), lambda out: out.write(data))
        stats = {
            "stage": STAGES[self.kind],
            "seconds": time.perf_counter() - started,
            "documents": layout.rows,
            "table_bytes": layout.size,
            "peak_rss_mb": peak_rss_mb(),
            **io.stop(),
        }
        yield unit, layout, stats


class KeyTables(beam.PTransform):
    """Per-unit results + earlier drops -> one element: [(unit, layout, stats)], once every unit
    has written its key table (``WriteKeyTableFn``)."""

    def __init__(
        self, work_dir: str, earlier_drops: beam.PCollection, kind: str, columns: list[str],
        table_fn: Callable,
    ) -> None:  # fmt: skip
        super().__init__()
        self.write = WriteKeyTableFn(work_dir, kind, columns, table_fn)
        self.earlier_drops = earlier_drops

    def expand(self, units: beam.PCollection) -> beam.PCollection:
        by_unit = units | "ByUnit" >> beam.Map(lambda r: (r["index"], r["index"]))
        dropped = self.earlier_drops | "DroppedPositions" >> beam.Map(lambda kv: (kv[0], kv[1][0]))
        return (
            {"unit": by_unit, "dropped": dropped}
            | "JoinDrops" >> beam.CoGroupByKey()
            | "WriteTables" >> beam.ParDo(self.write)
            | "AllTables" >> GatherAll()
        )


def run_task(work_dir: str, kind: str, task: Callable[[sorted_keys.Read], list]) -> tuple[list, dict]:
    """``task(read)`` with ``read`` on the units' tables of ``kind``; (its output, its stats:
    seconds, bytes read, bytes of tables read)."""
    started = time.perf_counter()
    io = files.start_counting()
    reader = files.RangeReader()
    try:
        out = task(lambda unit, offset, size: reader.read(key_table_path(work_dir, kind, unit), offset, size))
    finally:
        reader.close()
    stats = {
        "stage": STAGES[kind],
        "task": True,
        "seconds": time.perf_counter() - started,
        "table_bytes_read": reader.read_bytes,
        "peak_rss_mb": peak_rss_mb(),
        **io.stop(),
    }
    return out, stats


class SortedKeyTaskFn(beam.DoFn):
    """One slice of the key space: ``drops_fn`` over every unit's table (corpus/dedup/sorted_keys.py)
    -> ("drop", drop) for each drop, then ("stats", stats)."""

    def __init__(self, work_dir: str, kind: str, drops_fn: Callable) -> None:
        self.work_dir = work_dir
        self.kind = kind
        self.drops_fn = drops_fn

    def process(self, task):
        part, parts, units = task
        drops, stats = run_task(
            self.work_dir, self.kind, lambda read: self.drops_fn(units, part, parts, read)
        )
        for drop in drops:
            yield "drop", drop
        yield "stats", stats


def tagged(tag: str):
    """The values of one tag of a DoFn's ("tag", value) outputs (two filters, not a Partition:
    the DaskRunner does not separate a ParDo's outputs)."""
    return beam.FlatMap(lambda kv: [kv[1]] if kv[0] == tag else [])


class FindDuplicatesBySorting(beam.PTransform):
    """Per-unit results + earlier drops -> (drops, stats): (file index, (position, stage, kept
    id)) for every dropped document among those not dropped before; and the writers' and tasks'
    stats as run results.

    Nothing per document goes through a shuffle: each unit writes its keys as arrays, and a task
    per slice of the key space sorts them; only the drops travel."""

    def __init__(
        self, work_dir: str, earlier_drops: beam.PCollection, kind: str, columns: list[str],
        table_fn: Callable, drops_fn: Callable,
    ) -> None:  # fmt: skip
        super().__init__()
        self.tables = KeyTables(work_dir, earlier_drops, kind, columns, table_fn)
        self.task = SortedKeyTaskFn(work_dir, kind, drops_fn)

    def expand(self, units: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        def tasks(tables: list) -> list:
            parts = sorted_keys.parts_for(sum(layout.rows for _, layout, _ in tables))
            layouts = sorted((u, layout) for u, layout, _ in tables)
            # A small table's layout tells which slices hold none of its rows: left out there.
            return [
                (p, parts, [(u, t) for u, t in layouts if sorted_keys.wanted(t, 0, p, parts)])
                for p in range(parts)
            ]

        tables = units | "KeyTables" >> self.tables
        out = (
            tables
            | "Tasks" >> beam.FlatMap(tasks)
            | "SpreadTasks" >> beam.Reshuffle()
            | "Sort" >> beam.ParDo(self.task)
        )
        drops = out | "Drops" >> tagged("drop")
        stats = (
            tables | "WriterStats" >> beam.FlatMap(lambda ts: [s for _, _, s in ts]),
            out | "TaskStats" >> tagged("stats"),
        ) | "Stats" >> beam.Flatten()
        return drops, stats | "AsResults" >> beam.Map(as_result)


def FindUrlDuplicates(work_dir: str, earlier_drops: beam.PCollection) -> FindDuplicatesBySorting:  # noqa: N802
    """-> (drops, stats): (file index, (position, ``url_dedup``, kept id)) for every older copy
    of a URL (corpus/dedup/url.py)."""
    columns = ["position", "url_key", "date", "id_hash", "id"]
    return FindDuplicatesBySorting(work_dir, earlier_drops, "url", columns, url.url_table, url.task_drops)


def FindExactDuplicates(work_dir: str, earlier_drops: beam.PCollection) -> FindDuplicatesBySorting:  # noqa: N802
    """-> (drops, stats): (file index, (position, ``exact_dedup``, kept id)) for every dropped
    occurrence (corpus/dedup/exact.py)."""
    columns = ["position", *exact.KEY, *exact.RANK, "id"]
    table_fn, drops_fn = exact.exact_table, exact.task_drops
    return FindDuplicatesBySorting(work_dir, earlier_drops, "exact", columns, table_fn, drops_fn)
