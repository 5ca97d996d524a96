"""Dedup against the corpus of an earlier run (incremental dumps, one dataset against another).

A finished run leaves ``dedup_index/NNNNNN.parquet`` beside ``docs/NNNNNN.parquet``: one row per
kept document, in the same order, with what a later run compares (``INDEX_SCHEMA``: id, URL key,
text hash, LSH band keys). No text: near-duplicate candidates are verified against the reference
document's text in ``docs/``, shingled again, so only the few candidates cost anything.

A run given ``[dedup] reference = ["out/earlier"]`` joins its documents' keys with the reference
keys by slices of the key space, so that no worker holds the whole reference:

1. every reference index file becomes lookup entries (kind: URL hash, text hash or band b; key;
   where the document is: run, file, row; the id for URL and text entries), cut by slice
   (``reference_entries``); every unit's keys file the same, with positions (``lookup_entries``);
2. a task per slice holds only that slice of both sides, sorted, and finds for each lookup the
   first indexed reference document with its URL or text and every one sharing a band key
   (``slice_matches``): memory per task is the slice, ``ENTRIES_PER_TASK`` at most on average;
3. per unit, the matches of every slice decide its drops (``unit_drops``): same URL key, else
   same text, else the most similar verified near duplicate -- before its own URL, exact and near
   dedup, so that every witness of a removal, reference or not, is in a corpus.

Everything here takes tables and bytes; the Beam stage (pipelines/stages/reference.py) reads and
lists the files through Beam FileSystems, so a reference on gs:// or s3:// works as a local one.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa

from corpus.config import NearDedupConfig, PipelineConfig
from corpus.dedup import exact, near, url
from corpus.errors import InputError
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


def check_reference(run: str, manifest: dict | None, has_index: bool, config: PipelineConfig) -> None:
    """Raise InputError naming the run and the problem unless ``run`` is a finished run
    (``manifest``: its manifest.json, None when there is none) with an index whose band keys
    compare with this config's."""
    if manifest is None:
        raise InputError(f"dedup.reference: {run} is not a finished run (no manifest.json)")
    if not has_index:
        raise InputError(
            f"dedup.reference: {run} has no {INDEX_DIR}/ (a run from before reference dedup "
            "existed); rerun it with --force"
        )
    want = _lsh_settings(config.near_dedup)
    have = _lsh_settings(PipelineConfig.from_dict(manifest["config"]).near_dedup)
    if config.near_dedup.enabled and have != want:
        field = next(k for k in want if want[k] != have[k])
        raise InputError(
            f"dedup.reference: {run} was deduplicated with near_dedup {field} = {have[field]}, "
            f"this run uses {want[field]}: their band keys cannot be compared"
        )


# --- slices of the key space ---------------------------------------------------------------------

ENTRIES_PER_TASK = 8_000_000
"""Lookup entries (reference and this run's together) one slice task holds on average: about
32 bytes each (kind, key, where, and the id on URL and text entries), some 250 MB. More documents
make more slices, not bigger ones: at the default LSH shape a document gives 16 entries, so 10B
reference documents are about 20,000 slices and 5 TB of keys through the join's shuffle."""

URL_KIND, TEXT_KIND = 0, 1
"""Entry kinds; band ``b`` of the LSH is kind ``2 + b``."""

REFERENCE_ENTRY = pa.schema(
    [
        pa.field("kind", pa.int16(), nullable=False),
        pa.field("key", pa.int64(), nullable=False),
        pa.field("run", pa.int32(), nullable=False),
        pa.field("file", pa.int32(), nullable=False),
        pa.field("row", pa.int32(), nullable=False),
        # The reference document's id on URL and text entries (a match names it); null on bands,
        # whose candidates are verified against docs/, which has the id beside the text.
        pa.field("id", pa.string()),
    ]
)
"""Where (run, file, row) says which reference document: the ``file``-th index file of the
``run``-th reference run in name order; its order is the order of "first indexed"."""

LOOKUP_ENTRY = pa.schema(
    [
        pa.field("kind", pa.int16(), nullable=False),
        pa.field("key", pa.int64(), nullable=False),
        pa.field("position", pa.int64(), nullable=False),
    ]
)

MATCH = pa.schema(
    [
        pa.field("position", pa.int64(), nullable=False),
        pa.field("kind", pa.int16(), nullable=False),
        pa.field("run", pa.int32(), nullable=False),
        pa.field("file", pa.int32(), nullable=False),
        pa.field("row", pa.int32(), nullable=False),
        pa.field("id", pa.string()),
    ]
)
"""One unit's document and a reference document sharing a key: the first indexed one for URL
and text kinds, every one for band kinds."""


def slices_for(reference_documents: int, run_documents: int, config: NearDedupConfig) -> int:
    """How many slices the key space is cut into so a task holds ``ENTRIES_PER_TASK`` entries."""
    per_document = 2 + (config.lsh_shape()[0] if config.enabled else 0)
    entries = (reference_documents + run_documents) * per_document
    return max(1, -(-entries // ENTRIES_PER_TASK))


_MIX = np.uint64(0x9E3779B97F4A7C15)
_KIND_MIX = np.uint64(0xC2B2AE3D27D4EB4F)


def slice_of(kinds: np.ndarray, keys: np.ndarray, parts: int) -> np.ndarray:
    """The slice of each (kind, key): a range of the keys mixed with their kind (URL hashes, text
    hashes and band keys are hashes already; the mix spreads every kind over every slice)."""
    with np.errstate(over="ignore"):
        mixed = (keys.view(np.uint64) ^ (kinds.astype(np.uint64) * _KIND_MIX)) * _MIX
    return (((mixed >> np.uint64(32)) * np.uint64(parts)) >> np.uint64(32)).astype(np.int64)


def _to_ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def _by_slice(table: pa.Table, parts: int) -> dict[int, bytes]:
    if not len(table):
        return {}
    where = slice_of(table.column("kind").to_numpy(), table.column("key").to_numpy(), parts)
    order = np.argsort(where, kind="stable")
    cuts = np.flatnonzero(np.diff(where[order])) + 1
    out = {}
    for chunk in np.split(order, cuts):
        out[int(where[chunk[0]])] = _to_ipc(table.take(pa.array(chunk)))
    return out


def _url_hashes(url_keys: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(rows with a URL key, the hashes of their keys)."""
    rows = [i for i, k in enumerate(url_keys) if k]
    hashes = np.array([text_hash(url_keys[i]) for i in rows], dtype=np.int64)  # type: ignore[arg-type]
    return np.array(rows, dtype=np.int64), hashes


def _band_entries(column: pa.Array, config: NearDedupConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, kinds, keys) of every band key of the documents that have band keys."""
    if not config.enabled:
        return (np.zeros(0, np.int64),) * 3  # type: ignore[return-value]
    width = config.lsh_shape()[0]
    rows, keys = [], []
    for i, row_keys in enumerate(column.to_pylist()):
        if row_keys and len(row_keys) == width:
            rows.append(i)
            keys.append(row_keys)
    if not rows:
        return (np.zeros(0, np.int64),) * 3  # type: ignore[return-value]
    matrix = np.array(keys, dtype=np.int64)
    return (
        np.repeat(np.array(rows, dtype=np.int64), width),
        np.tile(np.arange(2, 2 + width, dtype=np.int64), len(rows)),
        matrix.reshape(-1),
    )


def reference_entries(
    index: pa.Table, run: int, file: int, config: PipelineConfig, parts: int
) -> dict[int, bytes]:
    """Slice -> ``REFERENCE_ENTRY`` rows (Arrow IPC bytes) of one reference index file."""
    n = len(index)
    ids = index.column("id").combine_chunks()
    url_rows, url_keys = _url_hashes(index.column("url_key").to_pylist())
    band_rows, band_kinds, band_keys = _band_entries(
        index.column("bands").combine_chunks(), config.near_dedup
    )
    rows = np.concatenate([url_rows, np.arange(n, dtype=np.int64), band_rows])
    kinds = np.concatenate([np.full(len(url_rows), URL_KIND), np.full(n, TEXT_KIND), band_kinds]).astype(
        np.int16
    )
    keys = np.concatenate([url_keys, index.column("text_hash").to_numpy(), band_keys]).astype(np.int64)
    named = len(url_rows) + n  # URL and text entries carry the id
    id_column = (
        pa.concat_arrays([ids.take(pa.array(url_rows)), ids, pa.nulls(len(band_rows), pa.string())])
        if named + len(band_rows)
        else pa.array([], pa.string())
    )
    table = pa.table(
        {
            "kind": kinds,
            "key": keys,
            "run": np.full(len(rows), run, dtype=np.int32),
            "file": np.full(len(rows), file, dtype=np.int32),
            "row": rows.astype(np.int32),
            "id": id_column,
        },
        schema=REFERENCE_ENTRY,
    )
    return _by_slice(table, parts)


def lookup_entries(keys: Iterable[pa.Table], config: PipelineConfig, parts: int) -> dict[int, bytes]:
    """Slice -> ``LOOKUP_ENTRY`` rows (Arrow IPC bytes) of one unit's documents, from its keys
    file's row groups (columns position, url_key, text_hash, bands)."""
    tables = []
    for table in keys:
        positions = table.column("position").to_numpy()
        url_rows, url_keys = _url_hashes(table.column("url_key").to_pylist())
        band_rows, band_kinds, band_keys = _band_entries(
            table.column("bands").combine_chunks(), config.near_dedup
        )
        n = len(table)
        tables.append(
            pa.table(
                {
                    "kind": np.concatenate(
                        [np.full(len(url_rows), URL_KIND), np.full(n, TEXT_KIND), band_kinds]
                    ).astype(np.int16),
                    "key": np.concatenate([url_keys, table.column("text_hash").to_numpy(), band_keys]).astype(
                        np.int64
                    ),
                    "position": positions[
                        np.concatenate([url_rows, np.arange(n), band_rows]).astype(np.int64)
                    ],
                },
                schema=LOOKUP_ENTRY,
            )
        )
    if not tables:
        return {}
    return _by_slice(pa.concat_tables(tables), parts)


def slice_matches(reference: Iterable[bytes], lookups: Iterable[tuple[int, bytes]]) -> dict[int, bytes]:
    """Unit -> ``MATCH`` rows (Arrow IPC bytes): one slice's lookups against its reference
    entries. Per URL or text lookup the first indexed reference document with that key; per band
    lookup every one."""
    ref_tables = [from_ipc(b) for b in reference]
    look_tables = [(unit, from_ipc(b)) for unit, b in lookups]
    if not ref_tables or not look_tables:
        return {}
    ref = pa.concat_tables(ref_tables)
    kind, key = ref.column("kind").to_numpy(), ref.column("key").to_numpy()
    r, f, row = (ref.column(c).to_numpy() for c in ("run", "file", "row"))
    order = np.lexsort((row, f, r, key, kind))  # the last is the primary key
    kind, key = kind[order], key[order]
    ids = ref.column("id").combine_chunks()
    kinds_at = np.searchsorted(kind, np.arange(kind.max() + 2) if len(kind) else [0], side="left")
    out: dict[int, bytes] = {}
    for unit, look in sorted(look_tables, key=lambda x: x[0]):
        lk, lkey, lpos = (look.column(c).to_numpy() for c in ("kind", "key", "position"))
        found_look, found_ref = [], []
        for k in np.unique(lk).tolist():
            if k + 1 >= len(kinds_at):
                continue
            lo_k, hi_k = int(kinds_at[k]), int(kinds_at[k + 1])
            if lo_k == hi_k:
                continue
            mine = np.flatnonzero(lk == k)
            lo = np.searchsorted(key[lo_k:hi_k], lkey[mine], side="left") + lo_k
            hi = np.searchsorted(key[lo_k:hi_k], lkey[mine], side="right") + lo_k
            if k < 2:  # URL, text: the first indexed only
                hi = np.minimum(hi, lo + 1)
            counts = hi - lo
            hit = counts > 0
            if not hit.any():
                continue
            mine, lo, counts = mine[hit], lo[hit], counts[hit]
            found_look.append(np.repeat(mine, counts))
            starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
            found_ref.append(starts + np.arange(int(counts.sum())))
        if not found_look:
            continue
        li = np.concatenate(found_look)
        ri = order[np.concatenate(found_ref)]
        table = pa.table(
            {
                "position": lpos[li],
                "kind": lk[li],
                "run": r[ri],
                "file": f[ri],
                "row": row[ri],
                "id": ids.take(pa.array(ri)),
            },
            schema=MATCH,
        )
        out[unit] = _to_ipc(table)
    return out


Texts = Callable[[int, int, list[int]], tuple[list[str], list[str]]]
"""(run, file, rows) -> the ids and texts of those rows of that reference docs file."""


def unit_drops(
    matches: Iterable[bytes],
    payload: Callable[[set[int]], dict[int, np.ndarray]],
    texts: Texts,
    config: PipelineConfig,
) -> list[tuple]:
    """Drops (position, stage, reference id, similarity, reason) of one unit's documents that
    duplicate a reference document, from the matches every slice found for the unit: same URL
    key, else same text, else a near duplicate (the most similar reference candidate at or above
    the threshold; ties to the first indexed). ``payload(positions)``: the shingle sets (or
    signatures) of those of the unit's documents."""
    tables = [from_ipc(b) for b in matches]
    if not tables:
        return []
    m = pa.concat_tables(tables)
    position = m.column("position").to_numpy()
    kind = m.column("kind").to_numpy()
    where = np.stack([m.column(c).to_numpy().astype(np.int64) for c in ("run", "file", "row")], axis=1)
    ids = m.column("id").to_pylist()
    drops: list[tuple] = []
    decided: set[int] = set()
    for k, stage in ((URL_KIND, url.STAGE), (TEXT_KIND, exact.STAGE)):
        first: dict[int, tuple[tuple[int, int, int], str]] = {}
        for i in np.flatnonzero(kind == k).tolist():
            p = int(position[i])
            at = (int(where[i, 0]), int(where[i, 1]), int(where[i, 2]))
            if p not in decided and (p not in first or at < first[p][0]):
                first[p] = (at, ids[i])
        for p, (_, ref_id) in first.items():
            drops.append((p, stage, ref_id, None, REASONS[stage]))
        decided.update(first)
    nd = config.near_dedup
    candidates: dict[int, set[tuple[int, int, int]]] = {}
    for i in np.flatnonzero(kind >= 2).tolist():
        p = int(position[i])
        if p not in decided:
            candidates.setdefault(p, set()).add((int(where[i, 0]), int(where[i, 1]), int(where[i, 2])))
    if nd.enabled and candidates:
        ours = payload(set(candidates))
        values, ref_ids = _comparables({c for found in candidates.values() for c in found}, texts, nd)
        similarity = near.similarity_for(nd.verify)
        for p, found in candidates.items():
            best: tuple[float, tuple[int, int, int]] | None = None
            for c in sorted(found):
                s = similarity(ours[p], values[c])
                if s >= nd.threshold and (best is None or s > best[0]):
                    best = (s, c)
            if best is not None:
                drops.append((p, near.STAGE, ref_ids[best[1]], best[0], REASONS[near.STAGE]))
    return sorted(drops)


def _comparables(
    refs: set[tuple[int, int, int]], texts: Texts, config: NearDedupConfig
) -> tuple[dict[tuple[int, int, int], np.ndarray], dict[tuple[int, int, int], str]]:
    """Reference document -> its shingle set (or signature), from its text in ``docs/``; and its id."""
    wanted: dict[tuple[int, int], list[int]] = {}
    for r, f, row in sorted(refs):
        wanted.setdefault((r, f), []).append(row)
    values: dict[tuple[int, int, int], np.ndarray] = {}
    ids: dict[tuple[int, int, int], str] = {}
    for (r, f), rows in wanted.items():
        got_ids, got_texts = texts(r, f, rows)
        keys = near.band_keys_of(got_texts, config, keep_all_sets=True)
        for k, row in enumerate(rows):
            values[(r, f, row)] = keys.signatures[k] if keys.signatures is not None else keys.sets[k]  # type: ignore[index]
            ids[(r, f, row)] = got_ids[k]
    return values, ids
