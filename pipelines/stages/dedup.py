"""Exact and URL dedup: only keys (text hash or URL, id hash, id, position) go through the
shuffle, never text."""

from __future__ import annotations

import apache_beam as beam

from corpus.steps import duplicate_decisions, url_decisions


class FindExactDuplicates(beam.PTransform):
    """(text_hash, (id_hash, id, file index, position)) -> (file index, (position, ``exact_dedup``,
    kept id)) for every dropped occurrence."""

    def expand(self, keys: beam.PCollection) -> beam.PCollection:
        return (
            keys
            | "GroupByTextHash" >> beam.GroupByKey()
            | "ChooseKeeper" >> beam.FlatMap(lambda kv: duplicate_decisions(kv[1]))
        )


class FindUrlDuplicates(beam.PTransform):
    """(url key, (-date, id_hash, id, file index, position)) + exact drops -> (file index,
    (position, ``url_dedup``, kept id)) for every dropped document.

    Documents exact dedup dropped take no part, so the two never drop both copies of a page."""

    def __init__(self, exact_drops: beam.PCollection) -> None:
        super().__init__()
        self.exact_drops = exact_drops

    def expand(self, keys: beam.PCollection) -> beam.PCollection:
        dropped = self.exact_drops | "ExactDropped" >> beam.Map(lambda kv: ((kv[0], kv[1][0]), True))
        by_position = keys | "ByPosition" >> beam.Map(lambda kv: ((kv[1][3], kv[1][4]), kv))
        return (
            {"key": by_position, "dropped": dropped}
            | "JoinExactDrops" >> beam.CoGroupByKey()
            | "SkipExactDuplicates" >> beam.FlatMap(lambda kv: [] if kv[1]["dropped"] else kv[1]["key"])
            | "GroupByUrl" >> beam.GroupByKey()
            | "ChooseNewest" >> beam.FlatMap(lambda kv: url_decisions(kv[1]))
        )
