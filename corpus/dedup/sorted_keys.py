"""Dedup by sorting arrays instead of shuffling a record per document (URL and exact dedup).

Each unit writes its documents' key and rank columns as an .npz (int64 arrays, ``position``
among them); a task takes one slice of the key space (the first key column modulo ``parts``),
sorts the slice's rows of every unit by (key, rank, unit, position), and in each run of equal keys
keeps the first row and drops the others. Only the drops leave the task, each with the kept
document's id. A task holds at most ``DOCS_PER_TASK`` rows, so memory does not grow with the
corpus: more documents make more tasks.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence

import numpy as np

DOCS_PER_TASK = 8_000_000
"""Rows of one slice of the key space a task sorts at most (a few hundred MB of arrays)."""

Drop = tuple[int, tuple[int, str, str]]
"""(unit, (position, stage, kept id))."""


def parts_for(documents: int) -> int:
    return max(1, -(-documents // DOCS_PER_TASK))


def to_npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def task_drops(
    units: Iterable[tuple[int, bytes]],
    part: int,
    parts: int,
    key: Sequence[str],
    rank: Sequence[str],
    stage: str,
    ids_of: Callable[[int, list[int]], list[str]],
) -> list[Drop]:
    """(unit, (position, ``stage``, kept id)) for every dropped row among the rows whose first
    key column falls in slice ``part`` of ``parts``: per run of equal ``key`` columns the smallest
    (``rank`` columns, unit, position) stays."""
    names = (*key, *rank, "position")
    cols: dict[str, list[np.ndarray]] = {name: [] for name in (*names, "unit")}
    for unit, data in units:
        with np.load(io.BytesIO(data)) as z:
            mine = (z[key[0]].view(np.uint64) % np.uint64(parts)) == part
            for name in names:
                cols[name].append(z[name][mine])
            cols["unit"].append(np.full(int(mine.sum()), unit, dtype=np.int64))
    if not cols["unit"]:
        return []
    a = {k: np.concatenate(v) for k, v in cols.items()}
    # lexsort: the last column is the primary one.
    order = np.lexsort([a[c] for c in reversed((*key, *rank, "unit", "position"))])
    first = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        same = np.ones(len(order) - 1, dtype=bool)
        for c in key:
            sorted_c = a[c][order]
            same &= sorted_c[1:] == sorted_c[:-1]
        first[1:] = ~same
    starts = np.flatnonzero(first)
    sizes = np.diff(np.r_[starts, len(order)])
    keepers = order[starts[sizes > 1]]
    if not len(keepers):
        return []
    wanted: dict[int, list[int]] = {}
    for i in keepers.tolist():
        wanted.setdefault(int(a["unit"][i]), []).append(int(a["position"][i]))
    ids: dict[tuple[int, int], str] = {}
    for unit, positions in wanted.items():
        ordered = sorted(positions)
        ids.update({(unit, p): i for p, i in zip(ordered, ids_of(unit, ordered), strict=True)})
    keeper_of = np.repeat(order[starts], sizes)  # each sorted row's keeper (its run's first)
    dropped = ~first
    out = []
    for i, k in zip(order[dropped].tolist(), keeper_of[dropped].tolist(), strict=True):
        kept_id = ids[(int(a["unit"][k]), int(a["position"][k]))]
        out.append((int(a["unit"][i]), (int(a["position"][i]), stage, kept_id)))
    return out
