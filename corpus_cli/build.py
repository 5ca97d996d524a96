"""``corpus build``: the corpus job, from input files to token shards (pipelines/corpus_job.py)."""

from __future__ import annotations

from collections.abc import Sequence

HELP = "build a corpus: read, extract, filter, dedup, tokenize and write shards (default: the sample)"


def main(argv: Sequence[str]) -> int:
    import logging

    from pipelines.corpus_job import run

    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    return run(argv, prog="corpus build")
