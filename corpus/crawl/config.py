"""Crawl settings (``[crawl]`` of a TOML file, or flags of ``python -m pipelines.crawl_job``)."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus import __version__
from corpus.config import require_not_negative, require_positive, section_from_dict

PROJECT_URL = "https://github.com/corpus-toolkit/corpus-toolkit"


@dataclass(frozen=True)
class CrawlConfig:
    user_agent: str = f"corpus-toolkit-crawler/{__version__}"
    """The robots.txt token and the start of the User-Agent header."""
    contact: str = PROJECT_URL
    """A URL or e-mail address where site owners reach whoever runs the crawl (in User-Agent)."""
    min_delay: float = 1.0
    """Seconds between the starts of two requests to one host, at least."""
    response_time_factor: float = 2.0
    """The next request to a host waits this many times the last response's time at least."""
    max_crawl_delay: float = 300.0
    """robots.txt Crawl-delay is honoured up to this many seconds."""
    connections_per_ip: int = 2
    """Hosts on one address fetched at once; a round puts all the hosts of one address in one
    fetch group (``frontier.generate``), so the limit holds across workers."""
    pages_per_round_per_host: int = 50
    """URLs of one host fetched in one round at most (Nutch's generate.max.count)."""
    follow_links_in_round: bool = True
    """A host's links to its own pages, found while a round fetches it, are fetched in the same
    round (breadth first, within the depth, scope and page limits), as Heritrix and StormCrawler
    crawl continuously; off: only the URLs the round's plan lists (Nutch's generate/fetch). The
    links to other hosts wait for the next round either way."""
    max_pages_per_host: int = 1000
    max_pages: int = 10_000
    """Pages fetched in the whole crawl at most."""
    max_depth: int = 5
    """Links followed from a seed at most."""
    max_url_length: int = 1024
    max_path_segments: int = 20
    max_repeated_segment: int = 2
    """A path segment may occur this many times in a URL at most (calendar and path traps)."""
    allow: tuple[str, ...] = ()
    """Regular expressions: when given, a URL must match one (besides being on a seed's host)."""
    deny: tuple[str, ...] = ()
    """Regular expressions: a URL matching one is never fetched."""
    same_hosts: bool = True
    """Follow links only to the seeds' hosts."""
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_body_bytes: int = 10 * 1024 * 1024
    """Bytes of a body kept, as received and after decompression; larger captures are truncated
    and marked ``WARC-Truncated: length``."""
    content_types: tuple[str, ...] = ("text/html", "application/xhtml+xml", "text/plain")
    max_redirects: int = 5
    sitemaps: bool = False
    """Read the sitemaps robots.txt names (and the sitemaps a sitemap index lists) once per host:
    the pages they list join the frontier at depth 1."""
    max_sitemaps_per_host: int = 10
    robots_max_bytes: int = 500 * 1024
    """Bytes of robots.txt read, counted after its Content-Encoding is undone (RFC 9309 2.5: at
    least 500 KiB); what follows is ignored."""
    robots_max_age: float = 86400.0
    """Seconds a robots.txt is used before it is asked for again (RFC 9309 2.4: at most 24 hours);
    a host whose copy is older fetches robots.txt again before its next request."""
    max_retries: int = 3
    """Retries of a URL that failed for a reason that may pass (5xx, 429, network)."""
    warc_max_bytes: int = 1024 * 1024 * 1024
    """A WARC file is closed and a new one started past this size."""
    allow_networks: tuple[str, ...] = ()
    """Networks besides global addresses that may be connected to (tests: ``127.0.0.0/8``)."""
    round_seconds: float = 600.0
    """Time budget of one fetch group in one round; what is left waits for the next round."""
    groups: int = 0
    """Fetch groups per round (hosts are split among them); 0: one with one worker (a group's
    hosts are fetched at once), two per worker with more (they balance the load)."""
    page_workers: int = -1
    """Processes per fetching worker that build pages' WARC records and read their links, so the
    event loop only does the network; 0: inline; -1: the cores the fetching workers leave free
    (none below 4 cores: ``corpus.crawl.pages.auto_workers``)."""

    def header(self) -> str:
        return f"{self.user_agent} (+{self.contact})"

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(n, strict=False) for n in self.allow_networks]

    def validate(self) -> CrawlConfig:
        require_positive(
            self, "crawl", "connections_per_ip", "pages_per_round_per_host", "max_pages_per_host",
            "max_pages", "max_url_length", "max_path_segments", "max_repeated_segment", "max_body_bytes",
            "robots_max_bytes", "warc_max_bytes", "max_sitemaps_per_host", "robots_max_age",
        )  # fmt: skip
        require_not_negative(
            self, "crawl", "min_delay", "response_time_factor", "max_crawl_delay", "connect_timeout",
            "read_timeout", "round_seconds", "max_depth", "max_redirects", "max_retries", "groups",
        )  # fmt: skip
        for pattern in (*self.allow, *self.deny):
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"crawl.allow/deny: {pattern!r} is not a regular expression ({e})") from e
        for network in self.allow_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as e:
                raise ValueError(f"crawl.allow_networks: {network!r} is not a network ({e})") from e
        if not re.fullmatch(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)?", self.user_agent):
            raise ValueError(f"crawl.user_agent: {self.user_agent!r} is not a product token like name/1.0")
        if self.page_workers < -1:
            raise ValueError(f"crawl.page_workers: {self.page_workers} (0 inline, -1 automatic, or N)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrawlConfig:
        return section_from_dict(cls, "crawl", data).validate()

    @classmethod
    def from_toml(cls, path: str | Path) -> CrawlConfig:
        try:
            data = tomllib.loads(Path(path).read_text("utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: not valid TOML ({e})") from e
        try:
            return cls.from_dict(data.get("crawl", {}))
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e
