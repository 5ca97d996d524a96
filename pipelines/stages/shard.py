"""Tokenize each unit's kept documents and write its part of the train/val shards."""

from __future__ import annotations

import hashlib
import time

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from corpus.config import PipelineConfig
from corpus.errors import InputError
from corpus.records import documents_of, row_groups, write_parquet
from corpus.shards import write_shard
from corpus.steps import shard_step
from corpus.summary import count
from corpus.tokenize import DocumentEncoder
from pipelines import files
from pipelines.stages.extract import marker_path
from pipelines.stats import unit_finished

SUFFIXES = (".bin", ".idx", ".docs.parquet")


class ShardFileFn(beam.DoFn):
    def __init__(self, config: PipelineConfig, work_dir: str, shard_dir: str) -> None:
        self.config = config
        self.work_dir = work_dir
        self.shard_dir = shard_dir
        self.encoder: DocumentEncoder | None = None
        self.encoder_sha: str | None = None

    def process(self, element: tuple[int, dict]):
        unit, grouped = element
        (kept,) = grouped["kept"]
        (tokenizer,) = grouped["tokenizer"]
        marker = marker_path(self.work_dir, "shard", unit)
        done = files.read_json(marker)
        if done is not None and done["tokenizer_sha256"] == tokenizer["sha256"] and self._present(done):
            yield done
            return
        result = self.run_unit(unit, kept["path"], tokenizer)
        files.write_json(marker, result)
        yield result

    def _present(self, done: dict) -> bool:
        """The commit moves shard parts to their final names: after a crash in the commit, the
        parts of a finished unit may be gone, and the unit is tokenized again."""
        return all(FileSystems.exists(s["stem"] + suffix) for s in done["shards"] for suffix in SUFFIXES)

    def run_unit(self, unit: int, docs_path: str, tokenizer: dict) -> dict:
        started = time.perf_counter()
        if self.encoder_sha != tokenizer["sha256"]:  # built once per worker
            data = files.read_bytes(tokenizer["path"])
            if hashlib.sha256(data).hexdigest() != tokenizer["sha256"]:
                raise InputError(f"{tokenizer['path']}: changed while the job ran (sha256 differs)")
            self.encoder = DocumentEncoder(
                data.decode("utf-8"), self.config.tokenizer.bos_token, self.config.shard.document_token
            )
            self.encoder_sha = tokenizer["sha256"]
        assert self.encoder is not None
        documents = 0
        with files.open_input(docs_path, decompress=False) as f:
            # Row group by row group: the unit's text is never in memory at once.
            planned_shards = shard_step(
                (d for table in row_groups(f) for d in documents_of(table)), self.encoder, self.config
            )
        shards = []
        for planned in planned_shards:
            documents += len(planned.ids)
            route = f"{planned.language}-" if planned.language else ""
            stem = files.join(self.shard_dir, f"{planned.split}-{route}{unit:06d}-{planned.part:04d}")
            with files.atomic_output(stem + ".bin") as bin_f, files.atomic_output(stem + ".idx") as idx_f:
                bin_out, idx_out = _Hashing(bin_f), _Hashing(idx_f)
                stats = write_shard(
                    bin_out,
                    idx_out,
                    planned.tokens,
                    self.encoder.dtype,
                    self.encoder.bos_id,
                    self.encoder.position,
                )
            lineage = pa.table(
                {
                    "position": pa.array(range(len(planned.ids)), pa.int64()),
                    "id": pa.array(planned.ids, pa.string()),
                    "url": pa.array(planned.urls, pa.string()),
                    "tokens": pa.array([len(t) for t in planned.tokens], pa.int64()),
                }
            )
            files.write_atomic(stem + ".docs.parquet", lambda f, t=lineage: write_parquet(t, f))
            shards.append(
                {
                    "stem": stem,
                    "split": planned.split,
                    "language": planned.language,
                    "order": [unit, planned.part],
                    "tokens": stats.num_tokens,
                    "documents": stats.num_docs,
                    "dtype": self.encoder.dtype.name,
                    "bytes": bin_out.written,
                    "sha256": bin_out.digest.hexdigest(),
                    "idx_sha256": idx_out.digest.hexdigest(),
                }
            )
        counts: dict = {}
        count(counts, "shard", sum(s["documents"] for s in shards))
        return {
            "index": unit,
            "shards": shards,
            "counts": counts,
            "skipped": {},
            "tokenizer_sha256": tokenizer["sha256"],
            "stats": {
                "stage": "tokenize_shard",
                "seconds": time.perf_counter() - started,
                "documents": documents,
                "bytes_out": sum(s["bytes"] for s in shards),
                "peak_rss_mb": unit_finished(),
            },
        }


class _Hashing:
    """A write-only stream that also feeds a hash, so a shard is never held twice in memory."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.written = 0

    def write(self, data) -> int:
        self.digest.update(data)
        self.written += len(data)
        self.stream.write(data)
        return len(data)


class WriteShards(beam.PTransform):
    """Per-unit kept documents + the tokenizer -> per-unit shard parts (renamed into place at
    commit). The tokenizer meets each unit in a join, not a side input."""

    def __init__(self, config: PipelineConfig, work_dir: str, shard_dir: str, tokenizer, units: int) -> None:
        super().__init__()
        self.fn = ShardFileFn(config, work_dir, shard_dir)
        self.tokenizer = tokenizer
        self.units = units

    def expand(self, kept: beam.PCollection) -> beam.PCollection:
        n = self.units
        by_unit = kept | "ByUnit" >> beam.Map(lambda r: (r["index"], r))
        tokenizer = self.tokenizer | "ToEachUnit" >> beam.FlatMap(lambda t: [(i, t) for i in range(n)])
        return (
            {"kept": by_unit, "tokenizer": tokenizer}
            | "JoinTokenizer" >> beam.CoGroupByKey()
            | "Shard" >> beam.ParDo(self.fn)
        )
