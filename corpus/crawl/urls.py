"""URL keys and crawl scope: a page is fetched once under its canonical form, and only when it is
inside the crawl (seed hosts, allow/deny patterns, depth, trap limits)."""

from __future__ import annotations

import functools
import re
from collections import Counter
from urllib.parse import urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

from corpus.crawl.config import CrawlConfig

DEFAULT_PORTS = {"http": 80, "https": 443}


class BadUrl(ValueError):
    pass


@functools.lru_cache(maxsize=1 << 16)
def canonical(url: str) -> str:
    """The URL a page is known by: scheme and host lower-cased, default port dropped, fragment
    dropped, query arguments sorted, percent-escapes normalised (w3lib), empty path ``/``.
    Cached: a site's navigation links recur on every page."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as e:
        raise BadUrl(f"malformed URL {url!r}: {e}") from e
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise BadUrl(f"not an http(s) URL: {url!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BadUrl(f"no host in {url!r}")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host.lower()
    except UnicodeError as e:
        raise BadUrl(f"host of {url!r} is not a valid name: {e}") from e
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return canonicalize_url(urlunsplit((scheme, netloc, parts.path or "/", parts.query, "")))


def host_of(url: str) -> str:
    """``host[:port]`` of a canonical URL: the unit of politeness and of fetch groups."""
    return urlsplit(url).netloc


def resolve_link(base: str, href: str) -> str | None:
    """The canonical form of a link found on ``base``, or None if it is not an http(s) URL."""
    href = href.strip()
    if not href or href.startswith(("javascript:", "mailto:", "tel:", "data:", "#")):
        return None
    try:
        if href.startswith(("http://", "https://")):  # absolute: no join (and canonical is cached)
            return canonical(href)
        return canonical(urljoin(base, href))
    except (BadUrl, ValueError):
        return None


def out_of_scope(
    url: str, depth: int, seed_hosts: set[str] | frozenset[str], config: CrawlConfig
) -> str | None:
    """Why ``url`` (canonical) at ``depth`` is not fetched, or None when it is in scope."""
    if len(url) > config.max_url_length:
        return "url_too_long"
    parts = urlsplit(url)
    if config.same_hosts and parts.netloc not in seed_hosts:
        return "off_site"
    if depth > config.max_depth:
        return "too_deep"
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) > config.max_path_segments:
        return "too_many_path_segments"
    if segments and max(Counter(segments).values()) > config.max_repeated_segment:
        return "repeated_path_segment"
    if any(re.search(p, url) for p in config.deny):
        return "denied_by_pattern"
    if config.allow and not any(re.search(p, url) for p in config.allow):
        return "not_allowed_by_pattern"
    return None
