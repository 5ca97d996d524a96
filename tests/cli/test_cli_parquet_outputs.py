"""Every Parquet folder of a run opens as it is in the tools users have: Hugging Face `datasets`,
pandas and DuckDB, also folders with files of no rows (the sample's clusters and rejected
records of a stage that dropped nothing)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

FOLDERS = [
    "docs/*.parquet",
    "rejected/*.parquet",
    "clusters/*.parquet",
    "dedup_index/*.parquet",
    "*.docs.parquet",
]


@pytest.mark.parametrize("pattern", FOLDERS)
@pytest.mark.parametrize("which", ["sample", "code"])
def test_parquet_folders_load_everywhere(
    pattern: str, which: str, sample_corpus, code_corpus, tmp_path
) -> None:
    run = sample_corpus[0] if which == "sample" else code_corpus
    files = sorted(str(p) for p in run.glob(pattern))
    if which == "code" and pattern.startswith("clusters/"):
        assert files == [] and (run / "clusters").is_dir()  # no near duplicates: no cluster file
        return
    assert files, pattern
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    ds = load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == rows
    assert sum(len(pd.read_parquet(f)) for f in files) == rows
    (count,) = duckdb.sql(f"SELECT count(*) FROM read_parquet({files!r})").fetchone()
    assert count == rows


def test_a_file_of_no_rows_has_no_row_group(code_corpus: Path) -> None:
    # The code corpus has no duplicates: its dedup stage's rejected file has no rows.
    empty = [p for p in code_corpus.glob("*/*.parquet") if pq.ParquetFile(p).metadata.num_rows == 0]
    assert empty
    assert all(pq.ParquetFile(p).metadata.num_row_groups == 0 for p in empty)
