"""The engines a Beam job runs on here: in one process (Beam's FnApiRunner), Beam's
multi-processing mode, or Beam's DaskRunner against a Dask cluster; any other runner through
``--runner``. Kept apart from the jobs so that a job imports only what it runs (the crawl job
does not need the corpus job's stages).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

ENGINES = ("auto", "inprocess", "multiprocess", "dask")


def choose_engine(engine: str, workers: int, units: int) -> str:
    """``auto``: one process when one worker or one unit would do the work anyway, else Beam's
    multi-processing mode (measured faster than Dask here for the same job; see BENCHMARKS.md)."""
    if engine != "auto":
        return engine
    return "inprocess" if workers <= 1 or units <= 1 else "multiprocess"


def make_pipeline(
    beam_args: list[str], engine: str, workers: int
) -> tuple[beam.Pipeline, contextlib.AbstractContextManager]:
    """The pipeline, and a context that owns what the engine needs running (a Dask cluster)."""
    if any(a == "--runner" or a.startswith("--runner=") for a in beam_args):
        return beam.Pipeline(options=PipelineOptions(beam_args)), contextlib.nullcontext()
    if engine == "dask":
        return _dask_pipeline(beam_args, workers)
    # The plain DirectRunner first tries to download Prism (no timeout): run in-process instead.
    if engine == "multiprocess":
        beam_args = [
            *beam_args,
            "--direct_running_mode=multi_processing",
            f"--direct_num_workers={workers}",
        ]
    return beam.Pipeline(runner=_runner(), options=PipelineOptions(beam_args)), contextlib.nullcontext()


BEAM_WORKER = f"{sys.executable} -m apache_beam.runners.worker.sdk_worker_main"
QUIET_WORKER = f"{sys.executable} -m pipelines.worker"


def _runner():
    """Beam's FnApiRunner, its multi-processing workers started through ``pipelines.worker`` (the
    same worker, without its start-up INFO lines on the user's terminal)."""
    from apache_beam.portability import python_urns
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    class QuietWorkersRunner(fn_runner.FnApiRunner):
        def run_via_runner_api(self, pipeline_proto, options):
            for env in pipeline_proto.components.environments.values():
                if env.urn == python_urns.SUBPROCESS_SDK and env.payload == BEAM_WORKER.encode():
                    env.payload = QUIET_WORKER.encode()
            return super().run_via_runner_api(pipeline_proto, options)

    return QuietWorkersRunner()


def _dask_pipeline(
    beam_args: list[str], workers: int
) -> tuple[beam.Pipeline, contextlib.AbstractContextManager]:
    """Beam's DaskRunner against ``--dask_client_address``, or a LocalCluster of one worker
    process per core that the job starts and stops."""
    stack = contextlib.ExitStack()
    if not any(a.startswith("--dask_client_address") for a in beam_args):
        import dask
        from distributed import LocalCluster

        for name in ("distributed", "bokeh"):
            logging.getLogger(name).setLevel(logging.WARNING)
        # The worker processes read DASK_* variables when they import Dask, then take the
        # job's configuration from their nanny.
        env = {"DASK_" + key.replace(".", "__").upper(): str(value) for key, value in DASK_WORKERS.items()}
        stack.enter_context(_environment(env))
        stack.enter_context(dask.config.set(DASK_WORKERS))
        cluster = stack.enter_context(
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        )
        beam_args = [*beam_args, f"--dask_client_address={cluster.scheduler_address}"]
    if not any(a.startswith(("--dask_npartitions", "--dask_partition_size")) for a in beam_args):
        # The DaskRunner puts up to 128 created elements in one partition (one task), so 8 units
        # would run on one worker; one partition per unit costs more in scheduling than it
        # gains (10 MB in 8 files: 175 s, against 52 s with a partition per worker).
        beam_args = [*beam_args, f"--dask_npartitions={workers}"]
    return beam.Pipeline(runner=_dask_runner(), options=PipelineOptions(beam_args)), stack


DASK_WORKERS: dict[str, object] = {
    # Beam's import-time warning gives the root logger a handler in every process that imports
    # Beam, so each worker's INFO start-up lines (about 17) would reach the user's terminal.
    "logging.distributed": "warning",
    # A worker's sampling profiler holds task frames and drops them on its own thread; a
    # Resiliparse HTML tree freed there raises (its objects are bound to the thread that made them).
    "distributed.worker.profile.enabled": False,
}


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """Environment variables set while the context lasts (inherited by processes started in it)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _dask_runner():
    """Beam's DaskRunner, its bags kept at ``--dask_npartitions`` partitions.

    The DaskRunner turns a Flatten into a concatenation of bags (the partitions add up) and a
    GroupByKey into a shuffle with as many partitions as its input; every CoGroupByKey is both,
    so the partitions grow with every join of a job. The sample's graph had 73,000 tasks (62,000
    of them shuffle splits) with 2 partitions asked for, and Dask's scheduling of them, not the
    work, took most of the run. Merging a Flatten's or a GroupByKey's partitions back to the
    number asked for keeps each shuffle at that width; the elements and their order within a
    partition are unchanged (a repartition concatenates neighbours).
    """
    from apache_beam.runners.dask.dask_runner import DaskRunner
    from apache_beam.runners.dask.overrides import _Flatten, _GroupByKeyOnly

    class BoundedPartitionsDaskRunner(DaskRunner):
        @staticmethod
        def to_dask_bag_visitor(bag_kwargs=None):
            visitor = DaskRunner.to_dask_bag_visitor(bag_kwargs)
            width = (bag_kwargs or {}).get("npartitions")

            class BoundedVisitor(type(visitor)):
                def visit_transform(self, transform_node) -> None:
                    super().visit_transform(transform_node)
                    bag = self.bags[transform_node]
                    widened = isinstance(transform_node.transform, (_Flatten, _GroupByKeyOnly))
                    if width and widened and bag.npartitions > width:
                        self.bags[transform_node] = bag.repartition(npartitions=width)

            return BoundedVisitor()

    return BoundedPartitionsDaskRunner()
