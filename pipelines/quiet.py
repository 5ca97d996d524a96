"""Beam's log lines that are not for our users: its import-time notice that the BigQuery client
libraries are missing (we use none) and its workers' start-up INFO lines. Imported by the
package before any job imports Beam (``pipelines/__init__.py``) and by ``pipelines.worker``."""

from __future__ import annotations

import logging

QUIET = {
    "apache_beam": logging.WARNING,
    # "No semi_persistent_directory found": the local workers have none, by design.
    "apache_beam.runners.worker.sdk_worker_main": logging.ERROR,
}


class _NotApitools(logging.Filter):
    """Beam's import-time notice that the BigQuery client libraries are missing (we use none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


def quiet_beam_logs() -> None:
    for name, level in QUIET.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().addFilter(_NotApitools())
