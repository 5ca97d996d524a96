"""What goes wrong around a run: hostile files among the inputs, a full disk, a crash in the
middle of a write. The job goes on where a record or file can be rejected, and stops with an
error naming the path where it cannot write; no partial file ever carries a final name."""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems
from corpus_helpers import SAMPLE_WARC, warc_response

from pipelines import corpus_job, files


def run_job(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = corpus_job.run(list(args))
    return rc, out.getvalue(), err.getvalue()


def test_hostile_files_are_rejected_and_the_job_goes_on(tmp_path: Path, page_text) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "not-really.parquet").write_bytes(b"PAR1 this is no Parquet file at all")
    text = page_text("ch01.de.html#_console_basics")
    lines = [
        json.dumps({"id": "good", "text": text}),
        # A lone surrogate (JSON allows the escape; no UTF-8 can hold it) in a short text.
        '{"id": "surrogate", "text": ' + json.dumps(text[:60])[:-1] + '\\ud800"}',
        '{"id": "huge", "text": "' + "x" * 300_000 + '"}',
        "\x00\x01 not json",
    ]
    (inputs / "mixed.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    bomb = gzip.compress(b"\0" * (40 * 1024 * 1024), 9)
    (inputs / "bomb.warc.gz").write_bytes(
        warc_response(bomb, "Content-Type: text/html; charset=utf-8\r\nContent-Encoding: gzip\r\n")
    )
    config = tmp_path / "small.toml"
    config.write_text('name = "hostile"\n[input]\nmax_record_bytes = 100000\n[quality]\npreset = "none"\n')
    rc, stdout, stderr = run_job(
        "--input", str(inputs / "*"), "--output", str(tmp_path / "out"), "--config", str(config),
        "--engine", "inprocess",
    )  # fmt: skip
    assert rc == 0, stderr
    run = tmp_path / "out" / "hostile"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["documents"] == {"in": 6, "kept": 1, "rejected": 5}
    rows = [r for p in sorted((run / "rejected").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    reasons = sorted((r["source"].rsplit("/", 1)[1], r["reason"]) for r in rows)
    assert reasons == [
        ("bomb.warc.gz", "record_too_large"),
        ("mixed.jsonl", "jsonl_invalid_json"),
        ("mixed.jsonl", "record_too_large"),
        ("mixed.jsonl", "undecodable_bytes"),
        ("not-really.parquet", "file_unreadable"),
    ]
    unreadable = next(r for r in rows if r["reason"] == "file_unreadable")
    assert "not-really.parquet" in unreadable["detail"] and "Parquet" in unreadable["detail"]


class _FullDisk:
    """A stream on a disk that fills up at the first write."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self) -> None:
        self.stream.close()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def test_a_full_disk_stops_the_job_naming_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_create = FileSystems.create

    def create(path: str, *args, **kwargs):
        stream = real_create(path, *args, **kwargs)
        return _FullDisk(stream) if "/docs/" in path else stream

    monkeypatch.setattr(FileSystems, "create", staticmethod(create))
    rc, _, stderr = run_job(
        "--input", str(SAMPLE_WARC), "--output", str(tmp_path), "--engine", "inprocess", "--name", "full"
    )
    docs = tmp_path / "full" / "docs" / "000000.parquet"
    assert rc == 2  # the user's disk to fix: bad input, as every command exits on it
    assert f"error: {docs}: cannot write (No space left on device)" in stderr
    assert not docs.exists() and not list(tmp_path.rglob("*.tmp"))
    assert not (tmp_path / "full" / "manifest.json").exists()


def test_atomic_output_leaves_nothing_when_the_block_fails(tmp_path: Path) -> None:
    target = tmp_path / "part.bin"
    with pytest.raises(RuntimeError), files.atomic_output(str(target)) as f:
        f.write(b"half of it")
        raise RuntimeError("killed in the middle")
    assert not target.exists() and not (tmp_path / "part.bin.tmp").exists()
    with files.atomic_output(str(target)) as f:
        f.write(b"all of it")
    assert target.read_bytes() == b"all of it"


def test_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(files.OutputError, match=rf"^{blocker}/x.bin: cannot write"):
        with files.atomic_output(str(blocker / "x.bin")) as f:
            f.write(b"data")
