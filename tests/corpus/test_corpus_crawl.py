"""corpus/crawl's pure parts: canonical URLs, scope, allowed addresses, the crawl database."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from corpus.crawl import frontier
from corpus.crawl.config import CrawlConfig
from corpus.crawl.fetch import Outcome, retry_after
from corpus.crawl.network import address_allowed
from corpus.crawl.urls import BadUrl, canonical, out_of_scope, resolve_link

BASE = "https://www.debian.org/doc/manuals/debian-reference/"


def test_canonical_urls() -> None:
    assert canonical("HTTPS://WWW.Debian.ORG:443/doc/manuals/debian-reference/ch01.en.html#_console") == (
        BASE + "ch01.en.html"
    )
    assert canonical("http://example.com") == "http://example.com/"
    assert canonical("http://example.com:8080/a?b=2&a=1") == "http://example.com:8080/a?a=1&b=2"
    assert canonical("http://bücher.example/") == "http://xn--bcher-kva.example/"
    for bad in ("ftp://example.com/", "not a url", "http:///nohost", "http://example.com:99999/"):
        with pytest.raises(BadUrl):
            canonical(bad)
    assert resolve_link(BASE + "ch01.en.html", "ch02.en.html#x") == BASE + "ch02.en.html"
    assert resolve_link(BASE, "mailto:a@b") is None and resolve_link(BASE, "javascript:void(0)") is None


def test_scope_rules() -> None:
    config = CrawlConfig(max_depth=2, deny=(r"\.pdf$",), allow=(r"/doc/",))
    hosts = {"www.debian.org"}
    assert out_of_scope(BASE + "ch01.en.html", 1, hosts, config) is None
    assert out_of_scope("https://example.com/doc/", 1, hosts, config) == "off_site"
    assert out_of_scope(BASE + "ch01.en.html", 3, hosts, config) == "too_deep"
    assert out_of_scope(BASE + "a.pdf", 1, hosts, config) == "denied_by_pattern"
    assert out_of_scope("https://www.debian.org/News/", 1, hosts, config) == "not_allowed_by_pattern"
    assert out_of_scope("https://www.debian.org/doc/a/a/a/", 1, hosts, config) == "repeated_path_segment"
    deep = "https://www.debian.org/doc/" + "/".join(f"s{i}" for i in range(25))
    assert out_of_scope(deep, 1, hosts, config) == "too_many_path_segments"
    assert out_of_scope(BASE + "x" * 2000, 1, hosts, config) == "url_too_long"


@pytest.mark.parametrize(
    ("ip", "plain", "with_loopback"),
    [("8.8.8.8", True, True), ("127.0.0.2", False, True), ("10.1.2.3", False, False),
     ("192.168.1.1", False, False), ("169.254.169.254", False, False), ("100.64.0.1", False, False),
     ("::1", False, False), ("fe80::1", False, False), ("::ffff:127.0.0.1", False, True),
     ("::ffff:10.0.0.1", False, False), ("2606:4700::1111", True, True), ("not-an-ip", False, False)],
)  # fmt: skip
def test_only_global_or_allowed_addresses(ip: str, plain: bool, with_loopback: bool) -> None:
    assert address_allowed(ip, []) is plain
    assert address_allowed(ip, [ipaddress.ip_network("127.0.0.0/8")]) is with_loopback


def test_retry_after() -> None:
    assert retry_after("120") == 120.0 and retry_after(None) is None and retry_after("soon") is None
    assert 0 <= retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # type: ignore[operator]


def test_generate_and_update_the_crawl_database() -> None:
    config = CrawlConfig(pages_per_round_per_host=2, max_retries=1, max_depth=3)
    db, bad = frontier.seed_entries(["# seeds", BASE, "https://example.org/", "nonsense", ""], config)
    assert bad == {"malformed_seed": 1} and len(db) == 2
    hosts = frontier.seed_hosts(db)
    groups = frontier.generate(db, config, groups=4)
    assert sorted(h for g in groups for h in g) == ["example.org", "www.debian.org"]
    assert frontier.generate(db, config, groups=4) == groups  # the same plan on a rerun
    links = [BASE + f"ch0{i}.en.html" for i in range(1, 5)] + ["https://elsewhere.net/"]
    outcomes = [
        Outcome(BASE, 0, None, "fetched", "", 200, links, digest="sha1:X", date="d"),
        Outcome("https://example.org/", 0, None, "retry", "timeout", retries=1),
    ]
    db2, left_out = frontier.update(db, outcomes, 0, config, hosts)
    assert left_out == {"off_site": 1}
    assert db2[BASE].status == frontier.DONE and db2[BASE].reason == "fetched"
    assert db2["https://example.org/"].status == frontier.DUE  # retried next round
    assert db2[BASE + "ch01.en.html"].depth == 1 and db2[BASE + "ch01.en.html"].referrer == BASE
    nxt = frontier.generate(db2, config, groups=1)
    assert [t.url for t in nxt[0]["www.debian.org"]] == links[:2]  # 2 per host per round
    again = [Outcome("https://example.org/", 0, None, "retry", "timeout", retries=2)]
    db3, _ = frontier.update(db2, again, 1, config, hosts)
    assert db3["https://example.org/"].status == frontier.FAILED
    assert db3["https://example.org/"].reason == "gave_up_timeout"
    assert frontier.from_table(frontier.to_table(db3.values())) == db3


def test_fetch_groups_keep_a_site_together() -> None:
    assert frontier.site_of("docs.python.org") == frontier.site_of("www.python.org:8080") == "python.org"
    assert frontier.site_of("a.b.github.io") == "b.github.io"  # a private suffix: its own site
    assert frontier.site_of("127.0.0.2:8000") == "127.0.0.2"
    config = CrawlConfig()
    db, _ = frontier.seed_entries(
        [f"http://{h}/" for h in ("docs.python.org", "www.python.org", "bugs.python.org", "www.debian.org")],
        config,
    )
    groups = frontier.generate(db, config, 8)
    python_groups = [g for g in groups if any(h.endswith("python.org") for h in g)]
    assert len(python_groups) == 1 and len(python_groups[0]) == 3


def test_round_limits_share_the_page_budgets() -> None:
    """A host may fetch in a round its queue plus links it finds, up to the per-round and
    per-host limits; the room under max_pages goes host by host in name order, and the limits
    never add up past it."""
    config = CrawlConfig(pages_per_round_per_host=5, max_pages_per_host=7, max_pages=12)
    db, _ = frontier.seed_entries([BASE, "https://example.org/", "https://example.net/"], config)
    done = frontier.Entry(BASE + "ch01.en.html", "www.debian.org", 1, BASE, status=frontier.DONE)
    db[done.url] = done
    for i in range(2, 5):  # fetched before on www.debian.org: 4 of its 7 used, 3 left
        db[BASE + f"ch0{i}.en.html"] = replace(done, url=BASE + f"ch0{i}.en.html")
    groups = frontier.generate(db, config, groups=2)
    limits = frontier.round_limits(db, config, groups)
    # 12 - 4 fetched - 3 queued (one seed per host) = 5 to share: example.net 4 more (5 in all),
    # example.org 1 more (2), www.debian.org nothing more (the budget is spent).
    assert limits == {"example.net": 5, "example.org": 2, "www.debian.org": 1}
    assert sum(limits.values()) + 4 == config.max_pages
    roomy = replace(config, max_pages=100)  # then www.debian.org stops at its 7 per host: 3 this round
    assert frontier.round_limits(db, roomy, groups)["www.debian.org"] == 3
    off = replace(config, follow_links_in_round=False)
    assert frontier.round_limits(db, off, groups) == {"example.net": 1, "example.org": 1, "www.debian.org": 1}


def test_fetch_groups_keep_an_address_together() -> None:
    """connections_per_ip is counted within one fetch group: the hosts on one address (of
    different sites, named differently) go to one group at any number of groups, together with
    their sites' other hosts; hosts on other addresses still spread over the groups."""
    config = CrawlConfig()
    shared = ["a.example", "b.test", "c.example.org:8080", "www.python.org"]
    alone = [f"site{i}.org" for i in range(12)]
    db, _ = frontier.seed_entries([f"http://{h}/" for h in (*shared, *alone, "docs.python.org")], config)
    addresses = {h: "192.0.2.7" for h in shared} | {h: f"198.51.100.{i}" for i, h in enumerate(alone)}
    addresses["docs.python.org"] = "203.0.113.1"  # elsewhere, but its site is on 192.0.2.7
    for n in (2, 4, 8):
        groups = frontier.generate(db, config, n, addresses)
        holding = [g for g in groups if set(g) & set(shared)]
        assert len(holding) == 1 and set(holding[0]) >= {*shared, "docs.python.org"}, n
        assert len(groups) > 1  # the others spread
        assert frontier.generate(db, config, n, dict(reversed(addresses.items()))) == groups  # deterministic
    # A host that shares its address with no other site's host is placed as without addresses.
    assert frontier.fetch_units(["site1.org", "x.site1.org"], {"site1.org": "198.51.100.1"}) == {
        "site1.org": "site1.org", "x.site1.org": "site1.org",
    }  # fmt: skip


def test_host_addresses_as_the_fetcher_counts_them() -> None:
    """The plan's address of each host: a literal address as itself (IPv4-mapped IPv6 as the
    IPv4 address), a name as its first allowed address; a name that does not resolve keeps the
    address learnt when it was last fetched, or has none."""
    import socket

    from corpus.crawl.network import host_addresses

    table = {
        "a.example": ["10.0.0.1", "192.0.2.7"],
        "b.example": ["192.0.2.7"],
        "private.example": ["10.0.0.2"],
    }

    def lookup(name: str) -> list[str]:
        if name not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[name]

    got = host_addresses(
        ["a.example:8080", "b.example", "[::ffff:192.0.2.9]:81", "192.0.2.9:80", "gone.example",
         "never.example", "private.example"],
        [ipaddress.ip_network("192.0.2.0/24")], known={"gone.example": "192.0.2.5"}, lookup=lookup,
    )  # fmt: skip
    assert got == {
        "a.example:8080": "192.0.2.7", "b.example": "192.0.2.7", "[::ffff:192.0.2.9]:81": "192.0.2.9",
        "192.0.2.9:80": "192.0.2.9", "gone.example": "192.0.2.5",
    }  # fmt: skip


def test_a_name_the_resolver_refuses_has_no_address_rather_than_stopping_the_plan() -> None:
    from corpus.crawl.network import host_addresses

    def lookup(name: str) -> list[str]:
        raise ValueError("embedded null character")  # what getaddrinfo says of a NUL in a name

    got = host_addresses(["bad\x00.example", "kept.example"], [ipaddress.ip_network("192.0.2.0/24")],
                         known={"kept.example": "192.0.2.5"}, lookup=lookup)  # fmt: skip
    assert got == {"kept.example": "192.0.2.5"}
