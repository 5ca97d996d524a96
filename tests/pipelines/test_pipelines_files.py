"""pipelines/files.py: listing inputs, atomic writes, and opening inputs as the stages do."""

from __future__ import annotations

import gzip
import json
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
