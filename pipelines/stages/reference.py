"""Dedup against earlier runs (``dedup.reference``): per unit, the documents whose URL, text or
near duplicate is in a reference run's corpus (corpus/dedup/reference.py). Runs before the run's
own dedup stages, which then leave these documents out."""

from __future__ import annotations

import apache_beam as beam

from corpus.config import PipelineConfig
from corpus.dedup.keys import payload_of
from corpus.dedup.reference import Reference, reference_drops
from corpus.records import row_groups
from pipelines import files
from pipelines.stages.extract import keys_path, payload_path


class ReferenceDropsFn(beam.DoFn):
    def __init__(self, config: PipelineConfig, work_dir: str) -> None:
        self.config = config
        self.work_dir = work_dir

    def setup(self) -> None:
        # Every reference index, as sorted arrays, once per worker.
        self.reference = Reference(self.config.dedup.reference, self.config)

    def process(self, result: dict):
        unit = result["index"]

        def payload(positions: set[int]):
            with files.open_input(payload_path(self.work_dir, unit), decompress=False) as f:
                return payload_of(row_groups(f), positions)

        with files.open_input(keys_path(self.work_dir, unit), decompress=False) as f:
            keys = row_groups(f, columns=["position", "url_key", "text_hash", "bands"])
            for drop in reference_drops(keys, payload, self.reference):
                yield unit, drop


class ReferenceDedup(beam.PTransform):
    """Per-unit results -> (unit, (position, stage, reference id, similarity, reason)) drops."""

    def __init__(self, config: PipelineConfig, work_dir: str) -> None:
        super().__init__()
        self.fn = ReferenceDropsFn(config, work_dir)

    def expand(self, results: beam.PCollection) -> beam.PCollection:
        return results | beam.ParDo(self.fn)
