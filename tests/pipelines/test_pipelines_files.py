"""pipelines/files.py: listing inputs, atomic writes, and opening inputs as the stages do."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import pytest
from corpus_helpers import SAMPLE_WARC

from corpus.config import InputConfig
from corpus.errors import InputError
from corpus.readers.detect import input_format, read_documents_of
from corpus.records import RawDocument
from pipelines import files


def test_list_inputs_expands_sorts_and_dedups(tmp_path: Path) -> None:
    for name in ("b.warc.gz", "a.warc.gz", "c.jsonl"):
        (tmp_path / name).write_bytes(b"")
    got = files.list_inputs(
        [str(tmp_path / "*.warc.gz"), str(tmp_path / "a.warc.gz"), str(tmp_path / "c.jsonl")]
    )
    assert got == [str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz"), str(tmp_path / "c.jsonl")]


def test_list_inputs_names_a_pattern_that_matches_nothing(tmp_path: Path) -> None:
    pattern = str(tmp_path / "*.parquet")
    with pytest.raises(InputError, match=f"^{pattern.replace('*', '[*]')}: no input file matches$"):
        files.list_inputs([str(SAMPLE_WARC), pattern])


def test_write_atomic_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    path = str(tmp_path / "summary.json")
    files.write_atomic(path, lambda f: f.write(b"first"))
    files.write_atomic(path, lambda f: f.write(b"second"))
    assert files.read_bytes(path) == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_two_attempts_writing_one_output_at_once_do_not_collide(tmp_path: Path) -> None:
    # A retried or speculative bundle on a distributed runner: two attempts of the same unit write
    # the same output at the same time. Each has its own temp file; both finish; the file is one
    # attempt's complete bytes; no temp file is left. With one shared `path.tmp`, the second
    # attempt's create truncated the first one's file and its rename found the temp gone.
    path = str(tmp_path / "docs" / "000000.parquet")
    files.makedirs(str(tmp_path / "docs"))
    data = SAMPLE_WARC.read_bytes()
    payloads = [data[: len(data) // 2], data[len(data) // 2 :]]
    inside = threading.Barrier(2)
    temps: list[set[str]] = []
    errors: list[BaseException] = []

    def attempt(payload: bytes) -> None:
        try:
            with files.atomic_output(path) as f:
                inside.wait(timeout=30)  # both attempts have their temp file open
                temps.append({p.name for p in (tmp_path / "docs").iterdir()})
                for at in range(0, len(payload), 1 << 16):
                    f.write(payload[at : at + (1 << 16)])
                inside.wait(timeout=30)  # both have written everything, neither has renamed
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=attempt, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(temps) == 2 and len(temps[0]) == 2  # two distinct temp names, side by side
    assert all(name.startswith("000000.parquet.") and name.endswith(".tmp") for name in temps[0])
    assert files.read_bytes(path) in payloads
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == ["000000.parquet"]


def test_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    path = str(tmp_path / "manifest.json")
    files.write_atomic(path, lambda f: f.write(b"{}"))

    def broken(f) -> None:
        f.write(b'{"half":')
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        files.write_atomic(path, broken)
    assert files.read_bytes(path) == b"{}"


def test_sample_warc_opened_as_the_extract_stage_does() -> None:
    path = str(SAMPLE_WARC)
    skipped: dict[str, int] = {}
    decompress = input_format(path, InputConfig()) == "jsonl"
    with files.open_input(path, decompress=decompress) as stream:
        n = sum(1 for _ in read_documents_of(stream, path, InputConfig(), skipped))
    assert (n, skipped) == (521, {"warc_warcinfo": 1})


def test_gzipped_jsonl_is_read(tmp_path: Path, paragraphs: dict[str, str]) -> None:
    path = tmp_path / "paragraphs.jsonl.gz"
    lines = [json.dumps({"id": lang, "text": text}, ensure_ascii=False) for lang, text in paragraphs.items()]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0))
    with files.open_input(str(path), decompress=True) as stream:
        items = list(read_documents_of(stream, str(path), InputConfig(), {}))
    assert [i.id for i in items] == list(paragraphs)
    assert all(isinstance(i, RawDocument) for i in items)


def test_io_is_counted_per_open_count_and_ranges_read_only_their_bytes(tmp_path: Path) -> None:
    from corpus_helpers import SAMPLE_WARC

    from pipelines import files

    data = SAMPLE_WARC.read_bytes()
    outer = files.start_counting()
    with files.counting() as inner:
        files.write_atomic(str(tmp_path / "copy.warc.gz"), lambda f: f.write(data))
        assert files.read_bytes(str(tmp_path / "copy.warc.gz")) == data
        reader = files.RangeReader()
        assert reader.read(str(tmp_path / "copy.warc.gz"), 1000, 64) == data[1000:1064]
        reader.close()
    assert (inner.read, inner.written) == (len(data) + 64, len(data))
    with files.open_input(str(SAMPLE_WARC), decompress=True) as f:  # counted as stored (gzip)
        f.read()
    assert outer.stop() == {"bytes_read": 2 * len(data) + 64, "bytes_written": len(data)}
    assert reader.read_bytes == 64


def test_reads_on_other_threads_count_for_the_task_that_opened_the_file(sample_corpus) -> None:
    # pyarrow reads a Parquet file from its own I/O threads; a sample drained by a library on a
    # thread of its own (tokenizers) reads from there: both belong to the opening task's count.
    from corpus.records import row_groups

    run, _, _ = sample_corpus
    docs = sorted((run / "docs").glob("*.parquet"))[0]
    with files.counting() as count:
        stream = files.open_input(str(docs), decompress=False)
        tables = []
        worker = threading.Thread(target=lambda: tables.extend(row_groups(stream)))
        worker.start()
        worker.join()
        stream.close()
    assert sum(t.num_rows for t in tables) > 0
    # Every column chunk was read; pyarrow reads the footer more than once (a few KB).
    assert docs.stat().st_size * 0.95 <= count.read <= docs.stat().st_size * 1.1
    with files.counting() as outside:
        pass
    assert outside.read == 0
