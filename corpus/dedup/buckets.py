"""LSH buckets by sorting arrays, not by shuffling one record per document and band.

Each unit's band keys become one sorted key table (corpus/dedup/sorted_keys.py) with a section
per band, each sorted by its key (``band_table``); a task then takes one band and one slice of
the key space from every unit, reading only that section's rows of its slice, sorts the keys
with numpy and turns every run of equal keys into a star of candidate pairs
(``bucket_task_edges``). Memory per task is about 40 bytes per document of its slice, whatever
the corpus size (more parts for more documents), and nothing per document goes through a
shuffle: only the candidate pairs, which are few. Each row of a band table is read once, by
the one task of its band and slice.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa

from corpus.dedup import sorted_keys
from corpus.dedup.near import Edge, Node, bucket_edges

DOCS_PER_TASK = 4_000_000
"""Documents of one band a bucket task sorts at most (about 160 MB of arrays)."""

COLUMNS = ("key", "preference", "id_hash", "position")
"""A band table's row: the band key first (63 bits: spread over 64 by a shift of 1)."""


def band_table(tables: Iterable[pa.Table], excluded: set[int]) -> tuple[bytes, sorted_keys.Layout]:
    """A sorted key table of the unit's documents on near dedup (those with band keys, not
    ``excluded`` by URL or exact dedup): per band a section of rows (``COLUMNS``), and every
    document's id by position."""
    keys, pref, hashes, positions = [], [], [], []
    ids: dict[int, str] = {}
    width = 0
    for table in tables:
        bands = table.column("bands").combine_chunks()
        has = np.asarray(bands.is_valid()) if bands.null_count else np.ones(len(bands), dtype=bool)
        pos = table.column("position").to_numpy()
        ids.update(zip(pos.tolist(), table.column("id").to_pylist(), strict=True))
        keep = has & ~np.isin(pos, np.fromiter(excluded, dtype=np.int64, count=len(excluded)))
        if not keep.any():
            continue
        chosen = bands.filter(pa.array(keep))
        width = len(chosen[0])
        keys.append(chosen.flatten().to_numpy().astype(np.int64).reshape(-1, width))
        pref.append(table.column("preference").to_numpy()[keep])
        hashes.append(table.column("id_hash").to_numpy()[keep])
        positions.append(pos[keep])
    id_list = sorted_keys.ids_by_position(ids)
    if not keys:
        return sorted_keys.table_bytes([np.zeros((0, len(COLUMNS)), dtype=np.int64)], id_list, shift=1)
    all_keys = np.concatenate(keys)
    rest = [np.concatenate(c).astype(np.int64) for c in (pref, hashes, positions)]
    sections = [np.stack([all_keys[:, b], *rest], axis=1) for b in range(width)]
    return sorted_keys.table_bytes(sections, id_list, shift=1)


def parts_for(documents: int) -> int:
    return sorted_keys.parts_for(documents, DOCS_PER_TASK)


def bucket_task_edges(
    units: Iterable[tuple[int, sorted_keys.Layout]], band: int, part: int, parts: int, read: sorted_keys.Read
) -> list[Edge]:
    """Candidate pairs of one band and one slice of its key space, from every unit's band table
    (``(unit, layout)``, bytes by ``read``); the ids of the nodes of buckets with more than one
    member (the only ones that need them) are read from the same tables."""
    layouts = dict(units)
    blocks, unit_of = [], []
    for unit, layout in layouts.items():
        if not layout.rows:
            continue
        if band >= layout.sections:
            raise ValueError(f"unit {unit}: a band table of {layout.sections} bands has no band {band}")
        rows = sorted_keys.read_slice(layout, band, part, parts, lambda o, n, u=unit: read(u, o, n))
        blocks.append(rows)
        unit_of.append(np.full(len(rows), unit, dtype=np.int64))
    if not blocks:
        return []
    stacked = np.concatenate(blocks)
    a = {name: stacked[:, i] for i, name in enumerate(COLUMNS)}
    a["unit"] = np.concatenate(unit_of)
    order = np.lexsort((a["position"], a["unit"], a["id_hash"], a["preference"], a["key"]))
    key = a["key"][order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sizes = np.diff(np.r_[starts, len(key)])
    runs = [(s, n) for s, n in zip(starts.tolist(), sizes.tolist(), strict=True) if n > 1]
    if not runs:
        return []
    members = np.concatenate([order[s : s + n] for s, n in runs])
    wanted: dict[int, set[int]] = {}
    for i in members.tolist():
        wanted.setdefault(int(a["unit"][i]), set()).add(int(a["position"][i]))
    ids = {}
    for unit, positions in wanted.items():
        found = sorted_keys.read_ids(layouts[unit], positions, lambda o, n, u=unit: read(u, o, n))
        ids.update({(unit, p): i for p, i in found.items()})
    edges: list[Edge] = []
    for s, n in runs:
        nodes: list[Node] = []
        for i in order[s : s + n].tolist():
            unit, pos = int(a["unit"][i]), int(a["position"][i])
            nodes.append((int(a["preference"][i]), int(a["id_hash"][i]), ids[(unit, pos)], unit, pos))
        edges.extend(bucket_edges(nodes))
    return edges
