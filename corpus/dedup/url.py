"""URL dedup: one document per URL. A page crawled twice (two snapshots, a re-crawl) whose text
changed too much for near dedup to see it keeps its newest copy; the others are dropped as
``url_duplicate`` with the kept id.

The key is the URL with its scheme (``http`` and ``https`` alike), host (lower case, no trailing
dot, no default port, no user info) normalised and the rest kept as given, fragment included:
sources that address sections of one page by fragment (the bundled sample does) keep them apart.

It runs first, on every document; exact dedup runs on what it kept and near dedup on what both
kept, so a later stage never drops the copy an earlier one kept in place of others (URL dedup
only drops older versions of a page whose newest version stays). Only keys take part, never
text. A member is ``(-date, id_hash, id, file_index, position)``: the newest first (a missing date
is oldest), then the smallest id hash, a choice independent of arrival order. It decides before
the filters: if the newest copy of a page later fails a filter, the URL leaves the corpus.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from corpus.dedup.near import preference
from corpus.hashing import id_hash

STAGE = "url_dedup"
REASON = "url_duplicate"

Member = tuple[int, int, str, int, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


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
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
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
