"""Fetch a group of hosts politely: robots.txt first, one request at a time per host, at most
``connections_per_ip`` per address, the delay between two requests to a host the largest of the
configured minimum, robots.txt's Crawl-delay, twice the last response time and Retry-After.

Every request is one outcome (``Outcome``): fetched, revisit, redirect, http_error, retry,
skipped or failed, with a reason; each capture goes to a WARC set (``pages``,
``crawldiagnostics`` for redirects and errors, ``robotstxt``).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import random
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from usp.tree import sitemap_from_str

from corpus.crawl.config import CrawlConfig
from corpus.crawl.digests import DigestIndex
from corpus.crawl.network import (
    BlockedAddress,
    VettedResolver,
    address_allowed,
    address_key,
    literal_address,
    vetted_socket,
)
from corpus.crawl.pages import run_page_work
from corpus.crawl.robots import Robots
from corpus.crawl.urls import host_of, out_of_scope, resolve_link
from corpus.crawl.warc import Capture, WarcSet, warc_date
from corpus.readers.warc import inflate


@dataclass(frozen=True)
class Target:
    url: str
    depth: int = 0
    referrer: str | None = None
    retries: int = 0
    redirects: int = 0


@dataclass
class Outcome:
    url: str
    depth: int
    referrer: str | None
    kind: str
    """fetched | revisit | redirect | sitemap | http_error | retry | skipped | failed"""
    reason: str = ""
    status: int | None = None
    links: list[str] = field(default_factory=list)
    redirect: str | None = None
    retries: int = 0
    redirects: int = 0
    date: str = ""
    seconds: float = 0.0
    digest: str | None = None
    truncated: bool = False


class _Clock:
    """When the next request to one host may start."""

    def __init__(self, min_delay: float, response_time_factor: float = 2.0) -> None:
        self.min_delay = min_delay
        self.factor = response_time_factor
        self.next_at = 0.0

    async def wait(self) -> float:
        """Sleep until a request may start; the moment it starts."""
        pause = self.next_at - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        return time.monotonic()

    def rest(self, started: float, *delays: float) -> float:
        """After a request that started at ``started`` has ended: the next one waits the largest
        of the minimum delay, this response time times the factor (2 by default) and ``delays``,
        counted from now (the end, so that the server sees at least that gap whatever the time
        to send a request). Returns the response time."""
        now = time.monotonic()
        elapsed = now - started
        self.next_at = max(self.next_at, now + max(self.min_delay, self.factor * elapsed, *delays))
        return elapsed


# The codings asked for are the ones ``decoded_body`` undoes (aiohttp's own decoding is off, so
# that the WARC records keep the bytes as sent).
ACCEPT_ENCODING = "gzip, deflate"


def decoded_body(body: bytes, content_encoding: str, limit: int) -> bytes:
    """A body without its Content-Encoding, at most ``limit`` bytes of it: gzip, x-gzip, deflate
    (with or without its zlib wrapper) or identity, a list of codings undone last first. Each is
    inflated with a bounded output (``corpus.readers.warc.inflate``), so a gzip bomb stops at
    the limit. ValueError for corrupt data or a coding it does not know."""
    for coding in reversed([c for c in content_encoding.split(",") if c.strip()]):
        body, _ = inflate(body, coding, limit, raw_deflate=True)
    return body[:limit]


def payload_digest(body: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class GroupFetcher:
    """Fetches a group of hosts (each with its own queue) into WARC sets, within a deadline."""

    def __init__(
        self,
        config: CrawlConfig,
        warcs: dict[str, WarcSet],
        seed_hosts: set[str],
        seen_digests: DigestIndex | None = None,
        hosts: dict[str, dict] | None = None,
        deadline: float | None = None,
        pages_left: int | None = None,
        log: Callable[[str], None] | None = None,
        page_pool: Executor | None = None,
        limits: dict[str, int] | None = None,
        known: dict[str, list[str]] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.now = now
        """Wall-clock seconds: host states' times (next request, robots.txt's age) count on it."""
        self.limits = limits or {}
        """Per host, the URLs this round may fetch (``frontier.round_limits``); a host not named
        fetches its queue only."""
        self.known = known or {}
        """Per host, the URLs the crawl database knows: a link to one is not followed in the round."""
        self.page_pool = page_pool
        """Where a page's WARC records and links are made (``corpus.crawl.pages``); None: inline."""
        self.agent = config.user_agent.split("/")[0]
        self.warcs = warcs
        self.seed_hosts = seed_hosts
        self.seen_digests = seen_digests if seen_digests is not None else DigestIndex()
        """Payload digest -> (url, date) of its first capture: a page with one is a revisit."""
        self.deadline = deadline if deadline is not None else time.monotonic() + config.round_seconds
        self.pages_left = pages_left if pages_left is not None else config.max_pages
        self.allowed = config.networks()
        self.log = log or (lambda _s: None)
        self.per_ip: dict[str, asyncio.Semaphore] = {}
        # What earlier rounds learnt of each host: robots.txt (unless it failed: asked again) and
        # when the next request may start (wall-clock seconds), so politeness holds across rounds.
        self.hosts: dict[str, dict] = {h: dict(v) for h, v in (hosts or {}).items()}

    async def run(self, queues: dict[str, list[Target]]) -> list[Outcome]:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.config.connect_timeout, sock_read=self.config.read_timeout
        )
        connector = aiohttp.TCPConnector(
            resolver=VettedResolver(self.allowed),
            socket_factory=vetted_socket(self.allowed),
            limit=0,
            limit_per_host=1,
            force_close=False,
        )
        headers = {"User-Agent": self.config.header(), "Accept-Encoding": ACCEPT_ENCODING, "Accept": "*/*"}
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False, headers=headers
        ) as session:
            results = await asyncio.gather(
                *(self._host(session, host, q) for host, q in sorted(queues.items()))
            )
        return [o for outcomes in results for o in outcomes]

    # --- one host ---------------------------------------------------------------------------

    async def _ip_of(self, session: aiohttp.ClientSession, host: str) -> str:
        name = urlsplit(f"http://{host}").hostname or host
        literal = literal_address(name)
        if literal is not None:
            if not address_allowed(literal, self.allowed):
                raise BlockedAddress(f"{name} is outside the allowed networks")
            return address_key(literal)
        resolver = session.connector._resolver  # type: ignore[union-attr]
        found = await resolver.resolve(name, 0)
        return address_key(found[0]["host"])

    async def _host(self, session: aiohttp.ClientSession, host: str, queue: list[Target]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        try:
            ip = await self._ip_of(session, host)
        except BlockedAddress as e:
            self.log(str(e))
            return [
                Outcome(t.url, t.depth, t.referrer, "skipped", "blocked_address", retries=t.retries)
                for t in queue
            ]
        except OSError:
            return [
                Outcome(t.url, t.depth, t.referrer, "retry", "dns_error", retries=t.retries + 1)
                for t in queue
            ]
        gate = self.per_ip.setdefault(ip, asyncio.Semaphore(self.config.connections_per_ip))
        clock = _Clock(self.config.min_delay, self.config.response_time_factor)
        state = self.hosts.setdefault(host, {})
        state["address"] = ip  # the next round's plan groups by it if the name does not resolve then
        clock.next_at = time.monotonic() + state.get("not_before", 0.0) - self.now()
        async with gate:
            try:
                return await self._host_queue(session, host, queue, clock, state, outcomes)
            finally:
                state["not_before"] = self.now() + max(0.0, clock.next_at - time.monotonic())

    async def _host_queue(
        self,
        session: aiohttp.ClientSession,
        host: str,
        queue: list[Target],
        clock: _Clock,
        state: dict,
        outcomes: list[Outcome],
    ) -> list[Outcome]:
        scheme = urlsplit(queue[0].url).scheme if queue else "http"
        robots = self._kept_robots(state)
        if robots is None:
            robots = await self._robots(session, host, scheme, clock)
            state["robots"] = robots.state()
        if self.config.sitemaps and not robots.disallow_all and not state.get("sitemaps_read"):
            outcomes.extend(await self._sitemaps(session, host, scheme, robots, clock))
            state["sitemaps_read"] = True
        pending = list(queue)
        seen = {t.url for t in pending}
        seen.update(self.known.get(host, ()))
        room = self.limits.get(host, len(queue)) - len(queue)  # links of its own it may follow
        while pending:
            target = pending.pop(0)
            if time.monotonic() >= self.deadline or self.pages_left <= 0:
                break  # not attempted: stays due for the next round
            if not self._fresh(robots.fetched_at):  # a host fetched for longer than robots_max_age
                robots = await self._robots(session, host, scheme, clock)
                state["robots"] = robots.state()
            if robots.disallow_all:
                outcomes.append(
                    Outcome(target.url, target.depth, target.referrer, "retry", robots.reason,
                            retries=target.retries + 1)
                )  # fmt: skip
                continue
            if not robots.allows(target.url, self.agent):
                outcomes.append(
                    Outcome(target.url, target.depth, target.referrer, "skipped", "robots_disallowed")
                )
                continue
            outcome = await self._fetch(session, target, clock, robots)
            outcomes.append(outcome)
            if outcome.kind in ("fetched", "revisit"):
                self.pages_left -= 1
                if room > 0:
                    room -= self._follow(host, target, outcome.links, seen, pending, room)
            if outcome.kind == "redirect" and outcome.redirect and host_of(outcome.redirect) == host:
                nxt = Target(outcome.redirect, target.depth, target.url, 0, target.redirects + 1)
                if nxt.url not in seen and nxt.redirects <= self.config.max_redirects:
                    if out_of_scope(nxt.url, nxt.depth, self.seed_hosts, self.config) is None:
                        seen.add(nxt.url)
                        pending.insert(0, nxt)
        return outcomes

    def _follow(
        self, host: str, target: Target, links: list[str], seen: set[str], pending: list[Target], room: int
    ) -> int:
        """Queue (breadth first) up to ``room`` of the page's links to its own host that are new
        and in scope; how many were queued."""
        added = 0
        depth = target.depth + 1
        for link in links:
            if added >= room:
                break
            if link in seen or host_of(link) != host:
                continue
            seen.add(link)
            if out_of_scope(link, depth, self.seed_hosts, self.config) is None:
                pending.append(Target(link, depth, target.url))
                added += 1
        return added

    def _fresh(self, fetched_at: float | None) -> bool:
        return fetched_at is not None and self.now() - fetched_at < self.config.robots_max_age

    def _kept_robots(self, state: dict) -> Robots | None:
        """The robots.txt an earlier round kept for the host, unless it failed (asked again) or
        is ``robots_max_age`` old (RFC 9309 2.4). A state written before fetch times were kept
        has none and counts as stale: its copy may be of any age, and asking again costs one
        request per host."""
        cached = state.get("robots")
        if cached is None or cached.get("disallow_all") or not self._fresh(cached.get("fetched_at")):
            return None
        return Robots.from_state(cached)

    async def _robots(self, session: aiohttp.ClientSession, host: str, scheme: str, clock: _Clock) -> Robots:
        url = f"{scheme}://{host}/robots.txt"
        fetched_at = self.now()
        for _hop in range(6):  # the first request and at most 5 redirects
            started = await clock.wait()
            try:
                # At most robots_max_bytes as sent: compressed text inflates to at least as much.
                capture, _ = await self._get(session, url, self.config.robots_max_bytes, robots=True)
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                clock.rest(started)
                self.log(f"robots.txt of {host}: {type(e).__name__}")
                return Robots(None, "robots_unavailable", disallow_all=True, fetched_at=fetched_at)
            elapsed = clock.rest(started)
            self.warcs["robotstxt"].capture(capture, {"fetchTimeMs": str(int(elapsed * 1000))}, None)
            status = capture.status
            if 300 <= status < 400:
                location = dict((k.lower(), v) for k, v in capture.response_headers).get("location")
                nxt = resolve_link(url, location) if location else None
                if nxt is None:
                    return Robots(None, "robots_redirect_broken", fetched_at=fetched_at)
                url = nxt
                continue
            if 200 <= status < 300:
                header = {k.lower(): v for k, v in capture.response_headers}
                try:
                    body = decoded_body(
                        capture.body, header.get("content-encoding", ""), self.config.robots_max_bytes
                    )
                except ValueError as e:  # unreadable, not empty: nothing is known to be allowed
                    self.log(f"robots.txt of {host}: {e}")
                    return Robots(None, "robots_undecodable", disallow_all=True, fetched_at=fetched_at)
                robots = Robots.parsed(body.decode("utf-8", errors="replace"), fetched_at)
                clock.rest(started, min(robots.delay(self.agent), self.config.max_crawl_delay))
                return robots
            if 400 <= status < 500:
                return Robots(None, "robots_missing", fetched_at=fetched_at)
            return Robots(None, "robots_unavailable", disallow_all=True, fetched_at=fetched_at)
        return Robots(None, "robots_too_many_redirects", fetched_at=fetched_at)

    async def _sitemaps(
        self, session: aiohttp.ClientSession, host: str, scheme: str, robots: Robots, clock: _Clock
    ) -> list[Outcome]:
        """The sitemaps robots.txt names on this host, and those their indexes list, at most
        ``max_sitemaps_per_host``: each fetched politely, captured in crawldiagnostics and parsed
        (ultimate-sitemap-parser: XML, gzip, plain text); one outcome per sitemap, its links the
        pages it lists (the frontier checks their scope)."""
        if robots.parser is None:
            return []
        home = f"{scheme}://{host}/"
        queue = [u for u in (resolve_link(home, s) for s in robots.parser.sitemaps) if u]
        outcomes: list[Outcome] = []
        tried: set[str] = set()
        while queue and len(tried) < self.config.max_sitemaps_per_host:
            url = queue.pop(0)
            if url in tried or host_of(url) != host:
                continue
            tried.add(url)
            out = Outcome(url, 0, None, "sitemap", "sitemap")
            outcomes.append(out)
            if not robots.allows(url, self.agent):
                out.kind, out.reason = "skipped", "robots_disallowed"
                continue
            started = await clock.wait()
            try:
                capture, _ = await self._get(session, url, self.config.max_body_bytes, robots=True)
            except BlockedAddress:
                out.kind, out.reason = "skipped", "blocked_address"
                continue
            except (TimeoutError, aiohttp.ClientError, OSError):
                clock.rest(started)
                out.kind, out.reason = "http_error", "sitemap_unavailable"
                continue
            elapsed = clock.rest(started, min(robots.delay(self.agent), self.config.max_crawl_delay))
            self.warcs["crawldiagnostics"].capture(
                capture, {"fetchTimeMs": str(int(elapsed * 1000)), "sitemap": "robots.txt"}, None
            )
            out.status, out.date = capture.status, capture.date
            if not 200 <= capture.status < 300:
                out.kind, out.reason = "http_error", f"sitemap_http_{capture.status}"
                continue
            header = {k.lower(): v for k, v in capture.response_headers}
            try:
                body = decoded_body(
                    capture.body, header.get("content-encoding", ""), self.config.max_body_bytes
                )
                if body[:2] == b"\x1f\x8b":  # a sitemap.xml.gz file
                    body = decoded_body(body, "gzip", self.config.max_body_bytes)
            except ValueError:
                out.kind, out.reason = "http_error", "sitemap_corrupt"
                continue
            parsed = sitemap_from_str(body.decode("utf-8", errors="replace"))
            out.links = [u for u in (resolve_link(url, p.url) for p in parsed.all_pages()) if u]
            queue += [u for u in (resolve_link(url, m.url) for m in getattr(parsed, "sub_sitemaps", [])) if u]
        return outcomes

    async def _get(
        self, session: aiohttp.ClientSession, url: str, limit: int, robots: bool = False
    ) -> tuple[Capture, bool]:
        """One GET, no redirect followed, the body read up to ``limit`` bytes as received.
        Returns the capture and whether its content type is one to keep."""
        name = urlsplit(url).hostname or ""
        literal = literal_address(name)
        if literal is not None and not address_allowed(literal, self.allowed):
            raise BlockedAddress(f"{name} is outside the allowed networks")
        date = warc_date()
        async with session.get(url, allow_redirects=False) as resp:
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.raw_headers]
            content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
            keep = robots or content_type in self.config.content_types or not content_type
            body = b""
            truncated = False
            if keep or not (200 <= resp.status < 300):
                chunks: list[bytes] = []
                size = 0
                while True:
                    chunk = await resp.content.read(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > limit:
                        truncated = True
                        break
                body = b"".join(chunks)[:limit]
            # aiohttp has removed any chunked framing: say so, as Common Crawl does.
            headers = [
                ("X-Crawler-Transfer-Encoding", v) if k.lower() == "transfer-encoding" else (k, v)
                for k, v in headers
            ]
            peer = resp.connection.transport.get_extra_info("peername") if resp.connection else None
            request = resp.request_info
            sent = urlsplit(str(request.url))
            path, query = sent.path or "/", sent.query
            capture = Capture(
                url=url,
                date=date,
                request_line=f"GET {path}{'?' + query if query else ''} HTTP/1.1",
                request_headers=[(k, v) for k, v in request.headers.items()],
                protocol=f"HTTP/{resp.version.major}.{resp.version.minor}" if resp.version else "HTTP/1.1",
                status=resp.status,
                reason=resp.reason or "",
                response_headers=headers,
                body=body,
                ip=peer[0] if peer else None,
                truncated=truncated,
                payload_digest=payload_digest(body),
            )
            if truncated:
                resp.close()
            return capture, keep

    async def _fetch(
        self, session: aiohttp.ClientSession, target: Target, clock: _Clock, robots: Robots
    ) -> Outcome:
        config = self.config
        started = await clock.wait()
        out = Outcome(target.url, target.depth, target.referrer, "fetched", retries=target.retries,
                      redirects=target.redirects)  # fmt: skip
        wait_more = 0.0
        try:
            capture, keep = await self._get(session, target.url, config.max_body_bytes)
        except BlockedAddress:
            out.kind, out.reason = "skipped", "blocked_address"
            return out
        except (TimeoutError, aiohttp.ServerTimeoutError):
            out.kind, out.reason, out.retries = "retry", "timeout", target.retries + 1
            clock.rest(started)
            return out
        except (aiohttp.ClientError, OSError) as e:
            out.kind, out.reason, out.retries = "retry", "network_error", target.retries + 1
            self.log(f"{target.url}: {type(e).__name__}: {e}")
            clock.rest(started)
            return out
        elapsed = time.monotonic() - started
        out.seconds, out.date, out.status, out.digest = round(elapsed, 4), capture.date, capture.status, None
        header = {k.lower(): v for k, v in capture.response_headers}
        status = capture.status
        metadata = {
            "fetchTimeMs": str(int(elapsed * 1000)),
            "depth": str(target.depth),
            **({"referrer": target.referrer} if target.referrer else {}),
            "robots": robots.reason,
        }
        if 200 <= status < 300:
            if not keep:
                out.kind, out.reason = "skipped", "content_type_not_allowed"
            else:
                first = self.seen_digests.get(capture.payload_digest)
                out.kind = "revisit" if first else "fetched"
                out.digest, out.truncated = capture.payload_digest, capture.truncated
                if first is None:
                    self.seen_digests[capture.payload_digest] = (capture.url, capture.date)
                work = await run_page_work(
                    self.page_pool, capture, metadata, first, header.get("content-encoding", ""),
                    header.get("content-type", "text/html"), config.max_body_bytes,
                )  # fmt: skip
                self.warcs["pages"].append(work.records)
                out.truncated = out.truncated or work.bomb
                out.links = work.links
        elif 300 <= status < 400:
            self.warcs["crawldiagnostics"].capture(capture, metadata, None)
            location = header.get("location")
            target_url = resolve_link(capture.url, location) if location else None
            out.kind, out.reason = "redirect", f"http_{status}"
            if target_url is None:
                out.kind, out.reason = "http_error", "redirect_without_location"
            elif target.redirects >= config.max_redirects:
                out.kind, out.reason = "skipped", "too_many_redirects"
            else:
                out.redirect = target_url
        else:
            self.warcs["crawldiagnostics"].capture(capture, metadata, None)
            out.kind, out.reason = "http_error", f"http_{status}"
            if status in (429, 503) or status >= 500:
                out.kind, out.retries = "retry", target.retries + 1
                after = retry_after(header.get("retry-after"))
                if after is None and status in (429, 503):
                    # Exponential back-off with jitter, the same for the same URL and try.
                    jitter = random.Random(f"{target.url}#{target.retries}").uniform(1.0, 1.5)
                    after = min(
                        config.max_crawl_delay, max(config.min_delay, 1.0) * 2**target.retries * jitter
                    )
                wait_more = min(after or 0.0, config.max_crawl_delay)
        clock.rest(started, min(robots.delay(self.agent), config.max_crawl_delay), wait_more)
        return out
