"""Apache Beam graphs: one module per job with a ``run(argv)`` entry point."""

from pipelines.quiet import quiet_beam_logs

# Before any job imports Beam: its import-time notices (BigQuery client libraries missing: we
# use none) and its workers' start-up INFO lines are not for our users.
quiet_beam_logs()
