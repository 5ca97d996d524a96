"""The corpus job: input files -> text -> URL, exact and near dedup -> filters -> tokens -> shards.

    python -m pipelines.corpus_job --input 'data/sample/*.warc.gz' --output out --name sample

Runs on Beam's in-process runner unless ``--runner`` names another (Dataflow, Flink, Spark); any
other ``--flag`` is passed to Beam. Outputs go to ``<output>/<name>/``; ``manifest.json`` is written
last, and a finished run is not redone unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from corpus.config import PipelineConfig
from corpus.manifest import MANIFEST_NAME
from corpus.readers.detect import input_format
from pipelines import files
from pipelines.stages.commit import CommitRun
from pipelines.stages.dedup import FindExactDuplicates, FindUrlDuplicates
from pipelines.stages.extract import ExtractFiles
from pipelines.stages.filter import FilterFiles
from pipelines.stages.near_dedup import FindNearDuplicates
from pipelines.stages.shard import WriteShards
from pipelines.stages.tokenizer import BuildTokenizer


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.corpus_job", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--input", action="append", required=True, help="input file or glob (repeatable)")
    parser.add_argument("--output", default="out", help="output root (local path, gs://, s3://)")
    parser.add_argument("--config", help="TOML pipeline config (see configs/sample.toml)")
    parser.add_argument("--name", help="run name (overrides the config's name)")
    parser.add_argument("--tokenizer", help="use this tokenizer.json instead of training one")
    parser.add_argument("--vocab-size", type=int, help="vocabulary size of a trained tokenizer")
    parser.add_argument("--languages", help="comma-separated language codes to keep ('' keeps all)")
    parser.add_argument("--force", action="store_true", help="redo a run that already finished")
    return parser.parse_known_args(argv)


def load_config(args: argparse.Namespace) -> PipelineConfig:
    data: dict = {}
    if args.config:
        data = PipelineConfig.from_toml(args.config).to_dict()
    if args.name:
        data["name"] = args.name
    tokenizer = data.setdefault("tokenizer", {})
    if args.tokenizer:
        tokenizer["path"] = args.tokenizer
    if args.vocab_size:
        tokenizer["vocab_size"] = args.vocab_size
    if args.languages is not None:
        data.setdefault("language", {})["languages"] = [c for c in args.languages.split(",") if c]
    return PipelineConfig.from_dict(data)


def make_pipeline(beam_args: list[str]) -> beam.Pipeline:
    options = PipelineOptions(beam_args)
    if any(a == "--runner" or a.startswith("--runner=") for a in beam_args):
        return beam.Pipeline(options=options)
    # The plain DirectRunner first tries to download Prism (no timeout): run in-process instead.
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    return beam.Pipeline(runner=fn_runner.FnApiRunner(), options=options)


def prepare_output(out_dir: str, force: bool) -> bool:
    """False if a finished run is there (and not forced); else clear what a crashed run left."""
    if FileSystems.exists(files.join(out_dir, MANIFEST_NAME)):
        if not force:
            return False
        FileSystems.delete([files.join(out_dir, MANIFEST_NAME)])
    if FileSystems.exists(out_dir):
        stale = [
            m.path
            for pattern in ("train_*", "val_*", "*.tmp", "work/*", "rejected/*", "docs/*", "clusters/*")
            for r in FileSystems.match([files.join(out_dir, pattern)])
            for m in r.metadata_list
        ]
        if stale:
            FileSystems.delete(stale)
    for sub in ("", "work", "work/shards", "docs", "rejected", "clusters"):
        files.makedirs(files.join(out_dir, sub) if sub else out_dir)
    return True


def build(pipeline: beam.Pipeline, inputs: list[str], config: PipelineConfig, out_dir: str) -> None:
    work = files.join(out_dir, "work")
    rejected = files.join(out_dir, "rejected")
    input_files = pipeline | "ListInputs" >> beam.Create(list(enumerate(inputs)))
    extracted = input_files | "Extract" >> ExtractFiles(config, work, rejected)
    # URL dedup first (a page crawled twice keeps its newest copy), then exact dedup on what it
    # kept, then near dedup on what both kept: a later stage never drops the copy an earlier one
    # kept in place of others. With exact dedup off, identical texts are near duplicates at
    # Jaccard 1 and one of them still goes.
    earlier = pipeline | "NoDrops" >> beam.Create([])
    if config.dedup.url != "off":
        earlier = extracted.url_keys | "UrlDedup" >> FindUrlDuplicates()
    if config.dedup.exact:
        exact_drops = extracted.keys | "ExactDedup" >> FindExactDuplicates(earlier)
        earlier = (earlier, exact_drops) | "UrlAndExactDrops" >> beam.Flatten()
    drops = [earlier]
    if config.near_dedup.enabled:
        clusters = files.join(out_dir, "clusters")
        drops.append(
            extracted.minhash | "NearDedup" >> FindNearDuplicates(config.near_dedup, work, clusters, earlier)
        )
    all_drops = drops | "AllDrops" >> beam.Flatten()
    filtered = extracted.files | "Filter" >> FilterFiles(
        config, files.join(out_dir, "docs"), rejected, all_drops
    )
    tokenizer = filtered | "Tokenizer" >> BuildTokenizer(
        config.tokenizer, files.join(out_dir, "tokenizer.json")
    )
    sharded = filtered | "Shard" >> WriteShards(config, files.join(work, "shards"), tokenizer)
    _ = (
        (extracted.files, filtered, sharded)
        | "AllCounts" >> beam.Flatten()
        | "CommitRun" >> CommitRun(out_dir, config.to_dict(), config.tokenizer.bos_token, tokenizer)
    )


def run(argv: Sequence[str] | None = None) -> int:
    args, beam_args = parse_args(argv)
    try:
        config = load_config(args)
        inputs = files.list_inputs(args.input)
        for path in inputs:
            input_format(path, config.input)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out_dir = files.join(args.output, config.name)
    if not prepare_output(out_dir, args.force):
        print(f"{out_dir}: already finished ({MANIFEST_NAME} exists); --force redoes it")
        return 0
    started = time.time()
    pipeline = make_pipeline(beam_args)
    build(pipeline, inputs, config, out_dir)
    pipeline.run().wait_until_finish()
    work = files.join(out_dir, "work")
    if FileSystems.exists(work):
        FileSystems.delete([work])
    summary = json.loads(files.read_bytes(files.join(out_dir, "summary.json")))
    print_summary(summary, out_dir, time.time() - started)
    return 0


def print_summary(summary: dict, out_dir: str, seconds: float) -> None:
    docs = summary["documents"]
    print(
        f"corpus job finished in {seconds:.1f} s: {docs['in']} documents in, {docs['kept']} kept, "
        f"{docs['rejected']} rejected"
    )
    for stage in summary["stages"]:
        reasons = ", ".join(f"{k} {v}" for k, v in stage["rejected_by_reason"].items())
        modified = ", ".join(f"{k} {v}" for k, v in stage.get("modified", {}).items())
        print(
            f"  {stage['stage']:<12} in {stage['in']:>6}  kept {stage['kept']:>6}"
            f"  rejected {stage['rejected']:>5}"
            + (f"  ({reasons})" if reasons else "")
            + (f"  [changed: {modified}]" if modified else "")
        )
    for split, t in summary["tokens"].items():
        print(f"  {split}: {t['tokens']} tokens in {t['documents']} documents, {t['shards']} shard(s)")
    print(
        f"outputs: {out_dir}/ (manifest.json, summary.json, tokenizer.json, train_*/val_* shards, "
        "docs/, rejected/, clusters/)"
    )


if __name__ == "__main__":
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    sys.exit(run())
