"""``corpus status RUN``: what a long job is doing now, from the heartbeat file it keeps."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "status",
        help="show what a running (or stopped) build, crawl or training run is doing",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
    )
    p.add_argument("run", help="the run's folder (out/NAME, crawl/NAME or runs/NAME)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corpus.progress import describe, read_heartbeat

    beat = read_heartbeat(args.run)
    print(describe(beat))
    return 0
