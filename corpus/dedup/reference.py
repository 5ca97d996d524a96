"""Dedup against the corpus of an earlier run (incremental dumps, one dataset against another).

A finished run leaves ``dedup_index/NNNNNN.parquet`` beside ``docs/NNNNNN.parquet``: one row per
kept document, in the same order, with what a later run compares (``INDEX_SCHEMA``: id, URL key,
text hash, LSH band keys). No text: near-duplicate candidates are verified against the reference
document's text in ``docs/``, shingled again, so only the few candidates cost anything.

A run given ``[dedup] reference = ["out/earlier"]`` loads every reference index once per worker
as sorted arrays (about 150 bytes per reference document) and, per unit, drops each document
whose URL key, text hash, or verified near-duplicate is in a reference -- before its own URL,
exact and near dedup, so that every witness of a removal, reference or not, is in a corpus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpus.config import NearDedupConfig, PipelineConfig
from corpus.dedup import exact, near, url
from corpus.errors import InputError, load_json
from corpus.hashing import text_hash

INDEX_DIR = "dedup_index"

INDEX_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url_key", pa.string()),
        pa.field("text_hash", pa.int64(), nullable=False),
        pa.field("bands", pa.list_(pa.int64())),
    ]
)
"""Per kept document, row for row with ``docs/NNNNNN.parquet``."""

REASONS = {
    url.STAGE: "reference_url_duplicate",
    exact.STAGE: "reference_exact_duplicate",
    near.STAGE: "reference_minhash_duplicate",
}

_LSH_FIELDS = ("shingle", "ngram", "num_perm", "seed")


def index_table(keys: pa.Table, kept: np.ndarray) -> pa.Table:
    """The index rows of a batch of a unit's dedup keys (corpus.dedup.keys.KEYS_SCHEMA) whose
    ``kept`` mask is set, in order."""
    chosen = keys.filter(pa.array(kept)) if len(keys) else keys
    return pa.table({name: chosen.column(name) for name in INDEX_SCHEMA.names}, schema=INDEX_SCHEMA)


def _lsh_settings(config: NearDedupConfig) -> dict:
    return {**{f: getattr(config, f) for f in _LSH_FIELDS}, "lsh_shape": list(config.lsh_shape())}


@dataclass
class _Run:
    path: Path
    files: list[Path]
    """docs/ files, one per index file."""


def check_references(runs: Sequence[str], config: PipelineConfig) -> None:
    """Raise ValueError naming the run and the problem unless every reference run is a finished
    run with an index whose band keys compare with this config's."""
    want = _lsh_settings(config.near_dedup)
    for run in runs:
        root = Path(run)
        manifest = root / "manifest.json"
        if not manifest.is_file():
            raise InputError(f"dedup.reference: {run} is not a finished run (no manifest.json)")
        if not (root / INDEX_DIR).is_dir():
            raise InputError(
                f"dedup.reference: {run} has no {INDEX_DIR}/ (a run from before reference dedup "
                "existed); rerun it with --force"
            )
        earlier = PipelineConfig.from_dict(load_json(manifest)["config"])
        have = _lsh_settings(earlier.near_dedup)
        if config.near_dedup.enabled and have != want:
            field = next(k for k in want if want[k] != have[k])
            raise InputError(
                f"dedup.reference: {run} was deduplicated with near_dedup {field} = {have[field]}, "
                f"this run uses {want[field]}: their band keys cannot be compared"
            )


class Reference:
    """Every reference run's index as sorted arrays, with lookups by URL key, text hash and band."""

    def __init__(self, runs: Sequence[str], config: PipelineConfig) -> None:
        self.config = config
        self.runs: list[_Run] = []
        ids: list[pa.Array] = []
        url_hashes, text_hashes, bands, where = [], [], [], []
        check_references(runs, config)
        for r, run in enumerate(runs):
            root = Path(run)
            index_dir = root / INDEX_DIR
            index_files = sorted(index_dir.glob("*.parquet"))
            self.runs.append(_Run(root, [root / "docs" / f.name for f in index_files]))
            for f, path in enumerate(index_files):
                table = pq.read_table(path, schema=INDEX_SCHEMA)
                n = len(table)
                ids.append(table.column("id").combine_chunks())
                keys = table.column("url_key").to_pylist()
                url_hashes.append(np.array([text_hash(k) if k else -1 for k in keys], dtype=np.int64))
                text_hashes.append(table.column("text_hash").to_numpy())
                bands.append(_band_matrix(table.column("bands").combine_chunks(), config.near_dedup))
                where.append(np.stack([np.full(n, r), np.full(n, f), np.arange(n)], axis=1))
        self.ids = pa.concat_arrays(ids) if ids else pa.array([], pa.string())
        self.where = np.concatenate(where) if where else np.zeros((0, 3), dtype=np.int64)
        self._url = _Sorted(np.concatenate(url_hashes) if url_hashes else np.zeros(0, np.int64))
        self._text = _Sorted(np.concatenate(text_hashes) if text_hashes else np.zeros(0, np.int64))
        width = config.near_dedup.lsh_shape()[0]
        matrix = np.concatenate(bands) if bands else np.zeros((0, width), np.int64)
        self._bands = [_Sorted(matrix[:, b]) for b in range(matrix.shape[1])]

    def __len__(self) -> int:
        return len(self.ids)

    def id_of(self, j: int) -> str:
        return self.ids[j].as_py()

    def by_url(self, key: str | None) -> int | None:
        return self._url.first(text_hash(key)) if key else None

    def by_text(self, hash_: int) -> int | None:
        return self._text.first(hash_)

    def candidates(self, bands: Sequence[int]) -> set[int]:
        """Reference documents sharing at least one LSH band key with ``bands``."""
        found: set[int] = set()
        for b, key in enumerate(bands):
            found.update(self._bands[b].all(key))
        return found

    def comparables(self, refs: Iterable[int]) -> dict[int, np.ndarray]:
        """Reference document -> its shingle set (or signature), from its text in ``docs/``."""
        wanted: dict[tuple[int, int], list[int]] = {}
        for j in sorted(set(refs)):
            r, f, _ = self.where[j]
            wanted.setdefault((int(r), int(f)), []).append(j)
        out: dict[int, np.ndarray] = {}
        nd = self.config.near_dedup
        for (r, f), js in wanted.items():
            texts = pq.read_table(self.runs[r].files[f], columns=["text"]).column("text")
            chosen = [texts[int(self.where[j][2])].as_py() for j in js]
            keys = near.band_keys_of(chosen, nd, keep_all_sets=True)
            for k, j in enumerate(js):
                out[j] = keys.signatures[k] if keys.signatures is not None else keys.sets[k]  # type: ignore[index]
        return out


class _Sorted:
    """Lookups of int64 keys in an unsorted array, by index into it."""

    def __init__(self, values: np.ndarray) -> None:
        self.order = np.argsort(values, kind="stable")
        self.values = values[self.order]

    def first(self, key: int) -> int | None:
        i = int(np.searchsorted(self.values, key))
        return int(self.order[i]) if i < len(self.values) and self.values[i] == key else None

    def all(self, key: int) -> np.ndarray:
        lo = np.searchsorted(self.values, key, side="left")
        hi = np.searchsorted(self.values, key, side="right")
        return self.order[lo:hi]


def _band_matrix(column: pa.Array, config: NearDedupConfig) -> np.ndarray:
    """int64[n, bands]; documents without band keys get a key no document has (-1)."""
    width = config.lsh_shape()[0]
    out = np.full((len(column), width), -1, dtype=np.int64)
    for i, keys in enumerate(column.to_pylist()):
        if keys and len(keys) == width:
            out[i] = keys
    return out


def reference_drops(
    keys: Iterable[pa.Table],
    payload: Callable[[set[int]], dict[int, np.ndarray]],
    reference: Reference,
) -> list[tuple]:
    """Drops (position, stage, reference id, similarity, reason) of one unit's documents that
    duplicate a reference document: same URL key, else same text, else a near duplicate (the
    most similar reference candidate at or above the threshold; ties to the first indexed).
    ``payload(positions)``: the shingle sets (or signatures) of those of the unit's documents."""
    config = reference.config
    nd = config.near_dedup
    drops: list[tuple] = []
    near_wanted: list[tuple[int, set[int]]] = []
    for table in keys:
        columns = (table.column(c).to_pylist() for c in ("position", "url_key", "text_hash", "bands"))
        for position, key, hash_, bands in zip(*columns, strict=True):
            j = reference.by_url(key)
            if j is not None:
                drops.append((position, url.STAGE, reference.id_of(j), None, REASONS[url.STAGE]))
                continue
            j = reference.by_text(hash_)
            if j is not None:
                drops.append((position, exact.STAGE, reference.id_of(j), None, REASONS[exact.STAGE]))
                continue
            if nd.enabled and bands and len(reference):
                found = reference.candidates(bands)
                if found:
                    near_wanted.append((position, found))
    if near_wanted:
        ours = payload({position for position, _ in near_wanted})
        values = reference.comparables(j for _, found in near_wanted for j in found)
        similarity = near.similarity_for(nd.verify)
        for position, found in near_wanted:
            best: tuple[float, int] | None = None
            for j in sorted(found):
                s = similarity(ours[position], values[j])
                if s >= nd.threshold and (best is None or s > best[0]):
                    best = (s, j)
            if best is not None:
                drops.append((position, near.STAGE, reference.id_of(best[1]), best[0], REASONS[near.STAGE]))
    return sorted(drops)
