"""Exact dedup: among documents with the same normalised-text hash, keep the one whose id hashes
lowest (a choice independent of arrival order), drop the others as ``exact_duplicate``.

Only keys take part, never text, so the grouping can run in a shuffle. A member is
``(id_hash, id, file_index, position)``: the occurrence, not just the id, so that two copies of
the same record (a file read twice, a JSONL line repeated) are still one kept and one dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa

from corpus.dedup import sorted_keys

STAGE = "exact_dedup"
REASON = "exact_duplicate"

Member = tuple[int, str, int, int]


def choose_keeper(members: Iterable[Member]) -> tuple[Member, list[Member]]:
    """(kept member, dropped members) among the members sharing one text hash."""
    ranked = sorted(members)
    return ranked[0], ranked[1:]


# --- at corpus scale: sorted arrays instead of a shuffle of one record per document ------------

KEY, RANK = ("text_hash",), ("id_hash",)


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
    return sorted_keys.to_npz(arrays), len(arrays["position"])


def task_drops(
    units: Iterable[tuple[int, bytes]], part: int, parts: int, ids_of: Callable[[int, list[int]], list[str]]
) -> list[sorted_keys.Drop]:
    """(unit, (position, ``exact_dedup``, kept id)) for every dropped occurrence among the
    documents whose text hash falls in slice ``part`` of ``parts``: per run of equal hashes the
    smallest (id_hash, unit, position) stays, as ``choose_keeper`` decides."""
    return sorted_keys.task_drops(units, part, parts, KEY, RANK, STAGE, ids_of)
