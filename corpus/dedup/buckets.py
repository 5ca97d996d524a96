"""LSH buckets by sorting arrays, not by shuffling one record per document and band.

Each unit's band keys become one compact array file (``band_table``); a task then takes one band
and one slice of the key space (``key % parts == part``) from every unit, sorts the keys with
numpy and turns every run of equal keys into a star of candidate pairs (``bucket_edges``). Memory
per task is about 40 bytes per document of its slice, whatever the corpus size (more parts for
more documents), and nothing per document goes through a shuffle: only the candidate pairs,
which are few.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa

from corpus.dedup.near import Edge, Node, bucket_edges

DOCS_PER_TASK = 4_000_000
"""Documents of one band a bucket task sorts at most (about 160 MB of arrays)."""


def band_table(tables: Iterable[pa.Table], excluded: set[int]) -> tuple[bytes, int]:
    """An .npz of the unit's documents on near dedup (those with band keys, not ``excluded`` by
    URL or exact dedup): ``keys`` int64[n, bands], ``preference``, ``id_hash``, ``position``;
    and n."""
    keys, pref, hashes, positions = [], [], [], []
    for table in tables:
        bands = table.column("bands").combine_chunks()
        has = np.asarray(bands.is_valid()) if bands.null_count else np.ones(len(bands), dtype=bool)
        pos = table.column("position").to_numpy()
        keep = has & ~np.isin(pos, np.fromiter(excluded, dtype=np.int64, count=len(excluded)))
        if not keep.any():
            continue
        chosen = bands.filter(pa.array(keep))
        width = len(chosen[0]) if len(chosen) else 0
        keys.append(chosen.flatten().to_numpy().astype(np.int64).reshape(-1, width))
        pref.append(table.column("preference").to_numpy()[keep])
        hashes.append(table.column("id_hash").to_numpy()[keep])
        positions.append(pos[keep])
    buffer = io.BytesIO()
    documents = sum(len(p) for p in positions)
    if keys:
        np.savez(buffer, keys=np.concatenate(keys), preference=np.concatenate(pref),
                 id_hash=np.concatenate(hashes), position=np.concatenate(positions))  # fmt: skip
    else:
        empty = np.zeros(0, dtype=np.int64)
        np.savez(
            buffer, keys=np.zeros((0, 0), dtype=np.int64), preference=empty, id_hash=empty, position=empty
        )
    return buffer.getvalue(), documents


def parts_for(documents: int) -> int:
    return max(1, -(-documents // DOCS_PER_TASK))


def bucket_task_edges(
    units: Iterable[tuple[int, bytes]],
    band: int,
    part: int,
    parts: int,
    ids_of: Callable[[int, list[int]], list[str]],
) -> list[Edge]:
    """Candidate pairs of one band and one slice of its key space, from every unit's band table
    (``(unit, npz bytes)``); ``ids_of(unit, positions)`` gives document ids for the nodes of
    buckets with more than one member (the only ones that need them)."""
    cols: dict[str, list[np.ndarray]] = {
        "key": [],
        "preference": [],
        "id_hash": [],
        "unit": [],
        "position": [],
    }
    for unit, data in units:
        with np.load(io.BytesIO(data)) as z:
            if not len(z["position"]):
                continue
            key = z["keys"][:, band]
            mine = (key.view(np.uint64) % np.uint64(parts)) == part
            cols["key"].append(key[mine])
            cols["preference"].append(z["preference"][mine])
            cols["id_hash"].append(z["id_hash"][mine])
            cols["position"].append(z["position"][mine])
            cols["unit"].append(np.full(int(mine.sum()), unit, dtype=np.int64))
    if not cols["key"]:
        return []
    a = {k: np.concatenate(v) for k, v in cols.items()}
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
        ordered = sorted(positions)
        ids.update({(unit, p): i for p, i in zip(ordered, ids_of(unit, ordered), strict=True)})
    edges: list[Edge] = []
    for s, n in runs:
        nodes: list[Node] = []
        for i in order[s : s + n].tolist():
            unit, pos = int(a["unit"][i]), int(a["position"][i])
            nodes.append((int(a["preference"][i]), int(a["id_hash"][i]), ids[(unit, pos)], unit, pos))
        edges.extend(bucket_edges(nodes))
    return edges
