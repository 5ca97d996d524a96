"""Dedup against earlier runs (``dedup.reference``): per unit, the documents whose URL, text or
near duplicate is in a reference run's corpus (corpus/dedup/reference.py). Runs before the run's
own dedup stages, which then leave these documents out.

A join by slices of the key space, so that memory per worker is one slice, not the reference:
each reference index file and each unit's keys file is cut into lookup entries by slice (only
small keys and ids go through the shuffle, never text), a task per slice matches its two sides,
and the matches go to their unit, which decides its drops (reading the reference texts of its
near-duplicate candidates only). Every reference path is read and listed through Beam
FileSystems (pipelines/files.py), so a reference on gs:// or s3:// works as a local one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from corpus.config import PipelineConfig
from corpus.dedup.keys import payload_of
from corpus.dedup.reference import (
    INDEX_DIR,
    INDEX_SCHEMA,
    check_reference,
    lookup_entries,
    reference_entries,
    slice_matches,
    slices_for,
    unit_drops,
)
from corpus.errors import InputError
from corpus.manifest import MANIFEST_NAME
from corpus.records import row_groups
from pipelines import files
from pipelines.gather import GatherAll
from pipelines.stages.extract import keys_path, payload_path


@dataclass(frozen=True)
class ReferenceRun:
    root: str
    index_files: tuple[str, ...]
    """``dedup_index/*.parquet``, in name order."""
    docs_files: tuple[str, ...]
    """``docs/`` files, one per index file (the same name)."""
    documents: int
    """Kept documents, by its manifest: what sizes the slices (an estimate does no harm)."""


def _read_manifest(run: str) -> dict | None:
    try:
        return files.read_json(files.join(run, MANIFEST_NAME))
    except ValueError as e:  # not JSON
        raise InputError(f"dedup.reference: {run}/{MANIFEST_NAME}: not a manifest ({e})") from e


def _index_files(run: str) -> list[str]:
    pattern = files.join(run, INDEX_DIR, "*.parquet")
    return sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)


def reference_runs(runs: Sequence[str], config: PipelineConfig) -> list[ReferenceRun]:
    """Every reference run, checked (InputError naming the run and the problem unless it is a
    finished run whose band keys compare with this config's), with its index files."""
    out = []
    for run in runs:
        manifest = _read_manifest(run)
        index = _index_files(run) if manifest is not None else []
        # An object store has no folders: an index folder is there when it holds a file.
        has_index = bool(index) or FileSystems.exists(files.join(run, INDEX_DIR))
        check_reference(run, manifest, has_index, config)
        assert manifest is not None
        totals = manifest.get("totals", {})
        documents = sum(t.get("documents", 0) for t in totals.values())
        docs = tuple(files.join(run, "docs", p.rsplit("/", 1)[-1]) for p in index)
        out.append(ReferenceRun(run, tuple(index), docs, documents))
    return out


def check_references(runs: Sequence[str], config: PipelineConfig, out_dir: str) -> None:
    """The launcher's check before it plans anything (see ``reference_runs``). A reference that
    is this run's own output folder is refused before anything is deleted: ``--force`` would
    remove the corpus the run is meant to deduplicate against."""
    for run in runs:
        if files.same_folder(run, out_dir):
            raise InputError(f"dedup.reference: {run} is this run's own output folder; a reference "
                             "must be an earlier run (give this run another --name or --output)")  # fmt: skip
    reference_runs(runs, config)


class ReferenceSlicesFn(beam.DoFn):
    """(run, file, index path, slices) -> (slice, ("ref", entries)) of one reference index file."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config

    def process(self, task):
        (r, f, path), parts = task
        with files.open_input(path, decompress=False) as stream:
            index = _read_index(stream)
        for part, data in reference_entries(index, r, f, self.config, parts).items():
            yield part, ("ref", None, data)


def _read_index(stream) -> pa.Table:
    tables = list(row_groups(stream, columns=INDEX_SCHEMA.names))
    return pa.concat_tables(tables).cast(INDEX_SCHEMA) if tables else INDEX_SCHEMA.empty_table()


class LookupSlicesFn(beam.DoFn):
    """(unit, slices) -> (slice, ("doc", unit, entries)) of one unit's documents."""

    def __init__(self, config: PipelineConfig, work_dir: str) -> None:
        self.config = config
        self.work_dir = work_dir

    def process(self, task):
        unit, parts = task
        with files.open_input(keys_path(self.work_dir, unit), decompress=False) as f:
            keys = row_groups(f, columns=["position", "url_key", "text_hash", "bands"])
            entries = lookup_entries(keys, self.config, parts)
        for part, data in entries.items():
            yield part, ("doc", unit, data)


def match_slice(element):
    """(slice, its entries of both sides) -> (unit, matches) for every unit with a match."""
    _, values = element
    reference = [data for side, _, data in values if side == "ref"]
    lookups = [(unit, data) for side, unit, data in values if side == "doc"]
    yield from slice_matches(reference, lookups).items()


class UnitDropsFn(beam.DoFn):
    """(unit, matches from every slice) -> (unit, drop) for each of its documents that goes."""

    def __init__(self, config: PipelineConfig, work_dir: str, runs: list[ReferenceRun]) -> None:
        self.config = config
        self.work_dir = work_dir
        self.docs = [run.docs_files for run in runs]

    def texts(self, r: int, f: int, rows: list[int]) -> tuple[list[str], list[str]]:
        """Ids and texts of those rows of a reference docs file: only the row groups holding them."""
        with files.open_input(self.docs[r][f], decompress=False) as stream:
            parquet = pq.ParquetFile(stream)
            ids: dict[int, str] = {}
            texts: dict[int, str] = {}
            start = 0
            wanted = sorted(rows)
            for g in range(parquet.num_row_groups):
                n = parquet.metadata.row_group(g).num_rows
                mine = [row for row in wanted if start <= row < start + n]
                if mine:
                    group = parquet.read_row_group(g, columns=["id", "text"])
                    got_ids, got_texts = group.column("id"), group.column("text")
                    for row in mine:
                        ids[row] = got_ids[row - start].as_py()
                        texts[row] = got_texts[row - start].as_py()
                start += n
        return [ids[row] for row in rows], [texts[row] for row in rows]

    def process(self, element):
        unit, matches = element

        def payload(positions: set[int]):
            with files.open_input(payload_path(self.work_dir, unit), decompress=False) as f:
                return payload_of(row_groups(f), positions)

        for drop in unit_drops(matches, payload, self.texts, self.config):
            yield unit, drop


class ReferenceDedup(beam.PTransform):
    """Per-unit results -> (unit, (position, stage, reference id, similarity, reason)) drops."""

    def __init__(self, config: PipelineConfig, work_dir: str) -> None:
        super().__init__()
        self.config = config
        self.work_dir = work_dir

    def expand(self, results: beam.PCollection) -> beam.PCollection:
        config, work_dir = self.config, self.work_dir
        runs = reference_runs(config.dedup.reference, config)  # listed once, in the launcher
        index_files = [(r, f, path) for r, run in enumerate(runs) for f, path in enumerate(run.index_files)]
        reference_documents = sum(run.documents for run in runs)

        def plan(units: list[dict]) -> tuple[int, list[int]]:
            read = sum(u.get("stats", {}).get("documents", 0) for u in units)
            parts = slices_for(reference_documents, read, config.near_dedup)
            return parts, sorted(u["index"] for u in units)

        planned = results | "Units" >> GatherAll() | "Slices" >> beam.Map(plan)
        reference = (
            planned
            | "IndexFiles" >> beam.FlatMap(lambda p: [(task, p[0]) for task in index_files])
            | "SpreadIndexFiles" >> beam.Reshuffle()
            | "ReferenceSlices" >> beam.ParDo(ReferenceSlicesFn(config))
        )
        lookups = (
            planned
            | "UnitTasks" >> beam.FlatMap(lambda p: [(unit, p[0]) for unit in p[1]])
            | "SpreadUnits" >> beam.Reshuffle()
            | "LookupSlices" >> beam.ParDo(LookupSlicesFn(config, work_dir))
        )
        return (
            (reference, lookups)
            | "BothSides" >> beam.Flatten()
            | "BySlice" >> beam.GroupByKey()
            | "MatchSlices" >> beam.FlatMap(match_slice)
            | "ByUnit" >> beam.GroupByKey()
            | "UnitDrops" >> beam.ParDo(UnitDropsFn(config, work_dir, runs))
        )
