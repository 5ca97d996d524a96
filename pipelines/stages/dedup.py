"""URL and exact dedup: only keys (URL, id hash, id, position) go through URL dedup's shuffle,
and exact dedup sorts per-unit arrays of text hashes; never text. URL dedup runs first, on every
document; exact dedup on what it kept; near dedup (near_dedup.py) on what both kept. Each later
stage leaves out what the earlier ones dropped, so no stage drops the copy another one kept in
place of a duplicate."""

from __future__ import annotations

import apache_beam as beam

from corpus.dedup import exact
from corpus.records import row_groups
from corpus.steps import url_decisions
from pipelines import files
from pipelines.gather import GatherAll
from pipelines.stages.extract import ids_at, keys_path


class SkipDropped(beam.PTransform):
    """((file index, position), value) -> value, for the documents ``drops`` do not name."""

    def __init__(self, drops: beam.PCollection) -> None:
        super().__init__()
        self.drops = drops

    def expand(self, keyed: beam.PCollection) -> beam.PCollection:
        dropped = self.drops | "DroppedPositions" >> beam.Map(lambda kv: ((kv[0], kv[1][0]), True))
        return (
            {"value": keyed, "dropped": dropped}
            | "JoinDrops" >> beam.CoGroupByKey()
            | "NotDropped" >> beam.FlatMap(lambda kv: [] if kv[1]["dropped"] else kv[1]["value"])
        )


class FindUrlDuplicates(beam.PTransform):
    """(url key, (-date, id_hash, id, file index, position)) [+ earlier drops: reference dedup's]
    -> (file index, (position, ``url_dedup``, kept id)) for every older copy of a URL."""

    def __init__(self, earlier_drops: beam.PCollection | None = None) -> None:
        super().__init__()
        self.earlier_drops = earlier_drops

    def expand(self, keys: beam.PCollection) -> beam.PCollection:
        if self.earlier_drops is not None:
            keys = (
                keys
                | "ByPosition" >> beam.Map(lambda kv: ((kv[1][3], kv[1][4]), kv))
                | "SkipEarlierDrops" >> SkipDropped(self.earlier_drops)
            )
        return (
            keys
            | "GroupByUrl" >> beam.GroupByKey()
            | "ChooseNewest" >> beam.FlatMap(lambda kv: url_decisions(kv[1]))
        )


class WriteExactTableFn(beam.DoFn):
    """Per unit: its documents' text hashes as arrays, less those earlier dedups dropped."""

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir

    def process(self, element):
        unit, grouped = element
        excluded = set(grouped["dropped"])
        with files.open_input(keys_path(self.work_dir, unit), decompress=False) as f:
            data, documents = exact.exact_table(
                row_groups(f, columns=["position", "text_hash", "id_hash"]), excluded
            )
        files.write_atomic(exact_path(self.work_dir, unit), lambda out: out.write(data))
        yield unit, documents


class ExactTaskFn(beam.DoFn):
    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir

    def process(self, task):
        part, parts, units = task
        tables = ((u, files.read_bytes(exact_path(self.work_dir, u))) for u in units)
        yield from exact.task_drops(tables, part, parts, lambda u, ps: ids_at(self.work_dir, u, ps))


def exact_path(work_dir: str, unit: int) -> str:
    return files.join(work_dir, f"exact-{unit:06d}.npz")


class FindExactDuplicates(beam.PTransform):
    """Per-unit results + earlier drops -> (file index, (position, ``exact_dedup``, kept id)) for
    every dropped occurrence among the documents not dropped before.

    Like near dedup's buckets, nothing per document goes through a shuffle: each unit writes
    its text hashes as arrays, and a task per slice of the hash space sorts them
    (corpus/dedup/exact.py); only the drops travel."""

    def __init__(self, work_dir: str, earlier_drops: beam.PCollection) -> None:
        super().__init__()
        self.work_dir = work_dir
        self.earlier_drops = earlier_drops

    def expand(self, units: beam.PCollection) -> beam.PCollection:
        work_dir = self.work_dir
        by_unit = units | "ByUnit" >> beam.Map(lambda r: (r["index"], r["index"]))
        dropped = self.earlier_drops | "DroppedPositions" >> beam.Map(lambda kv: (kv[0], kv[1][0]))

        def tasks(tables: list) -> list:
            parts = exact.parts_for(sum(n for _, n in tables))
            return [(p, parts, sorted(u for u, _ in tables)) for p in range(parts)]

        return (
            {"unit": by_unit, "dropped": dropped}
            | "JoinDrops" >> beam.CoGroupByKey()
            | "ExactTables" >> beam.ParDo(WriteExactTableFn(work_dir))
            | "AllTables" >> GatherAll()
            | "Tasks" >> beam.FlatMap(tasks)
            | "SpreadTasks" >> beam.Reshuffle()
            | "Drops" >> beam.ParDo(ExactTaskFn(work_dir))
        )
