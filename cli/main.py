"""corpus: raw web data to a pretraining corpus and a trained model, in one tool."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cli import cluster


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="corpus", description=__doc__.split("\n")[0].split(": ", 1)[1])
    subparsers = p.add_subparsers(title="commands", metavar="COMMAND", required=True)
    cluster.add_parser(subparsers)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
