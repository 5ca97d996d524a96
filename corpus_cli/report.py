"""``corpus report RUN``: one offline HTML file and a Markdown summary of a finished run."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write an offline HTML report and a Markdown summary of a finished run",
        description="Build report.html (self-contained: data and SVG plots inside, no network "
        "requests) and report.md from a run's outputs, without rerunning anything: the funnel "
        "through the stages, rejection reasons, languages, lengths, quality values, duplicate "
        "clusters, domains, shards, samples, and the crawl and training runs when given.",
    )
    p.add_argument("run", help="the corpus run's output folder (e.g. out/sample)")
    p.add_argument("--train", help="a training run's folder (e.g. runs/sample): loss and validation curves")
    p.add_argument("--crawl", help="the crawl the run read (default: found from the run's inputs)")
    p.add_argument("--compare", metavar="OTHER_RUN", help="another run: differences per stage and reason")
    p.add_argument("--out", help="folder for report.html and report.md (default: the run's folder)")
    p.add_argument("--samples", type=int, default=3, help="sample documents shown per reason (default 3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corpus.report.build import write_report

    html_path, md_path = write_report(
        args.run, out=args.out, train=args.train, crawl=args.crawl, compare=args.compare,
        samples=args.samples,
    )  # fmt: skip
    print(f"report: {html_path}")
    print(f"summary: {md_path}")
    return 0
