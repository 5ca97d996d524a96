"""Read each input file and extract plain text: one Parquet of documents per input file."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from corpus.config import PipelineConfig
from corpus.dedup.url import member as url_member
from corpus.dedup.url import url_key
from corpus.readers.detect import input_format, read_documents_of
from corpus.records import documents_table, rejections_table, write_parquet
from corpus.steps import extract_step, near_dedup_keys
from pipelines import files
from pipelines.stages.near_dedup import payload_path

KEYS = "keys"
URL_KEYS = "url_keys"
MINHASH = "minhash"


class ExtractFileFn(beam.DoFn):
    def __init__(self, config: PipelineConfig, work_dir: str, rejected_dir: str) -> None:
        self.config = config
        self.work_dir = work_dir
        self.rejected_dir = rejected_dir
        self.documents = Metrics.counter("extract", "documents")
        self.rejected = Metrics.counter("extract", "rejected")

    def process(self, element: tuple[int, str]):
        index, path = element
        skipped: dict[str, int] = {}
        fmt = input_format(path, self.config.input)
        with files.open_input(path, decompress=fmt == "jsonl") as stream:
            result = extract_step(read_documents_of(stream, path, self.config.input, skipped), self.config)
        out = files.join(self.work_dir, f"extracted-{index:06d}.parquet")
        files.write_atomic(out, lambda f: write_parquet(documents_table(result.documents), f))
        rejected = files.join(self.rejected_dir, f"extract-{index:06d}.parquet")
        files.write_atomic(rejected, lambda f: write_parquet(rejections_table(result.rejections), f))
        self.documents.inc(len(result.documents))
        self.rejected.inc(len(result.rejections))
        by_url = self.config.dedup.url == "all" or (self.config.dedup.url == "warc" and fmt == "warc")
        for position, doc in enumerate(result.documents):
            yield beam.pvalue.TaggedOutput(KEYS, (doc.text_hash, (doc.id_hash, doc.id, index, position)))
            key = url_key(doc.url) if by_url else None
            if key is not None:
                yield beam.pvalue.TaggedOutput(URL_KEYS, (key, url_member(doc.id, doc.date, index, position)))
        if self.config.near_dedup.enabled:
            keys = near_dedup_keys(result.documents, self.config, index)
            payload = payload_path(self.work_dir, index)
            files.write_atomic(payload, lambda f: f.write(keys.payload))
            for record in keys.records:
                yield beam.pvalue.TaggedOutput(MINHASH, record)
        yield {"index": index, "path": out, "counts": result.counts, "skipped": skipped}


class ExtractFiles(beam.PTransform):
    """(index, path) of input files -> per-file results; tagged ``keys`` for exact dedup,
    ``url_keys`` for URL dedup and ``minhash`` (band keys) for near dedup."""

    def __init__(self, config: PipelineConfig, work_dir: str, rejected_dir: str) -> None:
        super().__init__()
        self.fn = ExtractFileFn(config, work_dir, rejected_dir)

    def expand(self, inputs: beam.PCollection) -> Any:
        return inputs | beam.ParDo(self.fn).with_outputs(KEYS, URL_KEYS, MINHASH, main="files")
