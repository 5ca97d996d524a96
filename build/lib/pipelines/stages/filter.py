"""Drop exact and near duplicates by the global decisions, identify languages (lid.176), apply
the quality rules."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from corpus.config import PipelineConfig
from corpus.filters.language import LanguageIdentifier
from corpus.filters.quality import load_stop_words
from corpus.filters.safety import SafetyChecker
from corpus.records import documents_table, read_documents, rejections_table, write_parquet
from corpus.steps import filter_step
from pipelines import files


class FilterFileFn(beam.DoFn):
    def __init__(self, config: PipelineConfig, docs_dir: str, rejected_dir: str) -> None:
        self.config = config
        self.docs_dir = docs_dir
        self.rejected_dir = rejected_dir
        self.kept = Metrics.counter("filter", "kept")
        self.rejected = Metrics.counter("filter", "rejected")

    def setup(self) -> None:
        # The model loads once per worker, not per file.
        self.identifier = LanguageIdentifier(self.config.language.model_path or None)
        self.stop_words = load_stop_words(self.config.quality.stop_words_dir)
        self.safety = SafetyChecker(self.config.safety)

    def process(self, element: tuple[int, dict]):
        index, grouped = element
        (extracted,) = grouped["file"]
        with files.open_input(extracted["path"], decompress=False) as f:
            docs = read_documents(f)
        result = filter_step(
            docs, grouped["drops"], self.identifier, self.config, self.stop_words, self.safety
        )
        out = files.join(self.docs_dir, f"{index:06d}.parquet")
        files.write_atomic(out, lambda f: write_parquet(documents_table(result.documents), f))
        rejected = files.join(self.rejected_dir, f"filter-{index:06d}.parquet")
        files.write_atomic(rejected, lambda f: write_parquet(rejections_table(result.rejections), f))
        self.kept.inc(len(result.documents))
        self.rejected.inc(len(result.rejections))
        yield {"index": index, "path": out, "counts": result.counts, "skipped": {}}


class FilterFiles(beam.PTransform):
    """Per-file extraction results -> per-file Parquet of kept documents (``docs/``).

    ``drops`` are (file index, (position, stage, kept id)); they meet their file in a
    ``CoGroupByKey``, so a worker holds one file's decisions, never all of them."""

    def __init__(self, config: PipelineConfig, docs_dir: str, rejected_dir: str, drops: beam.PCollection):
        super().__init__()
        self.fn = FilterFileFn(config, docs_dir, rejected_dir)
        self.drops = drops

    def expand(self, extracted: beam.PCollection) -> beam.PCollection:
        by_index = extracted | "ByIndex" >> beam.Map(lambda r: (r["index"], r))
        return (
            {"file": by_index, "drops": self.drops}
            | "JoinDrops" >> beam.CoGroupByKey()
            | "FilterFile" >> beam.ParDo(self.fn)
        )
