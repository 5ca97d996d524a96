"""Units of work: the pieces of input files that workers take one at a time.

A unit is a whole file, a byte range of an uncompressed JSONL file, or a run of row groups of a
Parquet file. Units are planned once by the launcher from file sizes and Parquet footers, numbered
in input order, and every per-unit output (``docs/NNNNNN.parquet``, shard parts, rejected records)
is named by that number, so outputs do not depend on which worker ran what, or when.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from corpus.shards.split import cut_shards


@dataclass(frozen=True)
class WorkUnit:
    index: int
    """Number of the unit in input order; names its outputs."""
    path: str
    format: str
    """``warc``, ``jsonl``, ``parquet`` or ``arrow``."""
    start: int = 0
    """JSONL: first byte (the unit owns the lines that start in [start, end)); Parquet: first
    row group; otherwise 0."""
    end: int = -1
    """JSONL: end byte; Parquet: row group after the last; -1: to the end of the file."""
    first_row: int = 0
    """Parquet: the file's row number of the unit's first row (so rows are named in file terms)."""
    bytes: int = 0
    """Input bytes the unit covers (as stored), for throughput figures."""

    @property
    def whole_file(self) -> bool:
        return self.start == 0 and self.end == -1

    def describe(self) -> str:
        if self.whole_file:
            return self.path
        what = "bytes" if self.format == "jsonl" else "row groups"
        return f"{self.path} ({what} {self.start}-{self.end})"


def splittable_jsonl(path: str) -> bool:
    """Byte ranges need random access to the bytes as stored: compressed files are read whole."""
    lower = path.lower()
    return not any(lower.endswith(s) for s in (".gz", ".zst", ".bz2", ".xz", ".zip"))


def byte_ranges(size: int, split_bytes: int) -> list[tuple[int, int]]:
    """[start, end) ranges of about ``split_bytes`` covering ``size`` bytes (one for an empty file)."""
    if size <= split_bytes:
        return [(0, -1)]
    pieces = -(-size // split_bytes)
    step = -(-size // pieces)
    return [(a, min(a + step, size) if a + step < size else -1) for a in range(0, size, step)]


def row_group_ranges(group_bytes: Sequence[int], split_bytes: int) -> list[tuple[int, int]]:
    """[start, end) runs of consecutive row groups, each about ``split_bytes`` (at least one group)."""
    if sum(group_bytes) <= split_bytes or len(group_bytes) <= 1:
        return [(0, -1)]
    return cut_shards(group_bytes, split_bytes)
