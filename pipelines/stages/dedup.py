"""URL and exact dedup: each sorts per-unit arrays of keys (URL hashes, text hashes); no record
per document goes through a shuffle, and never text. URL dedup runs first, on every document;
exact dedup on what it kept; near dedup (near_dedup.py) on what both kept. Each later stage
leaves out what the earlier ones dropped, so no stage drops the copy another one kept in place
of a duplicate."""

from __future__ import annotations

from collections.abc import Callable

import apache_beam as beam

from corpus.dedup import exact, sorted_keys, url
from corpus.records import row_groups
from pipelines import files
from pipelines.gather import GatherAll
from pipelines.stages.extract import ids_at, keys_path


def key_table_path(work_dir: str, kind: str, unit: int) -> str:
    return files.join(work_dir, f"{kind}-{unit:06d}.npz")


class WriteKeyTableFn(beam.DoFn):
    """Per unit: its documents' keys for one dedup (``kind``) as arrays, an .npz made by
    ``table_fn`` from the unit's keys file (``columns``), less those earlier dedups dropped."""

    def __init__(self, work_dir: str, kind: str, columns: list[str], table_fn: Callable) -> None:
        self.work_dir = work_dir
        self.kind = kind
        self.columns = columns
        self.table_fn = table_fn

    def process(self, element):
        unit, grouped = element
        excluded = set(grouped["dropped"])
        with files.open_input(keys_path(self.work_dir, unit), decompress=False) as f:
            data, documents = self.table_fn(row_groups(f, columns=self.columns), excluded)
        files.write_atomic(key_table_path(self.work_dir, self.kind, unit), lambda out: out.write(data))
        yield unit, documents


class KeyTables(beam.PTransform):
    """Per-unit results + earlier drops -> one element: [(unit, documents in its table)], once
    every unit has written its key table (``WriteKeyTableFn``)."""

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


class SortedKeyTaskFn(beam.DoFn):
    """One slice of the key space: ``drops_fn`` over every unit's table (corpus/dedup/sorted_keys.py)."""

    def __init__(self, work_dir: str, kind: str, drops_fn: Callable) -> None:
        self.work_dir = work_dir
        self.kind = kind
        self.drops_fn = drops_fn

    def process(self, task):
        part, parts, units = task
        tables = ((u, files.read_bytes(key_table_path(self.work_dir, self.kind, u))) for u in units)
        yield from self.drops_fn(tables, part, parts, lambda u, ps: ids_at(self.work_dir, u, ps))


class FindDuplicatesBySorting(beam.PTransform):
    """Per-unit results + earlier drops -> (file index, (position, stage, kept id)) for every
    dropped document among those not dropped before.

    Nothing per document goes through a shuffle: each unit writes its keys as arrays, and a task
    per slice of the key space sorts them; only the drops travel."""

    def __init__(
        self, work_dir: str, earlier_drops: beam.PCollection, kind: str, columns: list[str],
        table_fn: Callable, drops_fn: Callable,
    ) -> None:  # fmt: skip
        super().__init__()
        self.tables = KeyTables(work_dir, earlier_drops, kind, columns, table_fn)
        self.task = SortedKeyTaskFn(work_dir, kind, drops_fn)

    def expand(self, units: beam.PCollection) -> beam.PCollection:
        def tasks(tables: list) -> list:
            parts = sorted_keys.parts_for(sum(n for _, n in tables))
            return [(p, parts, sorted(u for u, _ in tables)) for p in range(parts)]

        return (
            units
            | "KeyTables" >> self.tables
            | "Tasks" >> beam.FlatMap(tasks)
            | "SpreadTasks" >> beam.Reshuffle()
            | "Drops" >> beam.ParDo(self.task)
        )


def FindUrlDuplicates(work_dir: str, earlier_drops: beam.PCollection) -> FindDuplicatesBySorting:  # noqa: N802
    """-> (file index, (position, ``url_dedup``, kept id)) for every older copy of a URL
    (corpus/dedup/url.py)."""
    columns = ["position", "url_key", "date", "id_hash"]
    return FindDuplicatesBySorting(work_dir, earlier_drops, "url", columns, url.url_table, url.task_drops)


def FindExactDuplicates(work_dir: str, earlier_drops: beam.PCollection) -> FindDuplicatesBySorting:  # noqa: N802
    """-> (file index, (position, ``exact_dedup``, kept id)) for every dropped occurrence
    (corpus/dedup/exact.py)."""
    columns = ["position", "text_hash", "id_hash"]
    table_fn, drops_fn = exact.exact_table, exact.task_drops
    return FindDuplicatesBySorting(work_dir, earlier_drops, "exact", columns, table_fn, drops_fn)
