"""corpus/units.py and pipelines/files.plan_units: how inputs are cut into units of work."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.config import InputConfig
from corpus.readers.detect import read_documents_of
from corpus.units import WorkUnit, byte_ranges, row_group_ranges, splittable_jsonl
from pipelines import files


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=10**8))
def test_byte_ranges_cover_the_file_without_overlap(size: int, split: int) -> None:
    # At most 10,000 ranges per example: a file of 1 GB cut every byte would take minutes.
    split = max(split, size // 10_000 + 1)
    ranges = byte_ranges(size, split)
    if size <= split:
        assert ranges == [(0, -1)]
        return
    ends = [size if b < 0 else b for _, b in ranges]
    assert ranges[0][0] == 0 and ranges[-1][1] == -1
    assert all(a < b for (a, _), b in zip(ranges, ends, strict=True))
    assert all(ends[i] == ranges[i + 1][0] for i in range(len(ranges) - 1))
    assert max(b - a for (a, _), b in zip(ranges, ends, strict=True)) <= split


def test_row_group_ranges_group_whole_row_groups() -> None:
    assert row_group_ranges([10, 10, 10], 100) == [(0, -1)]
    assert row_group_ranges([60, 60, 10, 10, 90], 100) == [(0, 1), (1, 4), (4, 5)]
    assert row_group_ranges([500], 100) == [(0, -1)]  # one row group cannot be cut


def test_compressed_jsonl_is_read_whole() -> None:
    assert splittable_jsonl("a/docs.jsonl") and not splittable_jsonl("a/docs.jsonl.gz")
    assert not splittable_jsonl("a/docs.JSONL.ZST")


def test_plan_units_and_read_every_row_once(tmp_path: Path, paragraphs: dict[str, str]) -> None:
    rows = [
        {"id": f"{lang}-{i}", "text": text} for i in range(40) for lang, text in sorted(paragraphs.items())
    ]
    parquet = tmp_path / "docs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet, row_group_size=16)  # 10 row groups
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    config = InputConfig(split_bytes=max(parquet.stat().st_size, jsonl.stat().st_size) // 4)
    units = files.plan_units([str(jsonl), str(parquet)], config)
    by_file = {p: [u for u in units if u.path == p] for p in (str(jsonl), str(parquet))}
    assert len(by_file[str(jsonl)]) >= 4 and len(by_file[str(parquet)]) >= 2
    assert [u.index for u in units] == list(range(len(units)))
    assert sum(u.bytes for u in by_file[str(jsonl)]) == jsonl.stat().st_size
    for path, pieces in by_file.items():
        ids = []
        for unit in pieces:
            with files.open_input(unit.path, decompress=False) as f:
                ids += [d.id for d in read_documents_of(f, unit.path, config, {}, unit)]
        assert ids == [r["id"] for r in rows], path
    # Rows are named by their row number in the whole file, whichever unit read them.
    last = by_file[str(parquet)][-1]
    assert last.first_row == 16 * last.start > 0


def test_a_file_that_is_not_parquet_is_one_unit(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    assert files.plan_units([str(bad)], InputConfig()) == [WorkUnit(0, str(bad), "parquet", 0, -1, 0, 11)]
