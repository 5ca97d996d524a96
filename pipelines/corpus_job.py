"""The corpus job: input files -> text -> filters -> URL, exact and near dedup -> tokens -> shards.

    python -m pipelines.corpus_job --input 'data/sample/*.warc.gz' --output out --name sample

Runs on Beam's in-process runner unless ``--runner`` names another (Dataflow, Flink, Spark); any
other ``--flag`` is passed to Beam. Outputs go to ``<output>/<name>/``; ``manifest.json`` is written
last, and a finished run is not redone unless ``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from corpus.config import PipelineConfig, apply_overrides
from corpus.dedup.reference import INDEX_DIR
from corpus.errors import InputError, error_line, shown_as_line
from corpus.manifest import MANIFEST_NAME
from corpus.progress import Progress
from corpus.units import WorkUnit
from pipelines import files
from pipelines.engines import ENGINES, choose_engine, make_pipeline
from pipelines.stages.commit import RUN_STATS_NAME, CommitRun
from pipelines.stages.dedup import FindExactDuplicates, FindUrlDuplicates
from pipelines.stages.drop_duplicates import DropDuplicates
from pipelines.stages.extract import ExtractAndFilter
from pipelines.stages.near_dedup import FindNearDuplicates
from pipelines.stages.reference import ReferenceDedup, check_references
from pipelines.stages.shard import WriteShards
from pipelines.stages.tokenizer import BuildTokenizer
from pipelines.stats import peak_rss_mb

SAMPLE_INPUT = "data/sample/*.warc.gz"
SAMPLE_CONFIG = "configs/sample.toml"


def parse_args(
    argv: Sequence[str] | None, prog: str = "python -m pipelines.corpus_job"
) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
        epilog="Flags it does not know go to Beam (e.g. --runner=DataflowRunner --project=...).",
    )
    parser.add_argument(
        "--input",
        action="append",
        help=f"input file or glob (repeatable; default: the bundled sample, {SAMPLE_INPUT}, "
        f"with {SAMPLE_CONFIG})",
    )
    parser.add_argument("--output", default="out", help="output root (local path, gs://, s3://)")
    parser.add_argument("--config", help="TOML pipeline config (see configs/sample.toml)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config field, e.g. --set language.min_score=0.5 (repeatable)",
    )
    parser.add_argument("--name", help="run name (overrides the config's name)")
    parser.add_argument("--tokenizer", help="use this tokenizer.json instead of training one")
    parser.add_argument("--vocab-size", type=int, help="vocabulary size of a trained tokenizer")
    parser.add_argument("--languages", help="comma-separated language codes to keep ('' keeps all)")
    parser.add_argument(
        "--force", action="store_true", help="redo everything, also a run that finished or units that did"
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="inprocess (one process), multiprocess (Beam's multi-processing mode), dask (Beam's "
        "DaskRunner on a local cluster, or --dask_client_address=HOST:PORT); auto: multiprocess "
        "when there is more than one worker and unit. A --runner=... flag overrides it",
    )
    parser.add_argument("--workers", type=int, default=0, help="worker processes (default: every core)")
    args, beam_args = parser.parse_known_args(argv)
    if not args.input:
        # From the project's folder as given (so outputs name the same inputs as `make pipeline`),
        # from anywhere else through this file's place in the project.
        root = Path(".") if Path(SAMPLE_CONFIG).exists() else Path(__file__).resolve().parent.parent
        args.input = [str(root / SAMPLE_INPUT)]
        if args.config is None:
            args.config = str(root / SAMPLE_CONFIG)
    return args, beam_args


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
    return PipelineConfig.from_dict(apply_overrides(data, args.set))


INPUTS_NAME = "inputs.json"
"""Beside the manifest: every input file with its size and modification time, as this run saw
them, so a later run with the same output can tell whether its input changed."""


def input_stamps(paths: list[str]) -> list[dict]:
    """Per input file: its path, size and modification time (through FileSystems, so gs:// and
    s3:// objects too): what tells a changed input from the same one without reading it."""
    stamps = []
    for path, result in zip(paths, FileSystems.match(paths), strict=True):
        meta = result.metadata_list[0] if result.metadata_list else None
        stamps.append(
            {
                "path": path,
                "bytes": meta.size_in_bytes if meta else 0,
                "mtime": meta.last_updated_in_seconds if meta else 0.0,
            }
        )
    return stamps


def fingerprint(config: PipelineConfig, units: list[WorkUnit], stamps: list[dict]) -> str:
    """What a rerun must share with the crashed run to reuse its finished units: the config, the
    units, and every input's size and modification time (an input rewritten in place to the same
    size is another input)."""
    data = {"config": config.to_dict(), "units": [dataclasses.asdict(u) for u in units], "inputs": stamps}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _normalised(config: dict) -> dict:
    """A config as the manifest holds it (JSON types; defaults filled in for fields an older run
    did not write)."""
    data = json.loads(json.dumps(config))
    with contextlib.suppress(ValueError, TypeError):
        data = json.loads(json.dumps(PipelineConfig.from_dict(data).to_dict()))
    return data


def _changed_fields(old: object, new: object, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            field
            for key in sorted(set(old) | set(new))
            for field in _changed_fields(old.get(key), new.get(key), f"{prefix}{key}.")
        ]
    return [] if old == new else [prefix.rstrip(".")]


def _changed_inputs(old: list[dict], new: list[dict]) -> list[str]:
    before = {s["path"]: s for s in old}
    now = {s["path"]: s for s in new}
    out = []
    for path in sorted(set(before) | set(now)):
        if path not in now:
            out.append(f"{path} (no longer an input)")
        elif path not in before:
            out.append(f"{path} (new)")
        elif (before[path]["bytes"], before[path]["mtime"]) != (now[path]["bytes"], now[path]["mtime"]):
            out.append(f"{path} (modified)")
    return out


def changes_since_finished(out_dir: str, config: PipelineConfig, stamps: list[dict]) -> list[str]:
    """How this run differs from the finished run in ``out_dir``: its config fields (dotted
    names) and input files that changed. A run from before inputs were recorded is compared by
    its config only."""
    manifest = files.read_json(files.join(out_dir, MANIFEST_NAME)) or {}
    fields = _changed_fields(_normalised(manifest.get("config", {})), _normalised(config.to_dict()))
    changes = [f"config {field}" for field in fields]
    recorded = files.read_json(files.join(out_dir, INPUTS_NAME))
    if recorded is not None:
        changes += [f"input {change}" for change in _changed_inputs(recorded["inputs"], stamps)]
    return changes


def _refusal(out_dir: str, changes: list[str]) -> InputError:
    shown = "; ".join(changes[:8]) + (f"; and {len(changes) - 8} more" if len(changes) > 8 else "")
    return InputError(
        f"{out_dir}: a finished run with another config or input is there (changed: {shown}); "
        "--force redoes it, or give this run another --name or --output"
    )


OUTPUT_DIRS = ("work", "work/done", "work/shards", "docs", "rejected", "clusters", INDEX_DIR)


def _matching(out_dir: str, patterns: tuple[str, ...]) -> list[str]:
    return [
        m.path
        for pattern in patterns
        for r in FileSystems.match([files.join(out_dir, pattern)])
        for m in r.metadata_list
    ]


def prepare_output(
    out_dir: str, force: bool, config: PipelineConfig, units: list[WorkUnit], stamps: list[dict], say=print
) -> bool:
    """False if the same run finished there (same config and inputs, not forced); a finished run
    whose config or input changed is refused (InputError naming what changed) unless forced. A
    rerun of the same config and inputs keeps the units a crashed run finished (their completion
    markers) and removes the temp files of attempts that died (``*.tmp``: any attempt's unique
    temp name, pipelines/files.py); anything else starts clean."""
    run_key = fingerprint(config, units, stamps)
    if FileSystems.exists(files.join(out_dir, MANIFEST_NAME)):
        if not force:
            changes = changes_since_finished(out_dir, config, stamps)
            if changes:
                raise _refusal(out_dir, changes)
            if FileSystems.exists(files.join(out_dir, "work")):  # killed after its commit
                FileSystems.delete([files.join(out_dir, "work")])
            return False
        FileSystems.delete([files.join(out_dir, MANIFEST_NAME)])
    key_path = files.join(out_dir, "work", "run_key.json")
    earlier = files.read_json(key_path) if FileSystems.exists(out_dir) else None
    resume = not force and earlier is not None and earlier.get("run_key") == run_key
    if FileSystems.exists(out_dir):
        if resume:
            # Shards are assembled again from the units' runs kept in work/; temp files are partial writes.
            stale = _matching(out_dir, ("train_*", "val_*", "*.tmp", "*/*.tmp", "work/*/*.tmp"))
        else:
            stale = _matching(
                out_dir,
                ("train_*", "val_*", "*.tmp", "tokenizer.json", "summary.json", "run_stats.json")
                + tuple(f"{d}/*" for d in OUTPUT_DIRS if d != "work"),
            )
            if FileSystems.exists(files.join(out_dir, "work")):
                stale.append(files.join(out_dir, "work"))
        if stale:
            # One file may match two patterns (a shard's temp name: train_* and *.tmp).
            FileSystems.delete(sorted(set(stale)))
        if resume:
            done = len(_matching(out_dir, ("work/done/*",)))
            say(f"{out_dir}: resuming a run that did not finish ({done} unit stages already done)")
    for sub in ("", *OUTPUT_DIRS):
        files.makedirs(files.join(out_dir, sub) if sub else out_dir)
    files.write_json(key_path, {"run_key": run_key})
    files.write_json(files.join(out_dir, INPUTS_NAME), {"inputs": stamps})
    return True


def build(pipeline: beam.Pipeline, units: list[WorkUnit], config: PipelineConfig, out_dir: str) -> None:
    work = files.join(out_dir, "work")
    rejected = files.join(out_dir, "rejected")
    # The reshuffle spreads the units over the workers: without it the whole unit pass is fused
    # with the Create and runs where the Create ran.
    units_in = pipeline | "ListUnits" >> beam.Create(units) | "SpreadUnits" >> beam.Reshuffle()
    # Filters first: every later decision is made among documents that are in the corpus.
    prepared = units_in | "ExtractAndFilter" >> ExtractAndFilter(config, work, rejected)
    # Then URL dedup (a page crawled twice keeps its newest copy), exact dedup on what it kept,
    # and near dedup on what both kept: a later stage never drops the copy an earlier one kept
    # in place of others. With exact dedup off, identical texts are near duplicates at Jaccard 1
    # and one of them still goes.
    # Documents that duplicate an earlier run's corpus (dedup.reference) go first of all.
    earlier = pipeline | "NoDrops" >> beam.Create([])
    if config.dedup.reference:
        earlier = prepared | "ReferenceDedup" >> ReferenceDedup(config, work)
    dedup_stats = []  # the dedups' byte counts and seconds, for run_stats.json
    if config.dedup.url != "off":
        url_drops, url_stats = prepared | "UrlDedup" >> FindUrlDuplicates(work, earlier)
        earlier = (earlier, url_drops) | "EarlierAndUrlDrops" >> beam.Flatten()
        dedup_stats.append(url_stats)
    if config.dedup.exact:
        exact_drops, exact_stats = prepared | "ExactDedup" >> FindExactDuplicates(work, earlier)
        earlier = (earlier, exact_drops) | "UrlAndExactDrops" >> beam.Flatten()
        dedup_stats.append(exact_stats)
    drops = [earlier]
    near_results = pipeline | "NoNearDedup" >> beam.Create([])
    if config.near_dedup.enabled:
        clusters = files.join(out_dir, "clusters")
        near_drops, near_results = prepared | "NearDedup" >> FindNearDuplicates(
            config.near_dedup, work, clusters, earlier
        )
        drops.append(near_drops)
    all_drops = drops | "AllDrops" >> beam.Flatten()
    kept = prepared | "DropDuplicates" >> DropDuplicates(config, work, out_dir, all_drops)
    tokenizer = kept | "Tokenizer" >> BuildTokenizer(
        config.tokenizer, files.join(out_dir, "tokenizer.json"), files.join(work, "done", "tokenizer.json")
    )
    # Per-unit token runs, then shards cut to shard.max_tokens_per_shard across units.
    sharded = kept | "Shard" >> WriteShards(
        config, work, files.join(work, "shards"), tokenizer, len(units), out_dir
    )
    kept_counts = kept | "WithoutBuckets" >> beam.Map(
        lambda r: {k: v for k, v in r.items() if k != "sample_buckets"}
    )
    _ = (
        (prepared, kept_counts, sharded, near_results, *dedup_stats)
        | "AllResults" >> beam.Flatten()
        | "CommitRun" >> CommitRun(out_dir, config.to_dict(), config.tokenizer.bos_token, tokenizer)
    )


def run(argv: Sequence[str] | None = None, prog: str = "python -m pipelines.corpus_job") -> int:
    args, beam_args = parse_args(argv, prog)
    try:
        config = load_config(args)
        out_dir = files.join(args.output, config.name)
        check_references(config.dedup.reference, config, out_dir)
        inputs = files.list_inputs(args.input)
        units = files.plan_units(inputs, config.input)
        if not prepare_output(out_dir, args.force, config, units, input_stamps(inputs)):
            print(f"{out_dir}: already finished ({MANIFEST_NAME} exists); --force redoes it")
            return 0
    except Exception as e:
        # Bad input (a config, an input pattern, an output path: corpus/errors.py) is one line
        # and exit 2; anything else is a bug and raises.
        if not shown_as_line(e):
            raise
        print(error_line(e), file=sys.stderr)
        return 2
    workers = args.workers or os.cpu_count() or 1
    engine = choose_engine(args.engine, workers, len(units))
    started = time.time()
    pipeline, engine_context = make_pipeline(beam_args, engine, workers)
    progress = Progress(f"build {out_dir}", out_dir if files.is_local(out_dir) else None)
    with engine_context, watch_units(progress, files.join(out_dir, "work"), len(units)):
        build(pipeline, units, config, out_dir)
        try:
            result = pipeline.run()
            result.wait_until_finish()
        except BaseException as e:
            # A worker's bad input (an output it cannot write, a filter's list that is not
            # there) arrives with its type, Beam's step appended to the message.
            if not shown_as_line(e):
                progress.finish("failed", error=f"{type(e).__name__}: {e}"[:500])
                raise
            progress.finish("failed", error=str(e))
            print(error_line(e), file=sys.stderr)
            return 2
        client = getattr(result, "client", None)  # the DaskRunner's: closed before its cluster
        if client is not None:
            client.close()
    seconds = time.time() - started
    _record_run(out_dir, engine, workers, units, seconds)
    work = files.join(out_dir, "work")
    if FileSystems.exists(work):
        FileSystems.delete([work])
    # Temp files of attempts the runner gave up on (a straggler beside its retry): never renamed.
    leftovers = _matching(out_dir, ("*.tmp", "*/*.tmp"))
    if leftovers:
        FileSystems.delete(leftovers)
    summary = json.loads(files.read_bytes(files.join(out_dir, "summary.json")))
    progress.finish(kept=summary["documents"]["kept"], seconds=round(seconds, 1))
    print_summary(summary, out_dir, seconds)
    return 0


# The per-unit stages in the order a unit goes through them, by their completion markers'
# prefix (pipelines/stages/extract.py marker_path).
UNIT_STAGES = (("filter", "extract+filter"), ("dedup", "dedup"), ("shard", "tokenize+shard"))


@contextlib.contextmanager
def watch_units(progress: Progress, work: str, units: int, every: float = 1.0):
    """While the pipeline runs, count the units' completion markers and report the furthest
    stage: runner-agnostic, since every engine's workers write the same markers."""
    stop = threading.Event()
    current: list[str] = []

    def tick() -> None:
        try:
            matches = FileSystems.match([files.join(work, "done", "*")])
        except Exception:  # the folder is made by the first worker; a miss is no news
            return
        names = [m.path.rsplit("/", 1)[-1] for r in matches for m in r.metadata_list]
        done = {key: sum(n.startswith(key + "-") for n in names) for key, _ in UNIT_STAGES}
        key, stage = next(((k, label) for k, label in UNIT_STAGES[::-1] if done[k]), UNIT_STAGES[0])
        if current != [stage]:
            progress.stage(stage, units, "units")
            current[:] = [stage]
        progress.update(done[key], **({"tokenizer": "trained"} if "tokenizer.json" in names else {}))

    def poll() -> None:
        while not stop.wait(every):
            tick()

    progress.stage(UNIT_STAGES[0][1], units, "units")
    thread = threading.Thread(target=poll, name="progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        tick()  # the last markers, written after the last poll


def _record_run(out_dir: str, engine: str, workers: int, units: list[WorkUnit], seconds: float) -> None:
    path = files.join(out_dir, RUN_STATS_NAME)
    stats = files.read_json(path) or {}
    input_bytes = sum(u.bytes for u in units)
    stats.update(
        {
            "engine": engine,
            "workers": workers,
            "units": len(units),
            "input_bytes": input_bytes,
            "wall_seconds": round(seconds, 3),
            "input_mb_per_s": round(input_bytes / 1e6 / seconds, 2) if seconds else None,
            "launcher_peak_rss_mb": peak_rss_mb(),
        }
    )
    files.write_json(path, stats)


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
