"""``corpus shards inspect``: what a run's shards hold, from their headers, ``.idx`` files and
lineage (``*.docs.parquet``), joined with ``docs/`` for each document's language and source.

Reads no token data: counts come from the index files, languages and sources from Parquet columns
(never the text).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.manifest import load_manifest
from corpus.shards.format import read_index

LENGTH_BINS = [1, 16, 64, 256, 1024, 4096, 16384, 65536, 2**62]
"""Document length histogram edges, in tokens (the last bin is open)."""


def inspect_run(directory: str | os.PathLike) -> dict[str, Any]:
    directory = Path(directory)
    manifest = load_manifest(directory)
    shards, lengths, lineage = [], [], []
    for shard in manifest["shards"]:
        lens = read_index(directory / shard["idx"]).lengths.astype(np.int64)
        lengths.append(lens)
        shards.append(
            {
                "name": shard["name"],
                "split": shard["split"],
                "documents": len(lens),
                "tokens": int(lens.sum()),
            }
        )
        docs = directory / shard.get("docs", "")
        if shard.get("docs") and docs.exists():
            t = pq.read_table(docs, columns=["id", "tokens"])
            lineage.append(t.append_column("split", pa.array([shard["split"]] * t.num_rows, pa.string())))
    everything = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    counts, _ = np.histogram(everything, bins=LENGTH_BINS)
    splits: dict[str, dict[str, int]] = {}
    for s in shards:
        total = splits.setdefault(s["split"], {"shards": 0, "documents": 0, "tokens": 0})
        total["shards"] += 1
        total["documents"] += s["documents"]
        total["tokens"] += s["tokens"]
    result: dict[str, Any] = {
        "run": str(directory),
        "tokenizer": {k: manifest["tokenizer"].get(k) for k in ("vocab_size", "bos_id", "sha256")},
        "splits": splits,
        "shards": shards,
        "length_histogram": [
            {"from": int(a), "to": int(b) - 1 if b < LENGTH_BINS[-1] else None, "documents": int(n)}
            for a, b, n in zip(LENGTH_BINS[:-1], LENGTH_BINS[1:], counts, strict=True)
        ],
        "document_tokens": _quantiles(everything),
    }
    result.update(_by_language_and_source(directory, lineage))
    return result


def _quantiles(lengths: np.ndarray) -> dict[str, float]:
    if not len(lengths):
        return {}
    q = np.percentile(lengths, [50, 90, 99])
    return {"mean": round(float(lengths.mean()), 1), "p50": float(q[0]), "p90": float(q[1]),
            "p99": float(q[2]), "max": int(lengths.max())}  # fmt: skip


def _by_language_and_source(directory: Path, lineage: list[pa.Table]) -> dict[str, Any]:
    doc_files = sorted((directory / "docs").glob("*.parquet"))
    if not lineage or not doc_files:
        return {}
    meta = pa.concat_tables(pq.read_table(p, columns=["id", "language", "source"]) for p in doc_files)
    joined = pa.concat_tables(lineage).join(meta, "id", join_type="left outer")
    out: dict[str, Any] = {}
    for key in ("language", "source"):
        column = pc.fill_null(joined.column(key), "unknown")
        grouped = (
            pa.table({key: column, "tokens": joined.column("tokens")})
            .group_by(key)
            .aggregate([("tokens", "sum"), ("tokens", "count")])
            .sort_by([("tokens_sum", "descending"), (key, "ascending")])
        )
        out[f"by_{key}"] = [
            {key: k, "documents": int(n), "tokens": int(t)}
            for k, t, n in zip(
                grouped.column(key).to_pylist(),
                grouped.column("tokens_sum").to_pylist(),
                grouped.column("tokens_count").to_pylist(),
                strict=True,
            )
        ]
    return out


def render(info: dict[str, Any], top: int = 20) -> str:
    """The inspection as text for a terminal."""
    lines = [f"run {info['run']}: vocabulary {info['tokenizer']['vocab_size']}, "
             f"document token {info['tokenizer']['bos_id']}"]  # fmt: skip
    for split, t in info["splits"].items():
        lines.append(
            f"  {split}: {t['tokens']:,} tokens, {t['documents']:,} documents, {t['shards']} shard(s)"
        )
    lines += ["", "shard                          split   documents        tokens"]
    for s in info["shards"]:
        lines.append(f"{s['name']:<30} {s['split']:<5} {s['documents']:>11,} {s['tokens']:>13,}")
    for key in ("language", "source"):
        rows = info.get(f"by_{key}")
        if not rows:
            continue
        total = sum(r["tokens"] for r in rows) or 1
        lines += ["", f"{key:<40}  documents        tokens   share"]
        for r in rows[:top]:
            name = str(r[key])
            name = name if len(name) <= 40 else "..." + name[-37:]
            lines.append(
                f"{name:<40} {r['documents']:>10,} {r['tokens']:>13,} {100 * r['tokens'] / total:6.1f}%"
            )
        if len(rows) > top:
            lines.append(f"... and {len(rows) - top} more")
    q = info["document_tokens"]
    if q:
        lines += ["", f"document length (tokens): mean {q['mean']}, median {q['p50']:.0f}, "
                      f"p90 {q['p90']:.0f}, p99 {q['p99']:.0f}, max {q['max']:,}"]  # fmt: skip
        most = max(b["documents"] for b in info["length_histogram"]) or 1
        for b in info["length_histogram"]:
            label = f"{b['from']}-{b['to']}" if b["to"] is not None else f"{b['from']}+"
            lines.append(f"  {label:>12} {b['documents']:>9,} {'#' * round(40 * b['documents'] / most)}")
    return "\n".join(lines) + "\n"
