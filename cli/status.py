"""``corpus status RUN``: what a long job is doing now, from the heartbeat file it keeps."""

from __future__ import annotations

import argparse
import sys


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

    try:
        beat = read_heartbeat(args.run)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(describe(beat))
    return 0
