"""The dedup tasks read only their share of the key tables, at any number of units and tasks,
and every run counts its I/O in run_stats.json.

Input: the sample WARC and a JSONL of the sample's pages under other ids and URLs (so URL, exact
and near duplicates cross files and units), cut into units by ``input.split_bytes``; slices of
the key space made many by a small rows-per-task bound.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from corpus_helpers import REPO, SAMPLE_WARC, rows, run_job

from corpus.dedup import buckets, sorted_keys

pytestmark = pytest.mark.slow  # whole jobs at three unit counts

DEDUPS = ("url_dedup", "exact_dedup", "near_dedup")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory, sample_raw, page_text) -> Path:
    """The sample's pages again, as JSONL under other ids; every other one under its own URL."""
    folder = tmp_path_factory.mktemp("mirror")
    lines = []
    for n, raw in enumerate(sample_raw):
        name = raw.url.rsplit("/", 1)[1]
        if name.endswith((".css", ".png")) or name == "index.html":
            continue
        url = raw.url if n % 2 else raw.url.replace("www.debian.org", "mirror.example")
        lines.append({"id": f"mirror/{name}", "url": url, "text": page_text(name)})
    path = folder / "mirror.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), "utf-8")
    return path


def run(tmp: Path, mirror: Path, split_bytes: int) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    text = (REPO / "configs" / "sample.toml").read_text("utf-8")
    text = text.replace('name = "sample"', 'name = "io"').replace("vocab_size = 8192", "vocab_size = 1024")
    # URL dedup on every input (not only WARC), so the mirror's copies under the same URL go.
    text = text.replace("[input]\n", f"[input]\nsplit_bytes = {split_bytes}\n").replace(
        'url = "warc"', 'url = "all"'
    )
    config = tmp / "io.toml"
    config.write_text(text, "utf-8")
    run_job("--input", str(SAMPLE_WARC), "--input", str(mirror), "--output", str(tmp / "out"),
            "--config", str(config), "--engine", "inprocess")  # fmt: skip
    return tmp / "out" / "io"


def decisions(out: Path) -> tuple:
    kept = sorted(
        i for p in (out / "docs").glob("*.parquet") for i in pq.read_table(p).column("id").to_pylist()
    )
    rejected = sorted((r["id"], r["stage"], r["reason"], r["detail"] or "") for r in rows(out, "rejected"))
    return kept, rejected


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> tuple:
    """Decisions with one unit per input file and one slice per dedup."""
    return decisions(run(tmp_path_factory.mktemp("baseline"), mirror, 1 << 30))


@pytest.mark.parametrize(("split_bytes", "per_task"), [(1 << 30, 0), (128 * 1024, 64), (32 * 1024, 16)])
def test_dedup_tasks_read_only_their_share(
    tmp_path, mirror, baseline, monkeypatch, split_bytes, per_task
) -> None:
    if per_task:  # many slices of the key space: in-process, the tasks see the patched bound
        monkeypatch.setattr(sorted_keys, "DOCS_PER_TASK", per_task)
        monkeypatch.setattr(buckets, "DOCS_PER_TASK", 2 * per_task)
    out = run(tmp_path / "run", mirror, split_bytes)
    assert decisions(out) == baseline
    stats = json.loads((out / "run_stats.json").read_text("utf-8"))
    stages = stats["stages"]
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    by_stage = {s["stage"]: s for s in summary["stages"]}
    assert by_stage["url_dedup"]["rejected"] > 100 and by_stage["exact_dedup"]["rejected"] > 100
    print({stage: stages[stage] for stage in DEDUPS})
    for stage in DEDUPS:
        s = stages[stage]
        assert s["table_bytes"] > 0 and s["bytes_written"] > 0
        assert s["bytes_read"] >= s["table_bytes_read"] > 0
        assert s["read_amplification"] == round(s["table_bytes_read"] / s["table_bytes"], 4) <= 1.5, (
            stage,
            s,
        )
        assert s["units"] >= stats["units"] and s["tasks"] >= 1
    print({stage: (stages[stage]["tasks"], stages[stage]["read_amplification"]) for stage in DEDUPS})
