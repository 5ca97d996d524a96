"""What each unit contributes to URL, exact and near dedup, as Arrow tables on disk.

The unit pass writes them once (``work/keys-NNNNNN.parquet`` and ``work/minhash-NNNNNN.parquet``),
a row group per batch of documents; the Beam shuffles then carry only these keys, never text. A
rerun after a crash reads them back instead of extracting the unit again, and a later run can
dedup against them (they hold no text).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from corpus.config import PipelineConfig
from corpus.dedup import exact, near, url
from corpus.records import Document

KEYS_SCHEMA = pa.schema(
    [
        pa.field("position", pa.int64(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("id_hash", pa.int64(), nullable=False),
        pa.field("text_hash", pa.int64(), nullable=False),
        # Exact dedup's key: the text's 128-bit hash (corpus.dedup.exact.text_key) as two int64.
        pa.field("text_hi", pa.int64(), nullable=False),
        pa.field("text_lo", pa.int64(), nullable=False),
        pa.field("date", pa.string()),
        # The URL as URL dedup compares it; null when URL dedup does not apply or there is none.
        pa.field("url_key", pa.string()),
        # Near dedup's keep preference (corpus.dedup.near.preference): smaller is kept.
        pa.field("preference", pa.int64(), nullable=False),
        # LSH band keys (63 bits); null when near dedup is off or the text has no shingle.
        pa.field("bands", pa.list_(pa.int64())),
    ]
)

PAYLOAD_SCHEMA = pa.schema(
    [
        pa.field("position", pa.int64(), nullable=False),
        pa.field("values", pa.list_(pa.uint64()), nullable=False),
        # Its LSH band keys (as in KEYS_SCHEMA): the buckets a group decision finds centres by.
        pa.field("bands", pa.list_(pa.int64()), nullable=False),
    ]
)
"""Per document on near dedup: its sorted shingle-hash set (``verify = exact``) or its signature
(``estimate``, uint32 values widened), and its band keys."""


def dedup_keys(
    docs: Sequence[Document], first_position: int, config: PipelineConfig, by_url: bool
) -> tuple[pa.Table, pa.Table | None]:
    """Keys of a batch of a unit's kept documents (positions from ``first_position``), and the
    near-dedup payload (None when near dedup is off)."""
    nd = config.near_dedup
    positions = list(range(first_position, first_position + len(docs)))
    bands: list[list[int] | None] = [None] * len(docs)
    payload = None
    if nd.enabled and docs:
        pass1 = near.band_keys_of([d.text for d in docs], nd, keep_all_sets=True)
        # 63 bits, so a key travels as a plain int64 through Beam's coders and Arrow.
        keys = (pass1.keys >> np.uint64(1)).astype(np.int64)
        chosen = [i for i in range(len(docs)) if pass1.has_shingles[i]]
        for i in chosen:
            bands[i] = keys[i].tolist()
        if pass1.sets is not None:
            values = [pass1.sets[i] for i in chosen]
        else:
            assert pass1.signatures is not None
            values = [pass1.signatures[i].astype(np.uint64) for i in chosen]
        payload = pa.table(
            {
                "position": pa.array([positions[i] for i in chosen], pa.int64()),
                "values": pa.array(values, pa.list_(pa.uint64())),
                "bands": pa.array([bands[i] for i in chosen], pa.list_(pa.int64())),
            },
            schema=PAYLOAD_SCHEMA,
        )
    elif nd.enabled:
        payload = PAYLOAD_SCHEMA.empty_table()
    text_keys = [exact.text_key(d.text) for d in docs]
    table = pa.table(
        {
            "position": pa.array(positions, pa.int64()),
            "id": [d.id for d in docs],
            "id_hash": pa.array([d.id_hash for d in docs], pa.int64()),
            "text_hash": pa.array([d.text_hash for d in docs], pa.int64()),
            "text_hi": pa.array([k[0] for k in text_keys], pa.int64()),
            "text_lo": pa.array([k[1] for k in text_keys], pa.int64()),
            "date": [d.date for d in docs],
            "url_key": [url.url_key(d.url) if by_url else None for d in docs],
            "preference": pa.array([near.preference(nd.keep, d.text, d.date) for d in docs], pa.int64()),
            "bands": pa.array(bands, pa.list_(pa.int64())),
        },
        schema=KEYS_SCHEMA,
    )
    return table, payload


def payload_of(tables: Iterable[pa.Table], positions: set[int]) -> dict[int, np.ndarray]:
    """Position -> shingle set (or signature) of the wanted documents, read a row group at a time."""
    found: dict[int, np.ndarray] = {}
    for table in tables:
        pos = table.column("position").to_numpy()
        take = [i for i, p in enumerate(pos.tolist()) if p in positions]
        if not take:
            continue
        values = table.column("values").combine_chunks()
        flat = values.values.to_numpy(zero_copy_only=False)
        offsets = values.offsets.to_numpy()
        for i in take:
            found[int(pos[i])] = flat[offsets[i] : offsets[i + 1]].copy()
    return found


def payload_slices(tables: Iterable[pa.Table], task_of: dict[int, int]) -> Iterator[tuple[int, pa.Table]]:
    """(task, its rows of one row group) for the wanted documents (position -> the group
    decision task that needs them), a row group at a time, tasks in order, rows by position."""
    for table in tables:
        pos = table.column("position").to_numpy()
        tasks = np.array([task_of.get(p, -1) for p in pos.tolist()], dtype=np.int64)
        take = np.flatnonzero(tasks >= 0)
        if not len(take):
            continue
        take = take[np.lexsort((pos[take], tasks[take]))]
        rows = table.take(pa.array(take))
        by_task = tasks[take]
        starts = np.flatnonzero(np.r_[True, by_task[1:] != by_task[:-1]])
        for a, b in zip(starts.tolist(), [*starts[1:].tolist(), len(take)], strict=True):
            yield int(by_task[a]), rows.slice(a, b - a)


def payload_arrays(table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(positions, flat values, offsets into them, band keys [rows, bands]) of payload rows."""
    values = table.column("values").combine_chunks()
    bands = table.column("bands").combine_chunks()
    width = len(bands[0]) if len(bands) else 0
    return (
        table.column("position").to_numpy(),
        values.values.to_numpy(zero_copy_only=False),
        values.offsets.to_numpy(),
        bands.flatten().to_numpy(zero_copy_only=False).reshape(len(table), width),
    )
