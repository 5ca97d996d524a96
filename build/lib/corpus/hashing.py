"""Stable 63-bit hashes: document order, splits and exact dedup all derive from these.

63 bits, so a hash fits a signed int64 (Beam's integer coder, Arrow, numpy) wherever it travels.
"""

import xxhash


def id_hash(doc_id: str) -> int:
    """Hash of a document id; orders documents in shards and assigns splits (not arrival)."""
    return xxhash.xxh3_64_intdigest(doc_id.encode("utf-8")) >> 1


def text_hash(text: str) -> int:
    """Hash of normalised text for exact dedup (xxh3: 64 bits, collisions negligible per crawl)."""
    return xxhash.xxh3_64_intdigest(text.encode("utf-8")) >> 1


def content_id(url: str | None, text: str) -> str:
    """A stable id for sources that give none, derived from content and URL."""
    return "sha:" + xxhash.xxh3_128_hexdigest(f"{url or ''}\x00{text}".encode())
