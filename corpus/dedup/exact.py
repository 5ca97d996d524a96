"""Exact dedup: among documents with the same normalised-text hash, keep the one whose id hashes
lowest (a choice independent of arrival order), drop the others as ``exact_duplicate``.

Only keys take part, never text, so the grouping can run in a shuffle. A member is
``(id_hash, id, file_index, position)``: the occurrence, not just the id, so that two copies of
the same record (a file read twice, a JSONL line repeated) are still one kept and one dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import xxhash

from corpus.dedup import sorted_keys

STAGE = "exact_dedup"
REASON = "exact_duplicate"

Member = tuple[int, str, int, int]


def choose_keeper(members: Iterable[Member]) -> tuple[Member, list[Member]]:
    """(kept member, dropped members) among the members sharing one text hash."""
    ranked = sorted(members)
    return ranked[0], ranked[1:]


# --- at corpus scale: sorted arrays instead of a shuffle of one record per document ------------

KEY, RANK = ("text_hi", "text_lo"), ("id_hash",)
"""The normalised text by its 128-bit xxh3 hash (two int64 columns, as URL keys): at 10B
documents the chance that two different texts share a key is about 1e-19, where the 63-bit
``text_hash`` would give a wrong ``exact_duplicate`` at 1B documents with a chance of ~5%."""


def text_key(text: str) -> tuple[int, int]:
    """(hi, lo) of the text's 128-bit xxh3 hash, as two int64."""
    hi, lo = np.frombuffer(
        xxhash.xxh3_128_digest(text.encode("utf-8", "surrogatepass")), dtype=">i8"
    ).tolist()
    return hi, lo


def exact_table(tables: Iterable[pa.Table], excluded: set[int]) -> tuple[bytes, sorted_keys.Layout]:
    """A sorted key table (corpus/dedup/sorted_keys.py) of a unit's documents on exact dedup
    (all but ``excluded`` positions, which earlier dedups dropped): rows (``text_hi``,
    ``text_lo``, ``id_hash``, ``position``), and every document's id by position."""
    columns: dict[str, list[np.ndarray]] = {name: [] for name in (*KEY, *RANK, "position")}
    ids: dict[int, str] = {}
    drop = np.fromiter(excluded, dtype=np.int64, count=len(excluded))
    for table in tables:
        pos = table.column("position").to_numpy()
        keep = ~np.isin(pos, drop)
        columns["position"].append(pos[keep].astype(np.int64))
        for name in (*KEY, *RANK):
            columns[name].append(table.column(name).to_numpy().astype(np.int64)[keep])
        ids.update(zip(pos.tolist(), table.column("id").to_pylist(), strict=True))
    rows = np.stack(
        [np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for v in columns.values()], axis=1
    )
    return sorted_keys.table_bytes([rows], sorted_keys.ids_by_position(ids))


def task_drops(
    units: Iterable[tuple[int, sorted_keys.Layout]], part: int, parts: int, read: sorted_keys.Read
) -> list[sorted_keys.Drop]:
    """(unit, (position, ``exact_dedup``, kept id)) for every dropped occurrence among the
    documents whose text hash falls in slice ``part`` of ``parts``: per run of equal hashes the
    smallest (id_hash, unit, position) stays, as ``choose_keeper`` decides."""
    return sorted_keys.task_drops(units, part, parts, KEY, RANK, STAGE, read)
