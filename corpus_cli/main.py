"""corpus: raw web data to a pretraining corpus and a trained model, in one tool.

    corpus crawl --seeds seeds.txt --name docs      # WARC files from a polite crawl
    corpus build --input 'crawl/docs/warc/*.warc.gz' --name docs
    corpus shards verify out/docs                   # headers, .idx, checksums, tokenizer
    corpus report out/docs --train runs/docs        # one offline HTML file + Markdown
    corpus train --data out/docs --out runs/docs

Every command has --help. With no input, `corpus build` builds the bundled sample.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from corpus.errors import error_line, shown_as_line
from corpus_cli import build, cluster, crawl, export, generate, plan, report, sft, shards, status, train

# Commands that hand their whole argument list to a job's own parser (one definition of its
# flags, the same as `python -m pipelines.corpus_job` and friends, with `corpus ...` as prog).
PASS_THROUGH: dict[str, ModuleType] = {"crawl": crawl, "build": build, "train": train}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="corpus",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = p.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name, module in PASS_THROUGH.items():
        subparsers.add_parser(name, help=module.HELP, add_help=False)
    for module in (shards, report, status, cluster, sft, export, generate, plan):
        module.add_parser(subparsers)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASS_THROUGH:
        return PASS_THROUGH[argv[0]].main(argv[1:])
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as e:
        # Bad input (a missing or damaged run, a wrong argument) is a message, not a traceback;
        # any other error is a bug and keeps its traceback (corpus/errors.py).
        if not shown_as_line(e):
            raise
        print(error_line(e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
