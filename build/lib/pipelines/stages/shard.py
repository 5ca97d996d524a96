"""Tokenize each file's kept documents and write its part of the train/val shards."""

from __future__ import annotations

import hashlib
import io

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

from corpus.config import PipelineConfig
from corpus.records import read_documents, write_parquet
from corpus.shards import write_shard
from corpus.steps import shard_step
from corpus.summary import count
from corpus.tokenize import DocumentEncoder
from pipelines import files


class ShardFileFn(beam.DoFn):
    def __init__(self, config: PipelineConfig, shard_dir: str) -> None:
        self.config = config
        self.shard_dir = shard_dir
        self.encoder: DocumentEncoder | None = None
        self.encoder_key: str | None = None
        self.tokens = Metrics.counter("shard", "tokens")

    def process(self, element: dict, tokenizer_json: str):
        if self.encoder_key != tokenizer_json:  # built once per worker
            self.encoder = DocumentEncoder(tokenizer_json, self.config.tokenizer.bos_token)
            self.encoder_key = tokenizer_json
        assert self.encoder is not None
        index = element["index"]
        with files.open_input(element["path"], decompress=False) as f:
            docs = read_documents(f)
        shards = []
        for planned in shard_step(docs, self.encoder, self.config):
            route = f"{planned.language}-" if planned.language else ""
            stem = files.join(self.shard_dir, f"{planned.split}-{route}{index:06d}-{planned.part:04d}")
            bin_buf, idx_buf = io.BytesIO(), io.BytesIO()
            stats = write_shard(bin_buf, idx_buf, planned.tokens, self.encoder.dtype)
            for suffix, buf in ((".bin", bin_buf), (".idx", idx_buf)):
                files.write_atomic(stem + suffix, lambda f, b=buf: f.write(b.getvalue()))
            lineage = pa.table(
                {
                    "position": pa.array(range(len(planned.ids)), pa.int64()),
                    "id": pa.array(planned.ids, pa.string()),
                    "url": pa.array(planned.urls, pa.string()),
                    "tokens": pa.array([len(t) for t in planned.tokens], pa.int64()),
                }
            )
            files.write_atomic(stem + ".docs.parquet", lambda f, t=lineage: write_parquet(t, f))
            self.tokens.inc(stats.num_tokens)
            shards.append(
                {
                    "stem": stem,
                    "split": planned.split,
                    "language": planned.language,
                    "order": (index, planned.part),
                    "tokens": stats.num_tokens,
                    "documents": stats.num_docs,
                    "dtype": self.encoder.dtype.name,
                    "bytes": len(bin_buf.getvalue()),
                    "sha256": hashlib.sha256(bin_buf.getvalue()).hexdigest(),
                    "idx_sha256": hashlib.sha256(idx_buf.getvalue()).hexdigest(),
                }
            )
        counts: dict = {}
        count(counts, "shard", sum(s["documents"] for s in shards))
        yield {"index": index, "shards": shards, "counts": counts, "skipped": {}}


class WriteShards(beam.PTransform):
    """Per-file kept documents -> per-file shard parts (renamed into place at commit)."""

    def __init__(self, config: PipelineConfig, shard_dir: str, tokenizer: beam.PCollection) -> None:
        super().__init__()
        self.fn = ShardFileFn(config, shard_dir)
        self.tokenizer = tokenizer

    def expand(self, filtered: beam.PCollection) -> beam.PCollection:
        return filtered | beam.ParDo(self.fn, tokenizer_json=beam.pvalue.AsSingleton(self.tokenizer))
