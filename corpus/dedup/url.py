"""URL dedup: one document per URL. A page crawled twice (two snapshots, a re-crawl) whose text
changed too much for near dedup to see it keeps its newest copy; the others are dropped as
``url_duplicate`` with the kept id.

The key is the URL with its scheme (``http`` and ``https`` alike), host (lower case, no trailing
dot, no default port, no user info) normalised and the rest kept as given, fragment included:
sources that address sections of one page by fragment (the bundled sample does) keep them apart.

It runs after the filters, on every document they kept, and before the other dedups: exact dedup
runs on what it kept and near dedup on what both kept, so a later stage never drops the copy an
earlier one kept in place of others (URL dedup only drops older versions of a page whose newest
version stays). Only keys take part, never text. A member is ``(-date, id_hash, id, file_index,
position)``: the newest first (a missing date is oldest), then the smallest id hash, a choice
independent of arrival order. Since it decides
among documents that passed the filters, a page whose newest copy fails a filter keeps its newest
copy that passes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow as pa

from corpus.crawl.urls import DEFAULT_PORTS
from corpus.dedup import sorted_keys
from corpus.dedup.near import preference
from corpus.hashing import id_hash

STAGE = "url_dedup"
REASON = "url_duplicate"

Member = tuple[int, int, str, int, int]


def url_key(url: str | None) -> str | None:
    """The URL as dedup compares it, or None for a document without one."""
    if not url or not url.strip():
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number: compare the URL as given
        return url
    if not parts.netloc:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    if scheme == "https":
        scheme = "http"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, parts.fragment))


def member(doc_id: str, date: str | None, file_index: int, position: int) -> Member:
    return (preference("newest", "", date), id_hash(doc_id), doc_id, file_index, position)


def choose_keeper(members: Iterable[Member]) -> tuple[Member, list[Member]]:
    """(kept member, dropped members) among the members sharing one URL key."""
    ranked = sorted(set(members))
    return ranked[0], ranked[1:]


# --- at corpus scale: sorted arrays instead of a shuffle of one record per document ------------

KEY, RANK = ("url_hi", "url_lo"), ("preference", "id_hash")
"""A URL key by its 128-bit BLAKE2b hash (two int64 columns: a collision is as unlikely as
between two SHA-1 payload digests of a WARC); kept: the newest, then the smallest id hash, then
the first file and position (``choose_keeper``'s order but for the id string, which breaks ties
only between equal 64-bit id hashes)."""


def url_hash(key: str) -> tuple[int, int]:
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    hi, lo = np.frombuffer(digest, dtype="<i8").tolist()
    return hi, lo


def url_table(tables: Iterable[pa.Table], excluded: set[int]) -> tuple[bytes, sorted_keys.Layout]:
    """A sorted key table (corpus/dedup/sorted_keys.py) of a unit's documents with a URL key
    (all but ``excluded`` positions, which earlier dedups dropped): rows (``url_hi``,
    ``url_lo``, ``preference`` (minus the date's epoch seconds), ``id_hash``, ``position``), and
    every document's id by position."""
    rows: list[tuple[int, int, int, int, int]] = []
    ids: dict[int, str] = {}
    for table in tables:
        names = ("position", "url_key", "date", "id_hash", "id")
        for position, key, date, doc_hash, doc_id in zip(
            *(table.column(c).to_pylist() for c in names), strict=True
        ):
            ids[position] = doc_id
            if key is None or position in excluded:
                continue
            hi, lo = url_hash(key)
            rows.append((hi, lo, preference("newest", "", date), doc_hash, position))
    array = np.array(rows, dtype=np.int64).reshape(-1, len(KEY) + len(RANK) + 1)
    return sorted_keys.table_bytes([array], sorted_keys.ids_by_position(ids))


def task_drops(
    units: Iterable[tuple[int, sorted_keys.Layout]], part: int, parts: int, read: sorted_keys.Read
) -> list[sorted_keys.Drop]:
    """(unit, (position, ``url_dedup``, kept id)) for every older copy of a URL whose hash
    falls in slice ``part`` of ``parts``."""
    return sorted_keys.task_drops(units, part, parts, KEY, RANK, STAGE, read)
