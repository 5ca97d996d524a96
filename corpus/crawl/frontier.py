"""The crawl database: one row per known URL, a Parquet file per round (``round-NNNNN.parquet``).

``generate`` picks the URLs due in a round (at most ``pages_per_round_per_host`` per host, the
shallowest first) and splits their hosts into fetch groups, each site (registered domain) and
each address in one; ``update`` merges a round's outcomes and the links they found into the next
version. Both are pure functions of their inputs, so a rerun after a crash plans the same round
again.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from urllib.parse import urlsplit

import pyarrow as pa
from publicsuffixlist import PublicSuffixList

from corpus.crawl.config import CrawlConfig
from corpus.crawl.fetch import Outcome, Target
from corpus.crawl.network import literal_address
from corpus.crawl.urls import BadUrl, canonical, host_of, out_of_scope
from corpus.hashing import id_hash

DUE, DONE, FAILED, SKIPPED = "due", "done", "failed", "skipped"


@dataclass
class Entry:
    url: str
    host: str
    depth: int
    referrer: str | None = None
    status: str = DUE
    """due | done | failed | skipped"""
    reason: str = ""
    retries: int = 0
    redirects: int = 0
    http_status: int | None = None
    round: int = -1
    """The round that last fetched it."""
    digest: str | None = None
    date: str | None = None


SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("host", pa.string(), nullable=False),
        pa.field("depth", pa.int32(), nullable=False),
        pa.field("referrer", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("retries", pa.int32(), nullable=False),
        pa.field("redirects", pa.int32(), nullable=False),
        pa.field("http_status", pa.int32()),
        pa.field("round", pa.int32(), nullable=False),
        pa.field("digest", pa.string()),
        pa.field("date", pa.string()),
    ]
)


def to_table(entries: Iterable[Entry]) -> pa.Table:
    rows = sorted(entries, key=lambda e: e.url)
    return pa.Table.from_pydict({n: [getattr(e, n) for e in rows] for n in SCHEMA.names}, schema=SCHEMA)


def from_table(table: pa.Table) -> dict[str, Entry]:
    names = [f.name for f in fields(Entry)]
    return {r["url"]: Entry(**{k: r[k] for k in names}) for r in table.to_pylist()}


def seed_entries(lines: Iterable[str], config: CrawlConfig) -> tuple[dict[str, Entry], dict[str, int]]:
    """The first crawl database from seed lines (blank lines and ``#`` comments ignored), and
    the seeds that are not URLs, counted by reason."""
    db: dict[str, Entry] = {}
    bad: dict[str, int] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            url = canonical(line)
        except BadUrl:
            bad["malformed_seed"] = bad.get("malformed_seed", 0) + 1
            continue
        db.setdefault(url, Entry(url, host_of(url), 0))
    return db, bad


def seed_hosts(db: dict[str, Entry]) -> set[str]:
    return {e.host for e in db.values() if e.depth == 0 and e.referrer is None}


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list the package ships: nothing downloaded


def site_of(host: str) -> str:
    """The registered domain of ``host[:port]`` (publicsuffixlist: ``docs.python.org`` ->
    ``python.org``, ``a.github.io`` stays whole), or the host itself for an IP address: the hosts
    of one site go to one fetch group, so that one worker paces everything a site serves."""
    name = urlsplit(f"http://{host}").hostname or host
    if literal_address(name) is not None:
        return name
    return _suffixes().privatesuffix(name) or name


def _fetched_per_host(db: dict[str, Entry]) -> dict[str, int]:
    fetched: dict[str, int] = {}
    for e in db.values():
        if e.status == DONE:
            fetched[e.host] = fetched.get(e.host, 0) + 1
    return fetched


def fetch_units(hosts: Iterable[str], addresses: Mapping[str, str]) -> dict[str, str]:
    """host -> the name of its fetch unit: hosts of one site, and hosts on one address (a host's
    entry in ``addresses``), are in one unit, and so on transitively (a site with hosts on two
    addresses joins the hosts of both). A unit is named by its first site in name order, so a
    host that shares its address with no other site's host keeps its site's name."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    hosts = sorted(set(hosts))
    site = {h: site_of(h) for h in hosts}
    for h in hosts:
        if h in addresses:
            a, b = root("site " + site[h]), root("address " + addresses[h])
            if a != b:
                parent[max(a, b)] = min(a, b)
    names: dict[str, str] = {}
    for h in hosts:
        key = root("site " + site[h])
        names[key] = min(names.get(key, site[h]), site[h])
    return {h: names[root("site " + site[h])] for h in hosts}


def generate(
    db: dict[str, Entry], config: CrawlConfig, groups: int, addresses: Mapping[str, str] | None = None
) -> list[dict[str, list[Target]]]:
    """The round's fetch groups: per group, host -> its due targets in fetch order. A site's
    hosts share a group (one worker paces what a site serves), and so do the hosts on one
    address (``addresses``: host -> address, ``network.host_addresses``), so that
    ``connections_per_ip`` holds across workers: the fetcher counts connections per address
    within its group only."""
    fetched_per_host = _fetched_per_host(db)
    fetched = sum(fetched_per_host.values())
    due = sorted((e for e in db.values() if e.status == DUE), key=lambda e: (e.depth, e.url))
    per_host: dict[str, list[Target]] = {}
    budget = max(0, config.max_pages - fetched)
    for e in due:
        queue = per_host.setdefault(e.host, [])
        room = config.max_pages_per_host - fetched_per_host.get(e.host, 0)
        if len(queue) >= min(config.pages_per_round_per_host, room) or budget <= 0:
            continue
        queue.append(Target(e.url, e.depth, e.referrer, e.retries, e.redirects))
        budget -= 1
    out: list[dict[str, list[Target]]] = [{} for _ in range(max(1, groups))]
    units = fetch_units([h for h, q in per_host.items() if q], addresses or {})
    for host, queue in per_host.items():
        if queue:
            out[id_hash(units[host]) % len(out)][host] = queue
    return [g for g in out if g]


def round_limits(
    db: dict[str, Entry], config: CrawlConfig, groups_of: list[dict[str, list[Target]]]
) -> dict[str, int]:
    """Per host of the round, how many URLs it may fetch in this round: its queue, plus the links
    it finds on its own pages while the round runs (``follow_links_in_round``) up to
    ``pages_per_round_per_host`` and what ``max_pages_per_host`` leaves; the room left under
    ``max_pages`` is shared out host by host in name order, so the limits are a pure function of
    the database (a rerun plans the same) and their sum never passes ``max_pages``."""
    fetched_per_host = _fetched_per_host(db)
    queues = {h: len(q) for g in groups_of for h, q in g.items()}
    budget = max(0, config.max_pages - sum(fetched_per_host.values()) - sum(queues.values()))
    limits: dict[str, int] = {}
    for host in sorted(queues):
        room = min(config.pages_per_round_per_host, config.max_pages_per_host - fetched_per_host.get(host, 0))
        extra = max(0, min(room - queues[host], budget)) if config.follow_links_in_round else 0
        budget -= extra
        limits[host] = queues[host] + extra
    return limits


def known_urls(db: dict[str, Entry], hosts: Iterable[str]) -> dict[str, list[str]]:
    """The URLs the database knows on each of ``hosts`` (a link to one is not followed within a
    round: the database decides when it is due)."""
    wanted = set(hosts)
    out: dict[str, list[str]] = {h: [] for h in wanted}
    for url, e in db.items():
        if e.host in wanted:
            out[e.host].append(url)
    return out


def update(
    db: dict[str, Entry], outcomes: Iterable[Outcome], round_: int, config: CrawlConfig, hosts: set[str]
) -> tuple[dict[str, Entry], dict[str, int]]:
    """The next crawl database, and the links not added, counted by reason (out of scope)."""
    new = {url: replace(e) for url, e in db.items()}  # Entry holds scalars: a shallow copy
    left_out: dict[str, int] = {}
    verdicts: dict[tuple[str, int], str | None] = {}  # a site's off-site links recur on every page
    for o in outcomes:
        e = new.get(o.url)
        if e is None:  # a redirect hop followed inside the round
            e = new[o.url] = Entry(o.url, host_of(o.url), o.depth, o.referrer, redirects=o.redirects)
        e.round, e.http_status, e.reason, e.retries = round_, o.status, o.reason, o.retries
        if o.kind in ("fetched", "revisit"):
            e.status, e.digest, e.date = DONE, o.digest, o.date
            e.reason = o.kind + ("_truncated" if o.truncated else "")
        elif o.kind in ("redirect", "sitemap"):
            e.status = DONE
        elif o.kind == "retry":
            if o.retries > config.max_retries:
                e.status, e.reason = FAILED, f"gave_up_{o.reason}"
            else:
                e.status = DUE
        elif o.kind == "http_error":
            e.status = FAILED
        else:
            e.status = SKIPPED
        found = [(link, o.depth + 1, 0) for link in o.links]
        if o.redirect:
            found.append((o.redirect, o.depth, o.redirects + 1))
        for link, depth, redirects in found:
            if link in new:
                continue
            key = (link, depth)
            if key not in verdicts:
                verdicts[key] = out_of_scope(link, depth, hosts, config)
            why = verdicts[key]
            if why is not None:
                left_out[why] = left_out.get(why, 0) + 1
                continue
            new[link] = Entry(link, host_of(link), depth, o.url, redirects=redirects)
    return new, left_out
