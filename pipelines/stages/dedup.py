"""URL and exact dedup: only keys (URL or text hash, id hash, id, position) go through the
shuffle, never text. URL dedup runs first, on every document; exact dedup on what it kept; near
dedup (near_dedup.py) on what both kept. Each later stage leaves out what the earlier ones
dropped, so no stage drops the copy another one kept in place of a duplicate."""

from __future__ import annotations

import apache_beam as beam

from corpus.steps import duplicate_decisions, url_decisions


class SkipDropped(beam.PTransform):
    """((file index, position), value) -> value, for the documents ``drops`` do not name."""

    def __init__(self, drops: beam.PCollection) -> None:
        super().__init__()
        self.drops = drops

    def expand(self, keyed: beam.PCollection) -> beam.PCollection:
        dropped = self.drops | "DroppedPositions" >> beam.Map(lambda kv: ((kv[0], kv[1][0]), True))
        return (
            {"value": keyed, "dropped": dropped}
            | "JoinDrops" >> beam.CoGroupByKey()
            | "NotDropped" >> beam.FlatMap(lambda kv: [] if kv[1]["dropped"] else kv[1]["value"])
        )


class FindUrlDuplicates(beam.PTransform):
    """(url key, (-date, id_hash, id, file index, position)) [+ earlier drops: reference dedup's]
    -> (file index, (position, ``url_dedup``, kept id)) for every older copy of a URL."""

    def __init__(self, earlier_drops: beam.PCollection | None = None) -> None:
        super().__init__()
        self.earlier_drops = earlier_drops

    def expand(self, keys: beam.PCollection) -> beam.PCollection:
        if self.earlier_drops is not None:
            keys = (
                keys
                | "ByPosition" >> beam.Map(lambda kv: ((kv[1][3], kv[1][4]), kv))
                | "SkipEarlierDrops" >> SkipDropped(self.earlier_drops)
            )
        return (
            keys
            | "GroupByUrl" >> beam.GroupByKey()
            | "ChooseNewest" >> beam.FlatMap(lambda kv: url_decisions(kv[1]))
        )


class FindExactDuplicates(beam.PTransform):
    """(text_hash, (id_hash, id, file index, position)) + earlier drops -> (file index, (position,
    ``exact_dedup``, kept id)) for every dropped occurrence among the documents not dropped
    before."""

    def __init__(self, earlier_drops: beam.PCollection) -> None:
        super().__init__()
        self.earlier_drops = earlier_drops

    def expand(self, keys: beam.PCollection) -> beam.PCollection:
        return (
            keys
            | "ByPosition" >> beam.Map(lambda kv: ((kv[1][2], kv[1][3]), kv))
            | "SkipEarlierDrops" >> SkipDropped(self.earlier_drops)
            | "GroupByTextHash" >> beam.GroupByKey()
            | "ChooseKeeper" >> beam.FlatMap(lambda kv: duplicate_decisions(kv[1]))
        )
