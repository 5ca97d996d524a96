"""Per unit: apply the global dedup decisions to the filtered documents, streaming row group by
row group into ``docs/NNNNNN.parquet`` (kept) and ``rejected/dedup-NNNNNN.parquet``.

Each unit also reports how many bytes of kept text fall in each id-hash bucket, from which the
tokenizer's training sample is chosen (the documents with the smallest id hashes, up to a byte
budget: the same sample whatever the order of arrival).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import apache_beam as beam

from corpus.config import PipelineConfig
from corpus.records import ParquetSink, documents_of, documents_table, rejections_table, row_groups
from corpus.steps import dedup_step, unit_drops
from corpus.summary import merge
from corpus.tokenize import sample_bucket
from pipelines import files
from pipelines.stages.extract import filtered_path, marker_path
from pipelines.stats import peak_rss_mb
from schemas.document import DOCUMENT_SCHEMA, REJECTED_SCHEMA


def docs_path(docs_dir: str, unit: int) -> str:
    return files.join(docs_dir, f"{unit:06d}.parquet")


class DropDuplicatesFn(beam.DoFn):
    def __init__(self, config: PipelineConfig, work_dir: str, docs_dir: str, rejected_dir: str) -> None:
        self.config = config
        self.work_dir = work_dir
        self.docs_dir = docs_dir
        self.rejected_dir = rejected_dir

    def process(self, element: tuple[int, dict]):
        unit, grouped = element
        marker = marker_path(self.work_dir, "dedup", unit)
        result = files.read_json(marker)
        if result is None:
            result = self.run_unit(unit, grouped["drops"])
            files.write_json(marker, result)
        yield result

    def run_unit(self, unit: int, drops) -> dict[str, Any]:
        started = time.perf_counter()
        decided = unit_drops(drops, self.config)
        counts: list[dict] = []
        buckets: dict[str, int] = {}
        position = 0
        kept_bytes = 0
        with contextlib.ExitStack() as stack:
            source = stack.enter_context(
                files.open_input(filtered_path(self.work_dir, unit), decompress=False)
            )
            docs_out = ParquetSink(
                stack.enter_context(files.atomic_output(docs_path(self.docs_dir, unit))), DOCUMENT_SCHEMA
            )
            stack.callback(docs_out.close)
            rejected_out = ParquetSink(
                stack.enter_context(
                    files.atomic_output(files.join(self.rejected_dir, f"dedup-{unit:06d}.parquet"))
                ),
                REJECTED_SCHEMA,
            )
            stack.callback(rejected_out.close)
            for table in row_groups(source):
                docs = documents_of(table)
                result = dedup_step(zip(range(position, position + len(docs)), docs, strict=True), decided)
                position += len(docs)
                counts.append(result.counts)
                docs_out.write(documents_table(result.documents))
                rejected_out.write(rejections_table(result.rejections))
                for doc in result.documents:
                    size = len(doc.text.encode("utf-8"))
                    kept_bytes += size
                    bucket = str(sample_bucket(doc.id_hash))
                    buckets[bucket] = buckets.get(bucket, 0) + size
        return {
            "index": unit,
            "path": docs_path(self.docs_dir, unit),
            "counts": merge(counts),
            "skipped": {},
            "sample_buckets": buckets,
            "stats": {
                "stage": "dedup_apply",
                "seconds": time.perf_counter() - started,
                "bytes_out": kept_bytes,
                "documents": position,
                "peak_rss_mb": peak_rss_mb(),
            },
        }


class DropDuplicates(beam.PTransform):
    """Per-unit results of the filter pass + (unit, (position, stage, kept id)) drops -> per-unit
    results of kept documents (``docs/``). Drops meet their unit in a ``CoGroupByKey``, so a
    worker holds one unit's decisions, never all of them."""

    def __init__(
        self, config: PipelineConfig, work_dir: str, docs_dir: str, rejected_dir: str, drops: beam.PCollection
    ) -> None:
        super().__init__()
        self.fn = DropDuplicatesFn(config, work_dir, docs_dir, rejected_dir)
        self.drops = drops

    def expand(self, units: beam.PCollection) -> beam.PCollection:
        by_index = units | "ByIndex" >> beam.Map(lambda r: (r["index"], r["index"]))
        return (
            {"unit": by_index, "drops": self.drops}
            | "JoinDrops" >> beam.CoGroupByKey()
            | "DropDuplicates" >> beam.ParDo(self.fn)
        )
