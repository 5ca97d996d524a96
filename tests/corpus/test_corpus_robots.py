"""robots.txt: RFC 9309's examples with exact verdicts, the Content-Encoding of a served
robots.txt (gzip, deflate, a gzip bomb, a corrupt body) and its age, against real HTTP servers
on loopback (each test starts and stops its own)."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from pathlib import Path

import pytest

from corpus.crawl.config import CrawlConfig
from corpus.crawl.fetch import GroupFetcher, Outcome, Robots, Target
from corpus.crawl.warc import WarcSet
from tests.support.sites import Site, docs_site, sample_pages, send, static

AGENT = "corpus-toolkit-crawler"


def verdicts(robots_txt: str, agent: str, paths: list[str]) -> dict[str, bool]:
    """path -> allowed, through the copy a crawl database keeps (the fetch parses the same way)."""
    robots = Robots.from_state({"reason": "robots_parsed", "text": robots_txt, "fetched_at": 0.0})
    return {p: robots.allows("https://www.example.com" + p, agent) for p in paths}


# --- RFC 9309 -----------------------------------------------------------------------------


def test_other_records_do_not_end_a_group() -> None:
    """RFC 9309 2.2.4: records other than user-agent, allow and disallow (unknown ones, and the
    crawl-delay that protego knows) must not interfere: the two user-agent lines open one group.
    protego 0.7 alone closes FooBot's group at the unknown line and allows it everything."""
    for between in ("Invalid-Unknown-Line: x", "Crawl-delay: 3", "", "# a comment", "nonsense"):
        text = f"User-agent: FooBot\n{between}\nUser-agent: *\nDisallow: /\n"
        assert verdicts(text, "FooBot", ["/", "/x"]) == {"/": False, "/x": False}, between
        assert verdicts(text, "BarBot", ["/x"]) == {"/x": False}, between
    # The crawl-delay stays with its group (both agents), and a group ends only at a user-agent
    # line that follows a rule.
    text = "User-agent: a\nCrawl-delay: 3\nUser-agent: b\nDisallow: /p\nUser-agent: c\nAllow: /\n"
    robots = Robots.from_state({"reason": "robots_parsed", "text": text, "fetched_at": 0.0})
    assert [robots.delay(a) for a in ("a", "b", "c")] == [3.0, 3.0, 0.0]
    assert verdicts(text, "a", ["/p"]) == {"/p": False} and verdicts(text, "c", ["/p"]) == {"/p": True}


def test_rfc9309_simple_example() -> None:
    """RFC 9309 5.1: the four groups and who may fetch what."""
    text = (
        "User-Agent: *\nDisallow: *.gif$\nDisallow: /example/\nAllow: /publications/\n\n"
        "User-Agent: foobot\nDisallow:/\nAllow:/example/page.html\nAllow:/example/allowed.gif\n\n"
        "User-Agent: barbot\nUser-Agent: bazbot\nDisallow: /example/page.html\n\nUser-Agent: quxbot\n"
    )
    paths = ["/publications/a", "/example/b", "/c.gif", "/d/e.gif", "/example/page.html",
             "/example/allowed.gif", "/other"]  # fmt: skip
    expected = {
        "otherbot": [True, False, False, False, False, False, True],  # the * group
        "FooBot": [False, False, False, False, True, True, False],
        "barbot": [True, True, True, True, False, True, True],
        "bazbot": [True, True, True, True, False, True, True],  # one group, two agents
    }
    for bot, allowed in expected.items():
        assert verdicts(text, bot, paths) == dict(zip(paths, allowed, strict=True)), bot
    assert verdicts(text, "quxbot", paths) == dict.fromkeys(paths, True)  # an empty group


def test_rfc9309_groups_and_agents() -> None:
    """2.2.1: the groups of one agent are merged, matching is case-insensitive on the product
    token, an agent without a group of its own obeys ``*`` (and nothing when there is none);
    rules before any user-agent line belong to no group (2.1)."""
    merged = (
        "user-agent: ExampleBot\ndisallow: /foo\ndisallow: /bar\n\nuser-agent: ExampleBot\ndisallow: /baz\n"
    )
    assert verdicts(merged, "examplebot", ["/foo", "/bar", "/baz", "/qux"]) == {
        "/foo": False, "/bar": False, "/baz": False, "/qux": True,
    }  # fmt: skip
    text = "Allow: /free\nUser-agent: FOOBOT\nDisallow: /\nUser-agent: *\nDisallow: /private\n"
    assert verdicts(text, "FooBot", ["/free", "/x"]) == {"/free": False, "/x": False}
    assert verdicts(text, "BarBot", ["/free", "/private/x"]) == {"/free": True, "/private/x": False}
    only_specific = "User-agent: FooBot\nDisallow: /\n"
    assert verdicts(only_specific, "QuxBot", ["/x"]) == {"/x": True}
    # Our own product token, as the fetcher asks (the User-Agent header's first token).
    own = f"User-agent: *\nDisallow:\n\nUser-agent: {AGENT.upper()}\nDisallow: /doc/\n"
    assert verdicts(own, AGENT, ["/doc/a", "/b"]) == {"/doc/a": False, "/b": True}


def test_rfc9309_longest_match_and_special_characters() -> None:
    """2.2.2: the longest match wins, allow on a tie; 2.2.3: ``*`` is any characters, ``$`` the
    end, ``#`` a comment; percent-encoding compared as the RFC's table says; 5.2's example."""
    longest = "User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n"
    assert verdicts(longest, "foobot", ["/example/page/", "/example/page/disallowed.gif"]) == {
        "/example/page/": True, "/example/page/disallowed.gif": False,
    }  # fmt: skip
    tie = "User-agent: *\nDisallow: /folder\nAllow: /folder\n"
    assert verdicts(tie, "x", ["/folder/page"]) == {"/folder/page": True}
    special = "User-agent: *\nDisallow: /\nAllow: /this/path/exactly$\nAllow: /that/*/exactly # why\n"
    assert verdicts(special, "x", ["/this/path/exactly", "/this/path/exactly/not", "/that/a/b/exactly",
                                   "/that/exactly"]) == {  # fmt: skip
        "/this/path/exactly": True, "/this/path/exactly/not": False, "/that/a/b/exactly": True,
        "/that/exactly": False,
    }  # fmt: skip
    escaped = "User-agent: *\nDisallow: /path/file-with-a-%2A.html\nDisallow: /path/foo-%24\n"
    assert verdicts(escaped, "x", ["/path/file-with-a-*.html", "/path/foo-$", "/path/foo-"]) == {
        "/path/file-with-a-*.html": False, "/path/foo-$": False, "/path/foo-": True,
    }  # fmt: skip
    encoded = "User-agent: *\nDisallow: /foo/bar/ツ\nDisallow: /a/%62%61%7A\n"
    assert verdicts(encoded, "x", ["/foo/bar/%E3%83%84", "/a/baz", "/a/bay"]) == {
        "/foo/bar/%E3%83%84": False, "/a/baz": False, "/a/bay": True,
    }  # fmt: skip


def test_byte_order_mark_and_line_forms() -> None:
    """A UTF-8 byte order mark does not hide the first line; names are case-insensitive, a
    missing colon is forgiven, and CR, LF and CRLF all end lines."""
    assert verdicts("\ufeffUser-agent: *\nDisallow: /\n", "x", ["/a"]) == {"/a": False}
    assert verdicts("USER-AGENT: *\r\nDISALLOW: /a\rallow /a/b\n", "x", ["/a/c", "/a/b"]) == {
        "/a/c": False, "/a/b": True,
    }  # fmt: skip


# --- served robots.txt ----------------------------------------------------------------------

ROBOTS = b"User-agent: *\nDisallow: /doc/ch02\nCrawl-delay: 0\n"
PATHS = ["/doc/ch01.en.html", "/doc/ch02.en.html", "/doc/ch03.en.html"]


def site_with_robots(address: str, handler) -> Site:
    pages = {n: h for n, h in sample_pages().items() if n in ("ch01.en.html", "ch02.en.html", "ch03.en.html")}
    site = docs_site(address, pages)
    site.routes["/robots.txt"] = handler
    return site.start()


def fetch(tmp: Path, site: Site, hosts: dict | None = None, **kwargs) -> tuple[list[Outcome], GroupFetcher]:
    """One fetch group of one host: its outcomes, and the fetcher (host states)."""
    config = CrawlConfig(min_delay=0.0, response_time_factor=0.0, robots_max_bytes=64 * 1024,
                         allow_networks=(f"{site.address}/32",))  # fmt: skip
    out = tmp / f"fetch{len(list(tmp.glob('fetch*')))}"
    warcs = {
        k: WarcSet(out / k, "t", config.warc_max_bytes, {})
        for k in ("pages", "crawldiagnostics", "robotstxt")
    }
    fetcher = GroupFetcher(config, warcs, {site.host}, hosts=hosts, **kwargs)
    try:
        outcomes = asyncio.run(fetcher.run({site.host: [Target(site.url(p)) for p in PATHS]}))
    finally:
        for w in warcs.values():
            w.close()
    return outcomes, fetcher


def asked(site: Site) -> list[str]:
    return [h.path for h in site.hits]


def deflate_raw(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(
    ("coding", "body"),
    [("gzip", gzip.compress(ROBOTS)), ("x-gzip", gzip.compress(ROBOTS)), ("deflate", zlib.compress(ROBOTS)),
     ("deflate", deflate_raw(ROBOTS)), ("gzip, identity", gzip.compress(ROBOTS))],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "gzip-identity"],
)  # fmt: skip
def test_an_encoded_robots_txt_is_decoded_and_obeyed(tmp_path: Path, coding: str, body: bytes) -> None:
    """A server with gzip on for text/plain sends robots.txt compressed: its rules still hold."""
    site = site_with_robots("127.0.0.21", static(body, ctype="text/plain", **{"Content-Encoding": coding}))
    try:
        outcomes, fetcher = fetch(tmp_path, site)
    finally:
        site.stop()
    assert asked(site) == ["/robots.txt", "/doc/ch01.en.html", "/doc/ch03.en.html"]
    assert [(o.kind, o.reason) for o in outcomes] == [
        ("fetched", ""), ("skipped", "robots_disallowed"), ("fetched", "")
    ]  # fmt: skip
    assert fetcher.hosts[site.host]["robots"]["text"] == ROBOTS.decode()


def test_a_gzip_bomb_robots_txt_is_read_up_to_the_cap(tmp_path: Path) -> None:
    """50 MB of zeros after the rules, gzipped to about 50 KB: the text kept is the cap's first
    64 KiB (decoded), and its rules hold."""
    c = zlib.compressobj(wbits=31)
    bomb = c.compress(ROBOTS) + b"".join(c.compress(b"\0" * 2**20) for _ in range(50)) + c.flush()
    assert len(bomb) < 64 * 1024
    site = site_with_robots("127.0.0.22", static(bomb, ctype="text/plain", **{"Content-Encoding": "gzip"}))
    try:
        outcomes, fetcher = fetch(tmp_path, site)
    finally:
        site.stop()
    text = fetcher.hosts[site.host]["robots"]["text"]
    assert len(text) == 64 * 1024 and text.startswith(ROBOTS.decode()) and set(text[len(ROBOTS) :]) == {"\0"}
    assert "/doc/ch02.en.html" not in asked(site)
    assert [o.reason for o in outcomes] == ["", "robots_disallowed", ""]


@pytest.mark.parametrize(
    ("coding", "body"),
    [("gzip", b"\x1f\x8b\x08\x00" + b"not gzip at all" * 10), ("deflate", b"\x00\xff" * 40),
     ("br", b"\x8b\x02\x80User-agent: *\x03")],
    ids=["corrupt-gzip", "corrupt-deflate", "unknown-coding"],
)  # fmt: skip
def test_an_undecodable_robots_txt_disallows_all_until_asked_again(
    tmp_path: Path, coding: str, body: bytes
) -> None:
    """A robots.txt that cannot be decoded is not an empty one: nothing is fetched, the URLs are
    retried, and the next round asks for robots.txt again (as when it is unavailable)."""
    site = site_with_robots("127.0.0.23", static(body, ctype="text/plain", **{"Content-Encoding": coding}))
    try:
        outcomes, fetcher = fetch(tmp_path, site)
        assert asked(site) == ["/robots.txt"]
        assert {(o.kind, o.reason, o.retries) for o in outcomes} == {("retry", "robots_undecodable", 1)}
        assert fetcher.hosts[site.host]["robots"]["disallow_all"] is True
        site.routes["/robots.txt"] = static(ROBOTS, ctype="text/plain")  # the server is mended
        outcomes, _ = fetch(tmp_path, site, hosts=fetcher.hosts)
    finally:
        site.stop()
    assert asked(site) == ["/robots.txt", "/robots.txt", "/doc/ch01.en.html", "/doc/ch03.en.html"]


# --- the age of a robots.txt ----------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_robots_txt_is_asked_again_after_robots_max_age(tmp_path: Path) -> None:
    """RFC 9309 2.4: a robots.txt is not used for more than 24 hours. Rounds within a day use
    the copy kept in the host state; a round a day later asks again."""
    assert CrawlConfig().robots_max_age == 86400
    clock = FakeClock()
    site = site_with_robots("127.0.0.24", static(ROBOTS, ctype="text/plain"))
    try:
        _, fetcher = fetch(tmp_path, site, now=clock)
        hosts = fetcher.hosts
        assert hosts[site.host]["robots"]["fetched_at"] == clock.now
        for later in (3600.0, 86399.0):  # the same copy within 24 hours
            clock.now = 1_700_000_000.0 + later
            _, fetcher = fetch(tmp_path, site, hosts=hosts, now=clock)
            hosts = fetcher.hosts
        assert asked(site).count("/robots.txt") == 1
        clock.now = 1_700_000_000.0 + 86400.0
        _, fetcher = fetch(tmp_path, site, hosts=hosts, now=clock)
        assert asked(site).count("/robots.txt") == 2
        assert fetcher.hosts[site.host]["robots"]["fetched_at"] == clock.now
        # A host state from before fetch times were kept: its copy counts as stale.
        old = {site.host: {"robots": {"reason": "robots_parsed", "disallow_all": False, "text": ""}}}
        fetch(tmp_path, site, hosts=old, now=clock)
        assert asked(site).count("/robots.txt") == 3
    finally:
        site.stop()


def test_a_host_fetched_past_robots_max_age_asks_again_and_obeys_the_new_rules(tmp_path: Path) -> None:
    """The age is checked before every request, not only when a round starts: a day passes
    while ch01 is served, robots.txt now disallows ch03, and ch03 is not fetched."""
    clock = FakeClock()
    served = [b"User-agent: *\nDisallow: /doc/ch02\n", b"User-agent: *\nDisallow: /doc/ch03\n"]

    def robots(h) -> None:
        send(h, 200, served.pop(0), "text/plain")

    def slow_day(h) -> None:
        clock.now += 86400.0
        send(h, 200, b"<html><body>a day later</body></html>")

    site = site_with_robots("127.0.0.25", robots)
    site.routes["/doc/ch01.en.html"] = slow_day
    try:
        outcomes, _ = fetch(tmp_path, site, now=clock)
    finally:
        site.stop()
    assert asked(site) == ["/robots.txt", "/doc/ch01.en.html", "/robots.txt", "/doc/ch02.en.html"]
    assert [(o.kind, o.reason) for o in outcomes] == [
        ("fetched", ""), ("fetched", ""), ("skipped", "robots_disallowed")
    ]  # fmt: skip


def test_robots_max_age_is_validated() -> None:
    with pytest.raises(ValueError, match="crawl.robots_max_age"):
        CrawlConfig(robots_max_age=0).validate()
    assert CrawlConfig.from_dict({"robots_max_age": 3600}).robots_max_age == 3600


def test_the_fetch_asks_for_the_codings_it_decodes(tmp_path: Path) -> None:
    """Accept-Encoding names only codings the robots.txt and sitemap decoding undoes."""
    seen: list[str] = []

    def robots(h) -> None:
        seen.append(h.headers.get("Accept-Encoding", ""))
        send(h, 200, ROBOTS, "text/plain")

    site = site_with_robots("127.0.0.26", robots)
    try:
        fetch(tmp_path, site)
    finally:
        site.stop()
    from corpus.crawl.fetch import decoded_body

    codings = [c.strip() for c in seen[0].split(",")]
    assert codings == ["gzip", "deflate"]
    for coding in codings:
        packed = gzip.compress(ROBOTS) if coding == "gzip" else zlib.compress(ROBOTS)
        assert decoded_body(packed, coding, 1000) == ROBOTS
