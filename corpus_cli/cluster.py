"""``corpus cluster RUN ID``: print a near-duplicate group, each removed member diffed against
its witness."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "cluster",
        help="explain a near-duplicate group of a finished run",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
    )
    p.add_argument("run", help="the run's output folder (e.g. out/sample)")
    p.add_argument("id", help="a document id or cluster id (see clusters/*.parquet or rejected/)")
    p.add_argument("--lines", type=int, default=40, help="diff lines shown per removed member")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from corpus.dedup.explain import find_group, render

    group = find_group(args.run, args.id)
    sys.stdout.write(render(group, args.lines))
    return 0
