"""``corpus shards verify|inspect|decode RUN``: check, describe and read a run's token shards."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "shards",
        help="verify, inspect or decode a corpus run's token shards",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
    )
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)

    verify = actions.add_parser(
        "verify",
        help="headers, .idx, lineage, document tokens, token ids, checksums and tokenizer hash",
        description="Check every shard of a run against its manifest and tokenizer; list every "
        "problem found. Exit status 1 when there is one.",
    )
    verify.add_argument("run", help="the run's output folder (e.g. out/sample)")
    verify.add_argument("--no-checksums", action="store_true", help="skip the sha256 of every file (fast)")
    verify.set_defaults(func=run_verify)

    inspect = actions.add_parser(
        "inspect",
        help="counts, tokens per shard, language and source, document length histogram",
        description="Describe a run's shards: tokens and documents per split and shard, per language "
        "and source (joined with docs/), and the distribution of document lengths.",
    )
    inspect.add_argument("run", help="the run's output folder")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of tables")
    inspect.add_argument("--top", type=int, default=20, help="rows per table (default 20)")
    inspect.set_defaults(func=run_inspect)

    decode = actions.add_parser(
        "decode",
        help="a document back to text, by id, by shard and position, or by token offset",
        description="Print one document of the shards as text, with its id and source URL.",
    )
    decode.add_argument("run", help="the run's output folder")
    decode.add_argument("--id", help="the document's id (as in docs/ and *.docs.parquet)")
    decode.add_argument("--shard", help="a shard's name (e.g. train_000000)")
    decode.add_argument("--position", type=int, help="the document's number in --shard (from 0)")
    decode.add_argument("--offset", type=int, help="a token offset in --shard: the document holding it")
    decode.add_argument("--tokens", action="store_true", help="also print the token ids")
    decode.set_defaults(func=run_decode)


def run_verify(args: argparse.Namespace) -> int:
    from corpus.shards.check import check_run

    report = check_run(args.run, checksums=not args.no_checksums)
    for note in report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(f"problem: {problem}")
    if report.ok:
        checked = "sha256 checked" if not args.no_checksums else "sha256 not checked"
        print(
            f"{args.run}: ok: {report.shards} shards, {report.documents:,} documents, "
            f"{report.tokens:,} tokens ({checked})"
        )
        return 0
    print(f"{args.run}: {len(report.problems)} problem(s)")
    return 1


def run_inspect(args: argparse.Namespace) -> int:
    from corpus.shards.inspect import inspect_run, render

    info = inspect_run(args.run)
    sys.stdout.write(json.dumps(info, indent=1) + "\n" if args.json else render(info, args.top))
    return 0


def run_decode(args: argparse.Namespace) -> int:
    from corpus.shards.decode import decode

    doc = decode(args.run, args.id, args.shard, args.position, args.offset)
    print(
        f"# {doc.shard} document {doc.position} (tokens {doc.token_offset}-"
        f"{doc.token_offset + len(doc.tokens) - 1}, {len(doc.tokens)} tokens)"
    )
    print(f"# id: {doc.id}")
    print(f"# url: {doc.url}")
    if args.tokens:
        print("# token ids: " + " ".join(map(str, doc.tokens.tolist())))
    print(doc.text)
    return 0
