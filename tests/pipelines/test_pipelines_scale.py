"""The job at scale, on real text: the same bytes on every engine, and after SIGKILLs and reruns.

Input: the sample WARC, plus a JSONL of the sample's pages under other ids (so exact and near
duplicates cross files and units) and of Python's own module docstrings, cut into units of
256 KiB so that one file is several units of work.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from corpus_helpers import REPO, SAMPLE_WARC, STDLIB

from corpus.config import PipelineConfig
from corpus.records import read_documents
from corpus.shards.check import check_run
from corpus.shards.decode import decode
from corpus.shards.format import open_tokens, read_index
from corpus.stage_steps import shard_step
from corpus.tokenize import DocumentEncoder
from corpus.units import byte_ranges

pytestmark = pytest.mark.slow  # multi-unit jobs on every engine, SIGKILL and rerun

SPLIT_BYTES = 256 * 1024
SHARD_TOKENS = 25_000


def docstrings() -> list[tuple[str, str]]:
    """(module, docstring) of Python's own modules whose docstring has 80 words or more."""
    out = []
    for path in sorted(STDLIB.glob("*.py")):
        try:
            doc = ast.get_docstring(ast.parse(path.read_text("utf-8")))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        if doc and len(doc.split()) >= 80:
            out.append((path.stem, doc))
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, sample_raw, page_text) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("inputs")
    lines = []
    for raw in sample_raw:
        name = raw.url.rsplit("/", 1)[1]
        if name.endswith(".css") or name.endswith(".png") or name == "index.html":
            continue
        lines.append({"id": f"mirror/{name}", "url": raw.url.replace("www.debian.org", "mirror.example"),
                      "text": page_text(name)})  # fmt: skip
    for module, doc in docstrings():
        lines.append({"id": f"python/{module}", "text": doc})
    jsonl = folder / "mixed.jsonl"
    jsonl.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), "utf-8")
    assert len(byte_ranges(jsonl.stat().st_size, SPLIT_BYTES)) >= 6
    text = (REPO / "configs" / "sample.toml").read_text("utf-8")
    text = text.replace('name = "sample"', 'name = "scale"').replace("vocab_size = 8192", "vocab_size = 2048")
    text = text.replace("[input]\n", f"[input]\nsplit_bytes = {SPLIT_BYTES}\n")
    # Shards far smaller than the units' runs (and val a few): every test here cuts across units.
    text = text.replace("max_tokens_per_shard = 100000000", f"max_tokens_per_shard = {SHARD_TOKENS}")
    config = folder / "scale.toml"
    config.write_text(text, "utf-8")
    return {"jsonl": str(jsonl), "config": str(config)}


def job_args(inputs: dict[str, str], output: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "pipelines.corpus_job", "--input", str(SAMPLE_WARC), "--input", inputs["jsonl"],
        "--output", str(output), "--config", inputs["config"], *extra,
    ]  # fmt: skip


def run_job(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def digests(run: Path) -> dict[str, str]:
    """sha256 of every output file; run_stats.json (seconds, memory) differs by nature."""
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.name not in ("run_stats.json", "heartbeat.json")
    }


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    output = tmp_path_factory.mktemp("reference")
    started = time.monotonic()
    run_job(job_args(inputs, output, "--engine", "inprocess"))
    return output / "scale", time.monotonic() - started


def test_reference_run_is_cut_into_units_and_adds_up(reference) -> None:
    run, _ = reference
    stats = json.loads((run / "run_stats.json").read_text())
    assert stats["units"] >= 7 and stats["engine"] == "inprocess"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["documents"]["in"] == summary["documents"]["kept"] + summary["documents"]["rejected"]
    by_stage = {s["stage"]: s for s in summary["stages"]}
    # Every page of the mirror is an exact copy of a page of the WARC: one of each pair goes.
    assert by_stage["exact_dedup"]["rejected"] >= 480
    kept_ids = {
        i for p in (run / "docs").glob("*.parquet") for i in pq.read_table(p).column("id").to_pylist()
    }
    assert len(kept_ids) == summary["documents"]["kept"]
    assert any(i.startswith("python/") for i in kept_ids)
    assert set(stats["stages"]) == {
        "extract_filter", "url_dedup", "exact_dedup", "near_dedup", "dedup_apply", "tokenizer",
        "tokenize_shard", "assemble_shards",
    }  # fmt: skip
    # Every stage counts its bytes; the dedup tasks read each byte of their key tables about once.
    assert all(s["bytes_written"] > 0 for s in stats["stages"].values())
    assert all(s["read_amplification"] <= 1.5 for k, s in stats["stages"].items() if k.endswith("_dedup"))


def test_shards_are_cut_across_units(inputs, reference) -> None:
    """One shard per SHARD_TOKENS of a split (the last partial), holding exactly the per-unit
    layout (each unit's kept documents by id hash, units in order), lineage and all."""
    run, _ = reference
    manifest = json.loads((run / "manifest.json").read_text())
    config = PipelineConfig.from_toml(inputs["config"])
    encoder = DocumentEncoder((run / "tokenizer.json").read_text("utf-8"), config.tokenizer.bos_token)
    layout: dict[str, list[tuple[str, np.ndarray]]] = {"train": [], "val": []}
    for path in sorted((run / "docs").glob("*.parquet")):
        for planned in shard_step(read_documents(io.BytesIO(path.read_bytes())), encoder, config):
            layout[planned.split].extend(zip(planned.ids, planned.tokens, strict=True))
    units = json.loads((run / "run_stats.json").read_text())["units"]
    for split, docs in layout.items():
        shards = [s for s in manifest["shards"] if s["split"] == split]
        tokens, longest = sum(len(t) for _, t in docs), max(len(t) for _, t in docs)
        assert longest < SHARD_TOKENS  # so the count is exact
        assert len(shards) == -(-tokens // SHARD_TOKENS)
        assert [s["name"] for s in shards] == [f"{split}_{n:06d}" for n in range(len(shards))]
        for s in shards[:-1]:
            assert abs(s["tokens"] - SHARD_TOKENS) < longest  # within one document of the size
        got = np.concatenate([np.array(open_tokens(run / s["bin"])) for s in shards])
        np.testing.assert_array_equal(got, np.concatenate([t for _, t in docs]))
        lineage = [pq.read_table(run / s["docs"]).to_pylist() for s in shards]
        assert [r["id"] for rows in lineage for r in rows] == [i for i, _ in docs]
        for s, rows in zip(shards, lineage, strict=True):
            assert [r["position"] for r in rows] == list(range(s["documents"]))
            assert [r["tokens"] for r in rows] == read_index(run / s["idx"]).lengths.tolist()
    # Val is a few shards, not one per unit (the per-unit layout gave 8 of 13 units, train 51).
    assert manifest["totals"]["val"]["shards"] == 3 and units >= 13
    report = check_run(run)
    assert report.ok and not report.notes, report.problems
    doc_id, tokens = layout["val"][-1]
    found = decode(run, doc_id=doc_id)
    assert found.shard.startswith("val_") and found.id == doc_id
    np.testing.assert_array_equal(found.tokens, tokens)


def test_multiprocess_engine_writes_the_same_bytes(inputs, reference, tmp_path: Path) -> None:
    run, _ = reference
    done = run_job(job_args(inputs, tmp_path, "--engine", "multiprocess", "--workers", "2"))
    assert json.loads((tmp_path / "scale" / "run_stats.json").read_text())["engine"] == "multiprocess"
    assert digests(tmp_path / "scale") == digests(run), done.stdout
    # Beam's workers start through pipelines.worker: none of their start-up INFO lines (about 15
    # per worker) nor Beam's import notices reach the user's terminal.
    chatter = [line for line in done.stderr.splitlines() if line.startswith(("INFO", "WARNING"))]
    assert not chatter, done.stderr


def test_dask_engine_writes_the_same_bytes(inputs, reference, tmp_path: Path) -> None:
    # Beam's DaskRunner on a LocalCluster of two worker processes, the input cut into units that
    # the joins bring together across the workers.
    run, _ = reference
    done = run_job(job_args(inputs, tmp_path, "--engine", "dask", "--workers", "2"))
    assert json.loads((tmp_path / "scale" / "run_stats.json").read_text())["engine"] == "dask"
    assert digests(tmp_path / "scale") == digests(run), done.stdout
    # Neither the workers' start-up INFO lines nor a traceback from their profiler thread.
    assert "INFO" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]


def markers(output: Path) -> int:
    return len(list((output / "scale" / "work" / "done").glob("*.json")))


def test_sigkill_and_rerun_gives_the_same_bytes(inputs, reference, tmp_path: Path) -> None:
    """Five SIGKILLs, each at a random moment after the job got to a point further on (counted in
    completion markers: units extracted and filtered, dedup applied, the tokenizer, units
    sharded), every rerun resuming the last; then a run to the end.

    The points are reached whatever the machine's speed: a kill waits for its point (the last is
    one unit before the end, never after the job could have finished), then for a random moment
    that ends early when the job passes one more marker, so each kill falls between its point and
    the next marker."""
    run, _ = reference
    assert not (run / "work").exists()  # a finished run removes its work folder
    units = json.loads((run / "run_stats.json").read_text())["units"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(20261202)
    levels = [0, units // 2, units + units // 2, 2 * units + 1, 3 * units]  # of 3 * units + 1
    reached = []
    for level in levels:
        job = subprocess.Popen(
            job_args(inputs, tmp_path, "--engine", "inprocess"),
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        while job.poll() is None and (tmp_path / "scale" / "work" / "done").exists() is False:
            time.sleep(0.005)
        while job.poll() is None and markers(tmp_path) < level:
            time.sleep(0.005)
        at, until = markers(tmp_path), time.monotonic() + rng.uniform(0.0, 0.4)
        while job.poll() is None and time.monotonic() < until and markers(tmp_path) <= at:
            time.sleep(0.005)
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        reached.append(
            (level, markers(tmp_path) if (tmp_path / "scale" / "work").exists() else "done", job.returncode)
        )
    killed = [r for r in reached if r[2] == -signal.SIGKILL]
    assert len(killed) == 5, reached
    run_job(job_args(inputs, tmp_path, "--engine", "inprocess"))
    assert digests(tmp_path / "scale") == digests(run), reached
    assert not list((tmp_path / "scale").rglob("*.tmp"))
    # The kills fell at different points: before any unit finished, and at several later ones.
    assert len({n for _, n, _ in killed}) >= 4, reached
