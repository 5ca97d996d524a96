"""A finished run and a later run into the same output: the same config and inputs are "already
finished" (exit 0); another config or a changed input is refused (exit 2, one ``error:`` line
naming what changed) unless ``--force``, which redoes the run."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest
from apache_beam.io.filesystems import FileSystems
from corpus_helpers import REPO, SAMPLE_WARC

from pipelines import corpus_job

pytestmark = pytest.mark.slow  # whole jobs, rerun

SAMPLE_CONFIG = str(REPO / "configs" / "sample.toml")


def job(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = corpus_job.run(list(args))
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, sample_bytes: bytes, sample_members) -> dict:
    """A finished run on a copy of the first third of the sample (the copy can be touched)."""
    tmp = tmp_path_factory.mktemp("rerun")
    warc = tmp / "part.warc.gz"
    warc.write_bytes(sample_bytes[: sample_members[len(sample_members) // 3].offset])
    args = ["--input", str(warc), "--output", str(tmp / "out"), "--config", SAMPLE_CONFIG]
    rc, stdout, stderr = job(*args, "--engine", "inprocess")
    assert rc == 0, stderr
    return {"warc": warc, "run": tmp / "out" / "sample", "args": args}


def listing(run: Path) -> dict[str, int]:
    return {str(p.relative_to(run)): p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}


def test_the_inputs_are_recorded_with_size_and_mtime(finished) -> None:
    recorded = json.loads((finished["run"] / corpus_job.INPUTS_NAME).read_text("utf-8"))
    stat = finished["warc"].stat()
    assert recorded == {
        "inputs": [{"path": str(finished["warc"]), "bytes": stat.st_size, "mtime": stat.st_mtime}]
    }


def test_same_config_and_inputs_is_already_finished(finished) -> None:
    before = listing(finished["run"])
    rc, stdout, stderr = job(*finished["args"])
    assert (rc, stderr) == (0, "")
    assert stdout == f"{finished['run']}: already finished (manifest.json exists); --force redoes it\n"
    assert listing(finished["run"]) == before


def test_a_changed_config_field_is_refused_naming_it(finished) -> None:
    before = listing(finished["run"])
    rc, stdout, stderr = job(*finished["args"], "--set", "language.min_score=0.6")
    assert (rc, stdout) == (2, "")
    assert stderr == (
        f"error: {finished['run']}: a finished run with another config or input is there "
        "(changed: config language.min_score); --force redoes it, or give this run another "
        "--name or --output\n"
    )
    assert listing(finished["run"]) == before


def test_a_touched_input_is_refused_naming_it_and_force_redoes_the_run(finished, sample_bytes) -> None:
    # Last in this module: it rewrites the run.
    run, warc = finished["run"], finished["warc"]
    manifest = (run / "manifest.json").read_bytes()
    stat = warc.stat()
    os.utime(warc, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # touched, same bytes
    rc, stdout, stderr = job(*finished["args"])
    assert (rc, stdout) == (2, "")
    assert f"(changed: input {warc} (modified))" in stderr and stderr.count("\n") == 1
    # Another input beside it: named as new; the config change is named too.
    extra = warc.with_name("more.warc.gz")
    extra.write_bytes(sample_bytes[len(warc.read_bytes()) :])
    rc, _, stderr = job(*finished["args"], "--input", str(extra), "--set", "near_dedup.threshold=0.9")
    assert rc == 2
    assert f"(changed: config near_dedup.threshold; input {extra} (new); input {warc} (modified))" in stderr
    # --force redoes it: the same bytes (the input's bytes did not change), the new mtime recorded.
    rc, stdout, stderr = job(*finished["args"], "--force", "--engine", "inprocess")
    assert rc == 0, stderr
    assert "corpus job finished" in stdout
    assert (run / "manifest.json").read_bytes() == manifest
    recorded = json.loads((run / corpus_job.INPUTS_NAME).read_text("utf-8"))
    assert recorded["inputs"][0]["mtime"] == warc.stat().st_mtime
    rc, stdout, _ = job(*finished["args"])
    assert rc == 0 and "already finished" in stdout


def test_a_rerun_of_a_killed_run_removes_dead_attempts_temp_files(tmp_path: Path) -> None:
    # Temp names are unique per attempt (pipelines/files.py atomic_output): whatever a killed
    # attempt left under any of them is gone after the rerun's preparation, finished units kept.
    config = corpus_job.PipelineConfig.from_toml(SAMPLE_CONFIG)
    out = str(tmp_path / "sample")
    units: list = []
    stamps = corpus_job.input_stamps([str(SAMPLE_WARC)])
    assert corpus_job.prepare_output(out, False, config, units, stamps)
    dead = [
        tmp_path / "sample" / "docs" / "000000.parquet.3f9c2a7d1b4e5f60.tmp",
        tmp_path / "sample" / "work" / "shards" / "part-000000.bin.0a1b2c3d4e5f6789.tmp",
        tmp_path / "sample" / "summary.json.77aa88bb99cc00dd.tmp",
        tmp_path / "sample" / "train_000003.idx.5e6f7a8b9c0d1e2f.tmp",  # train_* and *.tmp both
    ]
    marker = tmp_path / "sample" / "work" / "done" / "filter-000000.json"
    marker.write_text("{}", "utf-8")
    for p in dead:
        p.write_bytes(SAMPLE_WARC.read_bytes()[:1000])
    messages: list[str] = []
    assert corpus_job.prepare_output(out, False, config, units, stamps, say=messages.append)
    assert messages == [f"{out}: resuming a run that did not finish (1 unit stages already done)"]
    assert not any(p.exists() for p in dead) and marker.exists()


def test_a_finished_run_leaves_no_temp_file_of_an_attempt_that_died(
    finished, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A straggler's temp file beside the attempt that won (as a retried bundle leaves one on a
    # distributed runner): the finished run removes it.
    real_create = FileSystems.create
    strays: list[str] = []

    def create(path: str, *args, **kwargs):
        if "/docs/" in path and not strays:
            stray = path.rsplit(".", 2)[0] + ".deadbeefdeadbeef.tmp"
            with real_create(stray) as f:
                f.write(finished["warc"].read_bytes()[:4096])
            strays.append(stray)
        return real_create(path, *args, **kwargs)

    monkeypatch.setattr(FileSystems, "create", staticmethod(create))
    rc, _, stderr = job(
        "--input",
        str(finished["warc"]),
        "--output",
        str(tmp_path),
        "--config",
        SAMPLE_CONFIG,
        "--engine",
        "inprocess",
    )
    assert rc == 0, stderr
    assert strays and not Path(strays[0]).exists()
    assert not list((tmp_path / "sample").rglob("*.tmp"))
