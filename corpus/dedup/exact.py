"""Exact dedup: among documents with the same normalised-text hash, keep the one whose id hashes
lowest (a choice independent of arrival order), drop the others as ``exact_duplicate``.

Only keys take part, never text, so the grouping can run in a shuffle. A member is
``(id_hash, id, file_index, position)``: the occurrence, not just the id, so that two copies of
the same record (a file read twice, a JSONL line repeated) are still one kept and one dropped.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa

STAGE = "exact_dedup"
REASON = "exact_duplicate"

Member = tuple[int, str, int, int]


def choose_keeper(members: Iterable[Member]) -> tuple[Member, list[Member]]:
    """(kept member, dropped members) among the members sharing one text hash."""
    ranked = sorted(members)
    return ranked[0], ranked[1:]


# --- at corpus scale: sorted arrays instead of a shuffle of one record per document ------------

DOCS_PER_TASK = 8_000_000
"""Documents of one slice of the hash space a task sorts at most (about 200 MB of arrays)."""


def exact_table(tables: Iterable[pa.Table], excluded: set[int]) -> tuple[bytes, int]:
    """An .npz of a unit's documents on exact dedup (all but ``excluded`` positions, which
    earlier dedups dropped): ``text_hash``, ``id_hash``, ``position`` (int64); and their count."""
    columns: dict[str, list[np.ndarray]] = {"text_hash": [], "id_hash": [], "position": []}
    drop = np.fromiter(excluded, dtype=np.int64, count=len(excluded))
    for table in tables:
        pos = table.column("position").to_numpy()
        keep = ~np.isin(pos, drop)
        columns["position"].append(pos[keep].astype(np.int64))
        for name in ("text_hash", "id_hash"):
            columns[name].append(table.column(name).to_numpy().astype(np.int64)[keep])
    arrays = {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in columns.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue(), len(arrays["position"])


def parts_for(documents: int) -> int:
    return max(1, -(-documents // DOCS_PER_TASK))


def task_drops(
    units: Iterable[tuple[int, bytes]], part: int, parts: int, ids_of: Callable[[int, list[int]], list[str]]
) -> list[tuple[int, tuple[int, str, str]]]:
    """(unit, (position, ``exact_dedup``, kept id)) for every dropped occurrence among the
    documents whose text hash falls in slice ``part`` of ``parts``: per run of equal hashes the
    smallest (id_hash, unit, position) stays, as ``choose_keeper`` decides."""
    cols: dict[str, list[np.ndarray]] = {"text_hash": [], "id_hash": [], "unit": [], "position": []}
    for unit, data in units:
        with np.load(io.BytesIO(data)) as z:
            mine = (z["text_hash"].view(np.uint64) % np.uint64(parts)) == part
            for name in ("text_hash", "id_hash", "position"):
                cols[name].append(z[name][mine])
            cols["unit"].append(np.full(int(mine.sum()), unit, dtype=np.int64))
    if not cols["text_hash"]:
        return []
    a = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((a["position"], a["unit"], a["id_hash"], a["text_hash"]))
    key = a["text_hash"][order]
    first = np.r_[True, key[1:] != key[:-1]]
    starts = np.flatnonzero(first)
    sizes = np.diff(np.r_[starts, len(key)])
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
    keeper_of = np.repeat(order[starts], sizes)  # each sorted row's keeper (the run's first)
    dropped = ~first
    out = []
    for i, k in zip(order[dropped].tolist(), keeper_of[dropped].tolist(), strict=True):
        kept_id = ids[(int(a["unit"][k]), int(a["position"][k]))]
        out.append((int(a["unit"][i]), (int(a["position"][i]), STAGE, kept_id)))
    return out
