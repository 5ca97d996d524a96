"""``corpus crawl``: the crawl job, rounds of generate, fetch and update (pipelines/crawl_job.py)."""

from __future__ import annotations

from collections.abc import Sequence

HELP = "crawl from seed URLs into WARC files, politely and resumably"


def main(argv: Sequence[str]) -> int:
    import logging

    from pipelines.crawl_job import run

    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    return run(argv, prog="corpus crawl")
