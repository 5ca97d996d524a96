"""Exact dedup: only (text hash, id hash, id) keys go through the shuffle, never text."""

from __future__ import annotations

import apache_beam as beam

from corpus.steps import duplicate_decisions


class FindExactDuplicates(beam.PTransform):
    """(text_hash, (id_hash, id, file index, position)) -> (file index, (position, ``exact_dedup``,
    kept id)) for every dropped occurrence."""

    def expand(self, keys: beam.PCollection) -> beam.PCollection:
        return (
            keys
            | "GroupByTextHash" >> beam.GroupByKey()
            | "ChooseKeeper" >> beam.FlatMap(lambda kv: duplicate_decisions(kv[1]))
        )
