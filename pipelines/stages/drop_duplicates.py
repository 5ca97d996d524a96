"""Per unit: apply the global dedup decisions to the filtered documents, streaming row group by
row group into ``docs/NNNNNN.parquet`` (kept) and ``rejected/dedup-NNNNNN.parquet``, and the kept
documents' dedup keys into ``dedup_index/NNNNNN.parquet`` (what a later run given this one as
``dedup.reference`` compares against: corpus/dedup/reference.py).

Each unit also reports how many bytes of kept text fall in each id-hash bucket, from which the
tokenizer's training sample is chosen (the documents with the smallest id hashes, up to a byte
budget: the same sample whatever the order of arrival).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import apache_beam as beam
import numpy as np

from corpus.config import PipelineConfig
from corpus.dedup.reference import INDEX_DIR, INDEX_SCHEMA, index_table
from corpus.records import ParquetSink, documents_of, documents_table, rejections_table, row_groups
from corpus.stage_steps import dedup_step, unit_drops
from corpus.summary import merge
from corpus.tokenize import sample_bucket
from pipelines import files
from pipelines.stages.extract import filtered_path, keys_path, marker_path
from pipelines.stats import unit_finished
from schemas.document import DOCUMENT_SCHEMA, REJECTED_SCHEMA


def docs_path(docs_dir: str, unit: int) -> str:
    return files.join(docs_dir, f"{unit:06d}.parquet")


def index_path(index_dir: str, unit: int) -> str:
    return files.join(index_dir, f"{unit:06d}.parquet")


class DropDuplicatesFn(beam.DoFn):
    def __init__(self, config: PipelineConfig, work_dir: str, out_dir: str) -> None:
        self.config = config
        self.work_dir = work_dir
        self.docs_dir = files.join(out_dir, "docs")
        self.rejected_dir = files.join(out_dir, "rejected")
        self.index_dir = files.join(out_dir, INDEX_DIR)

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
        io = files.start_counting()  # this unit's bytes read and written
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
            index_out = ParquetSink(
                stack.enter_context(files.atomic_output(index_path(self.index_dir, unit))), INDEX_SCHEMA
            )
            stack.callback(index_out.close)
            keys = row_groups(
                stack.enter_context(files.open_input(keys_path(self.work_dir, unit), decompress=False)),
                columns=INDEX_SCHEMA.names,
            )
            # The keys file has a row group per batch of the filtered documents, row for row.
            for table, key_table in zip(row_groups(source), keys, strict=True):
                docs = documents_of(table)
                positions = range(position, position + len(docs))
                result = dedup_step(zip(positions, docs, strict=True), decided)
                position += len(docs)
                counts.append(result.counts)
                docs_out.write(documents_table(result.documents))
                rejected_out.write(rejections_table(result.rejections))
                if key_table.num_rows != len(docs):
                    raise RuntimeError(f"unit {unit}: keys and documents differ in a row group")
                index_out.write(
                    index_table(key_table, np.array([p not in decided for p in positions], dtype=bool))
                )
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
                "peak_rss_mb": unit_finished(),
                **io.stop(),
            },
        }


class DropDuplicates(beam.PTransform):
    """Per-unit results of the filter pass + (unit, (position, stage, kept id)) drops -> per-unit
    results of kept documents (``docs/``). Drops meet their unit in a ``CoGroupByKey``, so a
    worker holds one unit's decisions, never all of them."""

    def __init__(self, config: PipelineConfig, work_dir: str, out_dir: str, drops: beam.PCollection) -> None:
        super().__init__()
        self.fn = DropDuplicatesFn(config, work_dir, out_dir)
        self.drops = drops

    def expand(self, units: beam.PCollection) -> beam.PCollection:
        by_index = units | "ByIndex" >> beam.Map(lambda r: (r["index"], r["index"]))
        return (
            {"unit": by_index, "drops": self.drops}
            | "JoinDrops" >> beam.CoGroupByKey()
            | "DropDuplicates" >> beam.ParDo(self.fn)
        )
