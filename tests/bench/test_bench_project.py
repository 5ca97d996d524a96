"""The projection to 100M and 10B documents, from a real run (the bundled sample) and the code's
constants: per-document figures scale linearly, task counts follow the constants, and what would
not fit is said with the setting that changes it."""

from __future__ import annotations

import json
from pathlib import Path

from bench.project import main, measure, project
from corpus.config import InputConfig, ShardConfig
from corpus.dedup import sorted_keys


def test_the_projection_follows_the_run_and_the_constants(sample_corpus, tmp_path: Path) -> None:
    run, rc, _ = sample_corpus
    assert rc == 0
    m = measure(run)
    stats = json.loads((run / "run_stats.json").read_text("utf-8"))
    summary = json.loads((run / "summary.json").read_text("utf-8"))
    assert m.documents == summary["documents"]["in"]
    small, big = project(m, 100_000_000, 100e3), project(m, 10_000_000_000, 100e3)
    assert small["units"] == -(-100_000_000 * 100_000 // InputConfig().split_bytes)
    near_docs = int(10_000_000_000 * m.near_share)
    assert big["key_slices"] == sorted_keys.parts_for(near_docs)
    # Bytes per document of every dedup stage are the run's, times the documents.
    for stage in ("url_dedup", "exact_dedup", "near_dedup"):
        row = next(r for r in big["stages"] if r["stage"] == stage)
        per_doc = stats["stages"][stage]["bytes_read"] / m.documents
        assert abs(row["bytes_read"] - per_doc * 10_000_000_000) <= 1e-6 * row["bytes_read"]
    # 10B documents at the defaults: too many units and shards, and the settings that fix it.
    assert big["shards"] > 20_000 and any("shard.max_tokens_per_shard" in w for w in big["warnings"])
    assert any("input.split_bytes" in w for w in big["warnings"])
    assert big["tokens"] / ShardConfig().max_tokens_per_shard <= big["shards"]
    page = tmp_path / "architecture.md"
    page.write_text("# Architecture\n", "utf-8")
    assert main(["--run", str(run), "--write", str(page)]) == 0
    text = page.read_text("utf-8")
    assert "## The job projected: 100M and 10B documents" in text and "| url_dedup |" in text
