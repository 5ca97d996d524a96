"""The Dask engine's runner keeps Beam's bags at the partitions asked for. No cluster needed: the
bags are built lazily and computed by Dask's process pool, where each task unpickles its own copy
of the DoFn as on a cluster (in one process Beam's translation shares a ParDo's output list
between partitions)."""

from __future__ import annotations

import apache_beam as beam
import dask
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.dask.dask_runner import DaskRunner
from apache_beam.runners.dask.overrides import dask_overrides

from pipelines.engines import _dask_runner

WORDS = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat".split()


def joins(pipeline: beam.Pipeline) -> None:
    """Word counts joined with word lengths, three times over: a job of joins like ours."""
    counts = pipeline | "Words" >> beam.Create(WORDS) | "One" >> beam.Map(lambda w: (w, 1))
    lengths = (
        pipeline | "Distinct" >> beam.Create(sorted(set(WORDS))) | "Len" >> beam.Map(lambda w: (w, len(w)))
    )
    for round_ in range(3):
        joined = {"n": counts, "len": lengths} | f"Join{round_}" >> beam.CoGroupByKey()
        counts = joined | f"Sum{round_}" >> beam.Map(lambda kv: (kv[0], sum(kv[1]["n"])))


def bags(runner: DaskRunner, width: int) -> dict:
    pipeline = beam.Pipeline(runner=runner, options=PipelineOptions([]))
    joins(pipeline)
    pipeline.replace_all(dask_overrides())
    visitor = runner.to_dask_bag_visitor({"npartitions": width})
    pipeline.visit(visitor)
    return visitor.bags


def test_bags_stay_at_the_partitions_asked_for_and_give_the_same_result() -> None:
    plain, bounded = bags(DaskRunner(), 2), bags(_dask_runner(), 2)
    # Beam's own translation: partitions add up at every join (the widening this runner undoes).
    assert max(bag.npartitions for bag in plain.values()) >= 8  # 2 + 2 per join
    assert max(bag.npartitions for bag in bounded.values()) == 2
    last = [label for label in (node.full_label for node in plain) if label.startswith("Sum2")][-1]

    def result(found: dict) -> list:
        bag = next(bag for node, bag in found.items() if node.full_label == last)
        (values,) = dask.compute(bag, scheduler="processes", num_workers=2)
        return sorted(values)

    expected = sorted((w, WORDS.count(w)) for w in set(WORDS))
    assert result(bounded) == result(plain) == expected
