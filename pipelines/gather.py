"""Bring small values together without side inputs.

Side inputs are not cheap on every runner: Beam's DaskRunner computes a side input's whole
upstream graph again inside the task that reads it. These joins are plain shuffles, the same on
every runner.
"""

from __future__ import annotations

import apache_beam as beam
import xxhash


class GatherAll(beam.PTransform):
    """A PCollection -> one element: the list of all its elements (none if it is empty)."""

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return (
            pcoll
            | "ToOneKey" >> beam.Map(lambda x: (None, x))
            | "Group" >> beam.GroupByKey()
            | "AsList" >> beam.MapTuple(lambda _, xs: list(xs))
        )


class CountAll(beam.PTransform):
    """A PCollection -> one element: how many elements it has (none if it is empty)."""

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return (
            pcoll
            | "OneEach" >> beam.Map(lambda _x: (None, 1))
            | "Sum" >> beam.CombinePerKey(sum)
            | "Total" >> beam.Values()
        )


def spread_key(value: object, buckets: int) -> int:
    """A bucket for ``value`` that is the same in every process (unlike ``hash()`` of a str)."""
    return xxhash.xxh3_64_intdigest(repr(value).encode("utf-8")) % buckets


class WithValue(beam.PTransform):
    """Elements + a PCollection of one value -> (element, value) pairs, by a join on ``buckets``
    keys: each group holds 1/buckets of the elements. Nothing comes out if the value is missing."""

    def __init__(self, value: beam.PCollection, buckets: int = 256) -> None:
        super().__init__()
        self.value = value
        self.buckets = buckets

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        n = self.buckets
        keyed = pcoll | "Spread" >> beam.Map(lambda x: (spread_key(x, n), x))
        copies = self.value | "CopyToEachBucket" >> beam.FlatMap(lambda v: [(b, v) for b in range(n)])
        return (
            {"items": keyed, "value": copies}
            | "Join" >> beam.CoGroupByKey()
            | "Pair"
            >> beam.FlatMap(lambda kv: [(x, v) for v in list(kv[1]["value"])[:1] for x in kv[1]["items"]])
        )
