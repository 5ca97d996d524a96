"""The corpus job projected to sizes no test machine runs: 100M and 10B documents.

    python -m bench.project --run out/sample                      # print the projection
    python -m bench.project --run out/sample --write docs/architecture.md

Two kinds of figures go in. From the code: the unit size (``input.split_bytes``), the documents a
URL/exact dedup task and a near-dedup bucket task sort at most (``sorted_keys.DOCS_PER_TASK``,
``buckets.DOCS_PER_TASK``), the LSH bands, the shard size (``shard.max_tokens_per_shard``). From a
finished run (its ``run_stats.json``, ``summary.json`` and ``manifest.json``): per document, the
bytes each stage read and wrote, the bytes of the dedup tables, tokens, the share each stage
kept, the files a unit writes, and the peak memory of a unit's worker. A run's I/O is linear in
its documents because every dedup task reads only its share of the tables (``read_amplification``
at most 1.5, tested at many units and reported by every run), so the per-document figures scale;
the task counts and the memory per task follow from the constants, not from the run.

Input bytes are ``--doc-bytes`` per document (default 100 KB: 10 TB for 100M documents, the
order of a Common Crawl dump's WARC), text and tokens per kept document the run's.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import write_section
from corpus.config import InputConfig, NearDedupConfig, ShardConfig, TokenizerConfig
from corpus.dedup import buckets, sorted_keys

SIZES = (100_000_000, 10_000_000_000)
WORKER_GB = 4.0
"""Memory of one worker the projection checks each task against (a common cloud worker per core)."""
MAX_SHARDS = 20_000
"""Shards a manifest lists comfortably (about 300 bytes each in manifest.json) and a trainer's
verification walks at start-up."""
MAX_UNITS = 1_000_000
"""Tasks per stage a runner schedules well (Dataflow and Spark handle about a million)."""
UNIT_STAGES = ("extract_filter", "dedup_apply", "tokenize_shard")


@dataclass(frozen=True)
class Measured:
    """Per-document facts of a finished run."""

    run: str
    documents: int
    kept_share: float
    near_share: float
    """Documents that reach near dedup, as a share of those read."""
    tokens_per_kept: float
    per_doc_read: dict[str, float]
    per_doc_written: dict[str, float]
    per_doc_table: dict[str, float]
    unit_peak_mb: float
    files_per_unit: int
    val_fraction: float


def measure(run: Path) -> Measured:
    stats = json.loads((run / "run_stats.json").read_text("utf-8"))
    summary = json.loads((run / "summary.json").read_text("utf-8"))
    manifest = json.loads((run / "manifest.json").read_text("utf-8"))
    documents = summary["documents"]["in"]
    kept = summary["documents"]["kept"]
    near_in = next((s["in"] for s in summary["stages"] if s["stage"] == "near_dedup"), kept)
    tokens = sum(s["tokens"] for s in manifest["shards"])
    stages = stats["stages"]
    units = max(1, stats["units"])
    folders = [run / f for f in ("docs", "rejected", "clusters", "dedup_index") if (run / f).exists()]
    per_unit_files = sum(len(list(folder.glob("*.parquet"))) for folder in folders)
    return Measured(
        run=str(run),
        documents=documents,
        kept_share=kept / documents,
        near_share=near_in / documents,
        tokens_per_kept=tokens / max(1, kept),
        per_doc_read={k: v.get("bytes_read", 0) / documents for k, v in stages.items()},
        per_doc_written={k: v.get("bytes_written", 0) / documents for k, v in stages.items()},
        per_doc_table={k: v["table_bytes"] / documents for k, v in stages.items() if v.get("table_bytes")},
        unit_peak_mb=max(
            (v.get("peak_rss_mb", 0.0) for k, v in stages.items() if k in UNIT_STAGES), default=0.0
        ),
        files_per_unit=math.ceil(per_unit_files / units),
        val_fraction=ShardConfig().val_fraction,
    )


def project(m: Measured, documents: int, doc_bytes: float, worker_gb: float = WORKER_GB) -> dict[str, Any]:
    """Tasks, bytes, memory and files per stage for ``documents`` documents of ``doc_bytes``."""
    input_bytes = documents * doc_bytes
    units = math.ceil(input_bytes / InputConfig().split_bytes)
    bands, _ = NearDedupConfig().lsh_shape()
    key_docs = int(documents * m.near_share)
    key_parts = sorted_keys.parts_for(key_docs)
    band_parts = buckets.parts_for(key_docs)
    kept = documents * m.kept_share
    tokens = kept * m.tokens_per_kept
    shard_tokens = ShardConfig().max_tokens_per_shard
    shards = math.ceil(tokens * (1 - m.val_fraction) / shard_tokens) + math.ceil(
        tokens * m.val_fraction / shard_tokens
    )

    def row_bytes(stage: str) -> float:
        return m.per_doc_table.get(stage, 0.0)

    # A sort task holds its slice's rows, their sort order and the merged arrays: about 3x.
    key_task_gb = 3 * sorted_keys.DOCS_PER_TASK * row_bytes("url_dedup") / 1e9
    band_task_gb = 3 * buckets.DOCS_PER_TASK * row_bytes("near_dedup") / max(1, bands) / 1e9
    rows = []
    for stage in ("extract_filter", "url_dedup", "exact_dedup", "near_dedup", "tokenizer", "dedup_apply",
                  "tokenize_shard", "assemble_shards"):  # fmt: skip
        if stage in UNIT_STAGES:
            tasks, memory = units, m.unit_peak_mb / 1e3
        elif stage in ("url_dedup", "exact_dedup"):
            tasks, memory = units + key_parts, key_task_gb
        elif stage == "near_dedup":
            tasks, memory = units + bands * band_parts, band_task_gb
        elif stage == "tokenizer":
            tasks, memory = 1, m.unit_peak_mb / 1e3
        else:
            tasks, memory = shards, m.unit_peak_mb / 1e3
        read = input_bytes if stage == "extract_filter" else m.per_doc_read.get(stage, 0.0) * documents
        written = m.per_doc_written.get(stage, 0.0) * documents
        if stage == "tokenizer":  # a bounded sample in, one tokenizer.json out, whatever the corpus
            read = min(
                TokenizerConfig().train_max_bytes, m.per_doc_written.get("extract_filter", 0.0) * documents
            )
            written = m.per_doc_written.get(stage, 0.0) * m.documents
        rows.append({"stage": stage, "tasks": tasks, "bytes_read": read, "bytes_written": written,
                     "memory_gb": memory})  # fmt: skip
    files = units * m.files_per_unit + 3 * shards
    warnings = []
    for r in rows:
        if r["memory_gb"] > worker_gb:
            warnings.append(f"{r['stage']}: {r['memory_gb']:.1f} GB per task, over a {worker_gb:g} GB worker")
    if units > MAX_UNITS:
        split = InputConfig().split_bytes * 2 ** math.ceil(math.log2(units / MAX_UNITS))
        warnings.append(
            f"{units:,} units (and about {files:,} files): more tasks than a runner schedules well; set "
            f"input.split_bytes to {split // 2**20:,} MiB for {math.ceil(input_bytes / split):,} units (a "
            "unit's memory grows with its batch, not its size)"
        )
    if shards > MAX_SHARDS:
        cap = min(2**30, math.ceil(tokens / MAX_SHARDS))
        warnings.append(
            f"{shards:,} shards ({tokens / 1e12:.1f}T tokens at {shard_tokens / 1e6:.0f}M per shard): "
            f"a manifest of {shards * 300 / 1e6:.0f} MB; set shard.max_tokens_per_shard to {cap:,} or more "
            f"(at most 2**30) for {math.ceil(tokens / cap):,} shards"
        )
    return {
        "documents": documents, "input_bytes": input_bytes, "units": units, "tokens": tokens,
        "shards": shards, "files": files, "key_slices": key_parts, "band_slices": band_parts,
        "bands": bands, "stages": rows, "warnings": warnings,
    }  # fmt: skip


def _size(n: float) -> str:
    for unit, scale in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} B"


def render(m: Measured, projections: list[dict[str, Any]], doc_bytes: float) -> str:
    lines = [
        f"Measured on `{m.run}` ({m.documents:,} documents: {m.kept_share:.1%} kept, "
        f"{m.tokens_per_kept:,.0f} tokens per kept document, peak {m.unit_peak_mb:,.0f} MB per unit worker); "
        f"input {doc_bytes / 1e3:,.0f} KB per document; defaults of `corpus/config.py` "
        f"(units of {InputConfig().split_bytes / 2**20:.0f} MiB, shards of "
        f"{ShardConfig().max_tokens_per_shard / 1e6:.0f}M tokens); a worker of {WORKER_GB:g} GB.",
        "",
    ]
    for p in projections:
        lines += [
            f"**{p['documents'] / 1e6:,.0f}M documents** ({_size(p['input_bytes'])} of input): "
            f"{p['units']:,} units, {p['key_slices']:,} key slices for URL and exact dedup, "
            f"{p['bands']} bands x {p['band_slices']:,} slices for near dedup, "
            f"{p['tokens'] / 1e9:,.0f}B tokens in {p['shards']:,} shards, about {p['files']:,} files.",
            "",
            "| stage | tasks | read | written | memory per task |",
            "| --- | ---: | ---: | ---: | ---: |",
            *(
                f"| {r['stage']} | {r['tasks']:,} | {_size(r['bytes_read'])} | {_size(r['bytes_written'])} | "
                f"{r['memory_gb']:.2f} GB |"
                for r in p["stages"]
            ),
            "",
        ]
        lines += [f"- does not fit as is: {w}" for w in p["warnings"]] or [
            "- every stage fits a worker as is"
        ]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.project", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--run", default="out/sample", help="a finished corpus run to take per-document figures from"
    )
    p.add_argument("--doc-bytes", type=float, default=100e3, help="input bytes per document (default 100 KB)")
    p.add_argument("--docs", type=float, nargs="+", default=list(SIZES), help="corpus sizes in documents")
    p.add_argument("--write", help="a Markdown file whose projection section to rewrite")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    m = measure(Path(args.run))
    projections = [project(m, int(d), args.doc_bytes) for d in args.docs]
    if args.json:
        print(json.dumps({"measured": m.__dict__, "projections": projections}, indent=1))
        return 0
    text = render(m, projections, args.doc_bytes)
    print(text)
    if args.write:
        write_section(
            Path(args.write), "projection", "## The job projected: 100M and 10B documents\n\n" + text
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
