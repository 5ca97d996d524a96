"""Crawl the sample offline, then build a corpus from the crawl: ``make crawl-sample``.

Serves the sample's Debian Reference chapters on a loopback address (tests/support/sites.py), crawls them
with ``pipelines.crawl_job`` (robots.txt, politeness, WARC output), then runs
``pipelines.corpus_job`` on the crawl's WARC files. What a crawl of real sites looks like,
without a network.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipelines import corpus_job, crawl_job
from tests.support.sites import docs_site, sample_pages

ROBOTS = b"User-agent: *\nDisallow: /doc/*.ja.html$\nCrawl-delay: 0.05\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="crawl")
    parser.add_argument("--name", default="sample")
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args(argv)
    site = docs_site(args.address, sample_pages(), ROBOTS).start()
    try:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        seeds = out / "seeds.txt"
        seeds.write_text(site.url("/") + "\n", "utf-8")
        rc = crawl_job.run(
            ["--seeds", str(seeds), "--output", str(out), "--name", args.name, "--min-delay", "0.05",
             "--allow-network", f"{args.address}/32", "--rounds", "3"]
        )  # fmt: skip
        if rc:
            return rc
    finally:
        site.stop()
    print(json.dumps(json.loads((out / args.name / "crawl_summary.json").read_text("utf-8"))["by_reason"]))
    return corpus_job.run(
        [
            "--input",
            str(out / args.name / "warc" / "*.warc.gz"),
            "--output",
            "out",
            "--name",
            f"crawl-{args.name}",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
