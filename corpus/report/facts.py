"""The facts a report shows, gathered from a finished run's files without rerunning anything.

Reads ``summary.json``, ``manifest.json``, ``run_stats.json``, ``docs/``, ``rejected/`` and
``clusters/`` row group by row group (memory stays bounded: counters, fixed histograms, a few
sample documents chosen by id hash, at most ``MAX_VALUES`` measured values per reason), the
shards' index files, and when given or found, the crawl's ``crawl_summary.json`` and a training
run's ``metrics.jsonl``. The result is plain JSON-able data.
"""

from __future__ import annotations

import heapq
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.errors import InputError, load_json
from corpus.hashing import id_hash
from corpus.manifest import load_manifest
from corpus.shards.inspect import inspect_run

LENGTH_EDGES = [0, *[2**k for k in range(4, 25)], 2**62]
"""Document length bins in bytes of text: 0-15, 16-31, ..., 16 MiB and above."""
MAX_VALUES = 20_000
"""Measured values kept per rejection reason (for the plots against thresholds)."""
SAMPLE_TEXT = 1_500
"""Characters of a sample document's text kept for the report."""
_MEASURED = re.compile(r"^(?:[a-z]{2,3}\s+)?(-?[0-9][0-9.e+-]*)\s*[a-z ]*?\s*([<>]=?)\s*(-?[0-9][0-9.e+-]*)")


def measured(detail: str | None) -> tuple[float, str, float] | None:
    """(value, comparison, threshold) of a rejection detail such as ``0.715 < 0.8``,
    ``22 words < 50`` or ``es 0.293 < 0.5``; None when the detail is not a measurement."""
    if not detail:
        return None
    m = _MEASURED.match(detail.strip())
    if not m:
        return None
    try:
        return float(m.group(1)), m.group(2), float(m.group(3))
    except ValueError:
        return None


def format_value(value: Any) -> str:
    """A table cell's text, the same in HTML and Markdown (each escapes it its own way): a dash
    for nothing, thousands separators, two decimals for fractions."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def host_of(url: str | None) -> str:
    if not url:
        return "(no URL)"
    try:
        return (urlsplit(url).hostname or "(no host)").lower()
    except ValueError:
        return "(bad URL)"


class _Samples:
    """The ``k`` documents of smallest id hash: a sample that does not depend on file order."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.heap: list[tuple[int, str, dict[str, Any]]] = []

    def offer(self, doc_id: str, make: Any) -> None:
        if not self.k:
            return
        key = -id_hash(doc_id)
        if len(self.heap) < self.k:
            heapq.heappush(self.heap, (key, doc_id, make()))
        elif key > self.heap[0][0]:
            heapq.heapreplace(self.heap, (key, doc_id, make()))

    def items(self) -> list[dict[str, Any]]:
        return [d for _, _, d in sorted(self.heap, key=lambda t: (-t[0], t[1]))]


def _histogram(lengths: np.ndarray) -> np.ndarray:
    return np.histogram(lengths, bins=LENGTH_EDGES)[0]


def _row_groups(path: Path, columns: list[str]):
    f = pq.ParquetFile(path)
    names = set(f.schema_arrow.names)
    for i in range(f.num_row_groups):
        yield f.read_row_group(i, columns=[c for c in columns if c in names])


def gather(
    run: str | os.PathLike, samples: int = 3, train: str | None = None, crawl: str | None = None
) -> dict:
    run = Path(run)
    summary_path = run / "summary.json"
    if not summary_path.exists():
        raise InputError(f"{summary_path}: missing; is {run} a finished corpus run?")
    summary = load_json(summary_path)
    manifest = load_manifest(run)
    facts: dict[str, Any] = {
        "run": str(run),
        "name": manifest.get("config", {}).get("name", run.name),
        "summary": summary,
        "config": manifest.get("config", {}),
        "tokenizer": {k: manifest["tokenizer"].get(k) for k in ("vocab_size", "bos_id", "sha256")},
        "created_by": manifest.get("created_by", {}),
    }
    stats_path = run / "run_stats.json"
    if stats_path.exists():
        facts["run_stats"] = load_json(stats_path)
    facts.update(_kept(run, samples))
    facts.update(_rejected(run, samples))
    facts["clusters"] = _clusters(run)
    facts["shards"] = inspect_run(run)
    total_tokens = sum(s["tokens"] for s in facts["shards"]["shards"])
    kept_bytes = facts["kept"]["bytes"]
    facts["bytes_per_token"] = kept_bytes / total_tokens if total_tokens else None
    facts["funnel"] = _funnel(summary, facts)
    crawl_dir = Path(crawl) if crawl else _crawl_of(facts["kept"]["sources"])
    if crawl_dir is not None:
        path = crawl_dir / "crawl_summary.json"
        if not path.exists():
            raise InputError(f"{path}: missing; is {crawl_dir} a finished crawl?")
        facts["crawl"] = {"folder": str(crawl_dir), **load_json(path)}
    if train:
        facts["train"] = _training(Path(train))
    return facts


def _kept(run: Path, samples: int) -> dict:
    hist = np.zeros(len(LENGTH_EDGES) - 1, dtype=np.int64)
    languages: Counter[str] = Counter()
    language_bytes: Counter[str] = Counter()
    domains: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    scores = np.zeros(20, dtype=np.int64)
    chosen = _Samples(samples)
    docs = total = 0
    for path in sorted((run / "docs").glob("*.parquet")):
        for t in _row_groups(path, ["id", "url", "source", "text", "language", "language_score"]):
            lengths = pc.binary_length(t.column("text")).to_numpy(zero_copy_only=False)
            hist += _histogram(lengths)
            docs += t.num_rows
            total += int(lengths.sum())
            for lang, n in zip(t.column("language").to_pylist(), lengths.tolist(), strict=True):
                languages[lang or "unknown"] += 1
                language_bytes[lang or "unknown"] += n
            domains.update(host_of(u) for u in t.column("url").to_pylist())
            sources.update(t.column("source").to_pylist())
            s = t.column("language_score").to_numpy(zero_copy_only=False)
            s = s[~np.isnan(s)] if s.dtype.kind == "f" else np.zeros(0)
            scores += np.histogram(s, bins=20, range=(0, 1))[0]
            ids, urls, texts = t.column("id").to_pylist(), t.column("url").to_pylist(), t.column("text")
            for i, doc_id in enumerate(ids):
                chosen.offer(
                    doc_id,
                    lambda i=i, doc_id=doc_id, urls=urls, texts=texts: {
                        "id": doc_id,
                        "url": urls[i],
                        "text": texts[i].as_py()[:SAMPLE_TEXT],
                    },
                )
    return {
        "kept": {
            "documents": docs,
            "bytes": total,
            "length_histogram": hist.tolist(),
            "languages": {
                k: {"documents": v, "bytes": language_bytes[k]} for k, v in languages.most_common()
            },
            "language_scores": scores.tolist(),
            "domains": dict(domains.most_common(50)),
            "domain_count": len(domains),
            "sources": dict(sources.most_common(50)),
            "samples": chosen.items(),
        }
    }


def _rejected(run: Path, samples: int) -> dict:
    hist = np.zeros(len(LENGTH_EDGES) - 1, dtype=np.int64)
    reasons: dict[str, dict[str, Any]] = {}
    domains: Counter[str] = Counter()
    picks: dict[str, _Samples] = {}
    docs = total = 0
    for path in sorted((run / "rejected").glob("*.parquet")):
        for t in _row_groups(path, ["id", "url", "stage", "reason", "detail", "text"]):
            lengths = pc.fill_null(pc.binary_length(t.column("text")), 0).to_numpy(zero_copy_only=False)
            hist += _histogram(lengths)
            docs += t.num_rows
            total += int(lengths.sum())
            urls = t.column("url").to_pylist()
            domains.update(host_of(u) for u in urls)
            texts = t.column("text")
            rows = zip(
                t.column("id").to_pylist(),
                t.column("stage").to_pylist(),
                t.column("reason").to_pylist(),
                t.column("detail").to_pylist(),
                lengths.tolist(),
                strict=True,
            )
            for i, (doc_id, stage, reason, detail, n) in enumerate(rows):
                key = f"{stage}/{reason}"
                r = reasons.setdefault(
                    key,
                    {
                        "stage": stage,
                        "reason": reason,
                        "documents": 0,
                        "bytes": 0,
                        "values": [],
                        "threshold": None,
                        "comparison": None,
                    },
                )
                r["documents"] += 1
                r["bytes"] += n
                m = measured(detail)
                if m is not None and len(r["values"]) < MAX_VALUES:
                    r["values"].append(m[0])
                    r["comparison"], r["threshold"] = m[1], m[2]
                picks.setdefault(key, _Samples(samples)).offer(
                    doc_id,
                    lambda i=i, doc_id=doc_id, detail=detail, urls=urls, texts=texts: {
                        "id": doc_id,
                        "url": urls[i],
                        "detail": detail,
                        "text": (texts[i].as_py() or "")[:SAMPLE_TEXT],
                    },
                )
    for key, r in reasons.items():
        r["samples"] = picks[key].items()
    return {
        "rejected": {
            "documents": docs,
            "bytes": total,
            "length_histogram": hist.tolist(),
            "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1]["documents"], kv[0]))),
            "domains": dict(domains.most_common(50)),
        }
    }


def _clusters(run: Path) -> dict:
    sizes: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    for path in sorted((run / "clusters").glob("*.parquet")):
        for t in _row_groups(path, ["cluster_id", "kept"]):
            ids, kept = t.column("cluster_id").to_pylist(), t.column("kept").to_pylist()
            sizes.update(ids)
            removed.update(c for c, k in zip(ids, kept, strict=True) if not k)
    distribution = Counter(sizes.values())
    largest = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return {
        "clusters": len(sizes),
        "documents": sum(sizes.values()),
        "size_distribution": {str(k): v for k, v in sorted(distribution.items())},
        "largest": [{"cluster_id": c, "size": n, "removed": removed[c]} for c, n in largest],
    }


def _funnel(summary: dict, facts: dict) -> list[dict]:
    """Documents and bytes of text left after each stage, and tokens estimated from bytes at the
    kept corpus's bytes per token (rejected text is never tokenized)."""
    per_stage: Counter[str] = Counter()
    for r in facts["rejected"]["reasons"].values():
        per_stage[r["stage"]] += r["bytes"]
    remaining = facts["kept"]["bytes"] + facts["rejected"]["bytes"]
    bpt = facts.get("bytes_per_token")
    rows = []
    for stage in summary["stages"]:
        remaining -= per_stage.get(stage["stage"], 0)
        rows.append(
            {
                "stage": stage["stage"],
                "in": stage["in"],
                "kept": stage["kept"],
                "rejected": stage["rejected"],
                "bytes_rejected": per_stage.get(stage["stage"], 0),
                "bytes_after": remaining,
                "tokens_after_estimate": round(remaining / bpt) if bpt else None,
            }
        )
    return rows


def _crawl_of(sources: dict[str, int]) -> Path | None:
    """The crawl folder a run's inputs came from (``<crawl>/warc/*.warc.gz``), if any."""
    for source in sources:
        path = Path(source)
        if path.parent.name == "warc" and (path.parent.parent / "crawl_summary.json").exists():
            return path.parent.parent
    return None


def _training(folder: Path) -> dict:
    path = folder / "metrics.jsonl"
    if not path.exists():
        raise InputError(f"{path}: missing; is {folder} a training run (corpus train --out)?")
    train, val = [], []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: line {number} is not valid JSON ({e})") from None
        if "val_loss" in record:
            val.append({k: record.get(k) for k in ("step", "val_loss", "val_bpb")})
        elif "loss" in record:
            train.append({k: record.get(k) for k in ("step", "loss", "lr", "tokens_per_s")})
    last_train = train[-1] if train else {}
    last_val = val[-1] if val else {}
    # A metrics record's step counts from 0 and the last one logged need not be the run's last:
    # the run's step count is the summary's (a run stopped before its summary: the last record's).
    summary_path = folder / "train_summary.json"
    summary = load_json(summary_path) if summary_path.exists() else {}
    steps = summary.get("steps", last_train.get("step"))
    row = [str(folder), steps, last_train.get("loss"), last_val.get("val_loss"),
           last_val.get("val_bpb")]  # fmt: skip
    # The final validation split by source (a mixture) and by language (shards by language).
    parts = [
        [kind, name, part.get("loss"), part.get("bits_per_byte"), part.get("tokens")]
        for kind in ("source", "language")
        for name, part in sorted(summary.get(f"final_val_by_{kind}", {}).items())
    ]
    return {"folder": str(folder), "train": train, "val": val, "last": row, "val_parts": parts}


TRAINING_HEADERS = ["run", "steps", "last train loss", "last validation loss", "bits per byte"]
"""Columns of the training run's ``last`` row, as both renderings show it."""
VAL_PART_HEADERS = ["by", "", "validation loss", "bits per byte", "target tokens"]
"""Columns of the final validation loss per source and per language."""

IO_HEADERS = ["stage", "units", "tasks", "bytes read", "bytes written", "key tables", "read amplification"]
"""Columns of the I/O table (run_stats.json's per-stage byte counts), as both renderings show it."""


def io_rows(run_stats: dict[str, Any] | None) -> list[list[Any]]:
    """Per stage of run_stats.json: units, tasks, bytes read and written, and for the dedups the
    bytes of their key tables and the read amplification (bytes their tasks read of them ÷ their
    size); empty for a run_stats.json from before the counts."""
    stages = (run_stats or {}).get("stages", {})
    return [
        [name, s.get("units"), s.get("tasks"), s["bytes_read"], s["bytes_written"], s.get("table_bytes"),
         s.get("read_amplification")]
        for name, s in stages.items()
        if "bytes_read" in s
    ]  # fmt: skip
