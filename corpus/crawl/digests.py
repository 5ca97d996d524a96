"""The payload digests a crawl has captured, for revisit records: one index file per round.

A page whose payload digest was captured before (any URL, any earlier round) is written as a
WARC revisit record that refers to the first capture. Every fetch group needs to look digests up,
and their number grows with the crawl, so the round's index is an Arrow IPC file sorted by a
64-bit hash of the digest: a group memory-maps it (nothing parsed, pages read on demand) and
finds a digest by binary search, instead of each group loading all of them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa

SCHEMA = pa.schema(
    [
        pa.field("key", pa.uint64(), nullable=False),
        pa.field("digest", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("date", pa.string(), nullable=False),
    ]
)


def digest_key(digest: str) -> int:
    """A 64-bit key for a payload digest: its first 8 bytes of BLAKE2b."""
    return int.from_bytes(hashlib.blake2b(digest.encode(), digest_size=8).digest(), "little")


def write_index(path: Path, firsts: Iterable[tuple[str, str, str]]) -> None:
    """Write (digest, url, date) of each first capture, sorted by key, atomically."""
    digests, urls, dates = [], [], []
    for digest, url, date in firsts:
        digests.append(digest)
        urls.append(url)
        dates.append(date)
    keys = np.fromiter((digest_key(d) for d in digests), dtype=np.uint64, count=len(digests))
    order = np.argsort(keys, kind="stable")
    table = pa.table(
        {"key": keys[order], "digest": pa.array(digests, pa.string()).take(order),
         "url": pa.array(urls, pa.string()).take(order), "date": pa.array(dates, pa.string()).take(order)},
        schema=SCHEMA,
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, SCHEMA) as writer:
        writer.write_table(table, max_chunksize=max(1, len(table)))  # one batch: zero-copy keys
    os.replace(tmp, path)


class DigestIndex:
    """The first capture (url, date) of a payload digest: the round's index file, memory-mapped,
    then the captures this group adds."""

    def __init__(self, path: Path | None = None) -> None:
        self._added: dict[str, tuple[str, str]] = {}
        self._table = pa.Table.from_batches([], SCHEMA)
        if path is not None:
            self._table = pa.ipc.open_file(pa.memory_map(str(path))).read_all().combine_chunks()
        self._keys = self._table.column("key").to_numpy()

    def __len__(self) -> int:
        return len(self._table) + len(self._added)

    def get(self, digest: str) -> tuple[str, str] | None:
        first = self._added.get(digest)
        if first is not None:
            return first
        key = np.uint64(digest_key(digest))
        i = int(np.searchsorted(self._keys, key))
        digests = self._table.column("digest")
        while i < len(self._keys) and self._keys[i] == key:  # 64-bit keys collide very rarely
            if digests[i].as_py() == digest:
                return self._table.column("url")[i].as_py(), self._table.column("date")[i].as_py()
            i += 1
        return None

    def __setitem__(self, digest: str, first: tuple[str, str]) -> None:
        self._added[digest] = first
