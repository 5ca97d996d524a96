"""Links of a fetched HTML page (resiliparse's parser), honouring ``nofollow``: a robots meta
tag with ``nofollow`` or ``none`` yields no link, ``rel="nofollow"`` drops that link."""

from __future__ import annotations

from resiliparse.parse.encoding import bytes_to_str, detect_encoding
from resiliparse.parse.html import HTMLTree

from corpus.crawl.urls import resolve_link


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"' ")
    return None


def page_links(body: bytes, base_url: str, content_type: str = "") -> list[str]:
    """Canonical http(s) URLs the page links to, in page order, each once."""
    encoding = _charset(content_type) or detect_encoding(body)
    tree = HTMLTree.parse(bytes_to_str(body, encoding, fallback_encodings=["utf-8", "cp1252"]))
    if tree.head is not None:
        for meta in tree.head.query_selector_all("meta[name]"):
            if (meta.getattr("name") or "").lower() == "robots":
                content = (meta.getattr("content") or "").lower()
                if "nofollow" in content or "none" in content:
                    return []
        base = tree.head.query_selector("base[href]")
        if base is not None:
            base_url = resolve_link(base_url, base.getattr("href") or "") or base_url
    root = tree.body if tree.body is not None else tree.document
    out: list[str] = []
    seen: set[str] = set()
    for a in root.query_selector_all("a[href], area[href]"):
        if "nofollow" in (a.getattr("rel") or "").lower().split():
            continue
        url = resolve_link(base_url, a.getattr("href") or "")
        if url is not None and url not in seen:
            seen.add(url)
            out.append(url)
    return out
