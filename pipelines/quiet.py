"""Beam's log lines that are not for our users: its import-time notice that the BigQuery client
libraries are missing (we use none), its workers' start-up INFO lines, and the traceback it logs
of a worker's bad input, which the command shows as one line. Imported by the
package before any job imports Beam (``pipelines/__init__.py``) and by ``pipelines.worker``."""

from __future__ import annotations

import logging

from corpus.errors import shown_as_line

QUIET = {
    "apache_beam": logging.WARNING,
    # "No semi_persistent_directory found": the local workers have none, by design.
    "apache_beam.runners.worker.sdk_worker_main": logging.ERROR,
}


class _NotApitools(logging.Filter):
    """Beam's import-time notice that the BigQuery client libraries are missing (we use none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


class _ShownAsOneLine(logging.Filter):
    """A worker's bad input (corpus/errors.py), which Beam logs with its traceback before it
    re-raises it: the command prints it as one ``error:`` line (CORPUS_DEBUG=1 keeps the log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return error is None or not shown_as_line(error)


def quiet_beam_logs() -> None:
    for name, level in QUIET.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().addFilter(_NotApitools())
    logging.getLogger("apache_beam.runners.common").addFilter(_ShownAsOneLine())
