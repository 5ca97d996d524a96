"""Per unit of input: read, extract plain text, filter (language, safety, quality, PII), and
write the kept documents and their dedup keys, a batch of documents at a time.

Memory per worker is bounded by ``input.batch_documents``, not by the size of a file: each
batch becomes a row group of ``work/filtered-NNNNNN.parquet`` (documents),
``work/keys-NNNNNN.parquet`` (dedup keys, no text), ``work/minhash-NNNNNN.parquet`` (shingle
sets for verification) and ``rejected/filter-NNNNNN.parquet``. A completion marker
(``work/done/filter-NNNNNN.json``) is written last; a rerun after a crash skips finished units
and only reads their keys back.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import apache_beam as beam

from corpus.config import PipelineConfig
from corpus.dedup.keys import KEYS_SCHEMA, PAYLOAD_SCHEMA, dedup_keys
from corpus.filters.language import LanguageIdentifier
from corpus.filters.quality import load_stop_words
from corpus.filters.safety import SafetyChecker
from corpus.readers.detect import read_documents_of
from corpus.records import ParquetSink, RawDocument, Rejection, documents_table, rejections_table
from corpus.stage_steps import extract_step, filter_step
from corpus.summary import merge
from corpus.units import WorkUnit
from pipelines import files
from pipelines.stats import unit_finished
from schemas.document import DOCUMENT_SCHEMA, REJECTED_SCHEMA

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def filtered_path(work_dir: str, unit: int) -> str:
    return files.join(work_dir, f"filtered-{unit:06d}.parquet")


def keys_path(work_dir: str, unit: int) -> str:
    return files.join(work_dir, f"keys-{unit:06d}.parquet")


def payload_path(work_dir: str, unit: int) -> str:
    return files.join(work_dir, f"minhash-{unit:06d}.parquet")


def marker_path(work_dir: str, stage: str, unit: int) -> str:
    return files.join(work_dir, "done", f"{stage}-{unit:06d}.json")


def by_url(config: PipelineConfig, fmt: str) -> bool:
    return config.dedup.url == "all" or (config.dedup.url == "warc" and fmt == "warc")


def _guarded(items: Iterator[RawDocument | Rejection], unit: WorkUnit) -> Iterator[RawDocument | Rejection]:
    """A file that cannot be read on (not Parquet at all, Arrow data cut short) ends its unit
    with a read rejection naming the file and the problem, not the job."""
    try:
        yield from items
    except ValueError as e:
        yield Rejection(f"{unit.path}@unit {unit.index}", None, unit.path, "read", "file_unreadable", str(e))


class ExtractAndFilterFn(beam.DoFn):
    def __init__(self, config: PipelineConfig, work_dir: str, rejected_dir: str) -> None:
        self.config = config
        self.work_dir = work_dir
        self.rejected_dir = rejected_dir

    def setup(self) -> None:
        # Models and lists load once per worker, not per unit.
        self.identifier = LanguageIdentifier(self.config.language.model_path or None)
        self.stop_words = load_stop_words(self.config.quality.stop_words_dir)
        self.safety = SafetyChecker(self.config.safety)

    def process(self, unit: WorkUnit):
        marker = marker_path(self.work_dir, "filter", unit.index)
        result = files.read_json(marker)
        if result is None:
            result = self.run_unit(unit)
            files.write_json(marker, result)
        yield result

    def run_unit(self, unit: WorkUnit) -> dict[str, Any]:
        started = time.perf_counter()
        io = files.start_counting()  # this unit's bytes read and written
        config = self.config
        skipped: dict[str, int] = {}
        counts: list[dict] = []
        position = 0
        text_bytes = 0
        documents = 0
        with contextlib.ExitStack() as stack:
            stream = stack.enter_context(files.open_input(unit.path, decompress=unit.format == "jsonl"))

            def sink(path: str, schema) -> ParquetSink:
                out = ParquetSink(stack.enter_context(files.atomic_output(path)), schema)
                stack.callback(out.close)  # closed before its file is renamed into place
                return out

            docs_out = sink(filtered_path(self.work_dir, unit.index), DOCUMENT_SCHEMA)
            keys_out = sink(keys_path(self.work_dir, unit.index), KEYS_SCHEMA)
            payload_out = (
                sink(payload_path(self.work_dir, unit.index), PAYLOAD_SCHEMA)
                if config.near_dedup.enabled
                else None
            )
            rejected_out = sink(
                files.join(self.rejected_dir, f"filter-{unit.index:06d}.parquet"), REJECTED_SCHEMA
            )
            items = _guarded(read_documents_of(stream, unit.path, config.input, skipped, unit), unit)
            for batch in batched(items, config.input.batch_documents):
                documents += len(batch)
                extracted = extract_step(batch, config)
                kept = filter_step(extracted.documents, self.identifier, config, self.stop_words, self.safety)
                counts += [extracted.counts, kept.counts]
                docs_out.write(documents_table(kept.documents))
                rejected_out.write(rejections_table(extracted.rejections + kept.rejections))
                keys, payload = dedup_keys(kept.documents, position, config, by_url(config, unit.format))
                keys_out.write(keys)
                if payload_out is not None and payload is not None:
                    payload_out.write(payload)
                position += len(kept.documents)
                text_bytes += sum(len(d.text.encode("utf-8")) for d in kept.documents)
        return {
            "index": unit.index,
            "counts": merge(counts),
            "skipped": skipped,
            "stats": {
                "stage": "extract_filter",
                "seconds": time.perf_counter() - started,
                "bytes_in": unit.bytes,
                "bytes_out": text_bytes,
                "documents": documents,
                "peak_rss_mb": unit_finished(),
                **io.stop(),
            },
        }


class ExtractAndFilter(beam.PTransform):
    """Work units -> per-unit results (counts, timings)."""

    def __init__(self, config: PipelineConfig, work_dir: str, rejected_dir: str) -> None:
        super().__init__()
        self.fn = ExtractAndFilterFn(config, work_dir, rejected_dir)

    def expand(self, units: beam.PCollection) -> beam.PCollection:
        return units | beam.ParDo(self.fn)
