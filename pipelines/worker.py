"""Beam's SDK worker process for the multi-processing engine, without its start-up chatter.

Beam starts each worker as ``python -m apache_beam.runners.worker.sdk_worker_main``, which logs
about fifteen INFO lines on start (channels established, harness starting) and a warning that
it has no semi-persistent directory, to the job's stderr: per worker, per run. This module runs
the same worker with Beam's loggers at WARNING, so a user sees warnings and errors only;
``pipelines.engines`` points the multi-processing environment at it.
"""

from __future__ import annotations

import sys

from pipelines.quiet import quiet_beam_logs


def main() -> None:
    quiet_beam_logs()
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
