"""The crawl job against real HTTP servers on loopback: Debian Reference chapters from the sample
on one host, traps and bad responses on another, robots.txt variants on others, and a host whose
address is not allowed. Assertions come from the servers' own access logs and the WARC files."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest

from corpus.crawl.config import CrawlConfig
from pipelines import corpus_job, crawl_job
from tests.support.sites import Site, docs_site, gzip_bomb, sample_pages, send, static

pytestmark = pytest.mark.slow  # crawls of loopback sites

ROBOTS_A = b"""User-agent: *
Disallow: /doc/*.ja.html$
Disallow: /doc/ch0*.fr.html
Allow: /doc/ch01.fr.html
Crawl-delay: 0.2
"""
MIN_DELAY = 0.05


def trap_site(address: str) -> Site:
    site = Site(address)
    links = ["/cal?m=1", "/a/", "/loop1", "/slow", "/big", "/bomb", "/bin", "/err", "/moved", "/charset",
             "/nofollow", "/missing", "/busy"]  # fmt: skip
    index = "".join(f'<a href="{u}">{u}</a> ' for u in links)
    site.routes["/"] = static(f"<html><body>{index}</body></html>".encode())
    site.routes["/robots.txt"] = static(b"User-agent: *\nDisallow:\n", ctype="text/plain")

    def calendar(h) -> None:
        month = int(h.path.split("=")[1])
        send(h, 200, f'<html><body><a href="/cal?m={month + 1}">next month</a></body></html>'.encode())

    site.prefixes["/cal"] = calendar
    site.prefixes["/a/"] = static(b'<html><body><a href="a/">deeper</a></body></html>')
    site.routes["/loop1"] = static(b"", 302, Location="/loop2")
    site.routes["/loop2"] = static(b"", 302, Location="/loop1")

    def slow(h) -> None:
        time.sleep(1.5)
        with contextlib.suppress(OSError):
            send(h, 200, b"<html><body>late</body></html>")

    site.routes["/slow"] = slow
    page = sample_pages()["ch01.en.html"]
    site.routes["/big"] = static(page * (3 * 2**20 // len(page) + 1))
    site.routes["/bomb"] = static(gzip_bomb(50 * 2**20), **{"Content-Encoding": "gzip"})
    site.routes["/bin"] = static(bytes(range(256)) * 64, ctype="application/octet-stream")
    site.routes["/err"] = static(b"<html><body>oops</body></html>", 500)
    site.routes["/moved"] = static(b"", 301, Location="/moved-here")
    site.routes["/moved-here"] = static(page)
    site.routes["/charset"] = static(sample_pages()["ch01.ja.html"], ctype="text/html; charset=iso-8859-1")
    site.routes["/nofollow"] = static(
        b'<html><head><meta name="robots" content="nofollow"></head>'
        b'<body><a href="/secret">s</a></body></html>'
    )
    site.routes["/secret"] = static(b"<html><body>secret</body></html>")
    site.routes["/busy"] = static(b"<html><body>slow down</body></html>", 429, **{"Retry-After": "1"})
    return site


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("crawl")
    pages = {n: h for n, h in sample_pages().items() if re.fullmatch(r"ch0[1-4]\.(en|fr|ja)\.html", n)}
    sites = {
        "docs": docs_site("127.0.0.2", pages, ROBOTS_A),
        "traps": trap_site("127.0.0.3"),
        "blocked": docs_site("127.0.0.4", pages, b""),
        "robots_503": docs_site("127.0.0.5", pages),
        "robots_slow": docs_site("127.0.0.6", pages),
        "robots_huge": docs_site("127.0.0.7", pages),
        "robots_moved": docs_site("127.0.0.8", pages),
        "robots_gzip": docs_site("127.0.0.14", pages),
    }
    # nginx with gzip on for text/plain answers Accept-Encoding: gzip so.
    sites["robots_gzip"].routes["/robots.txt"] = static(
        gzip.compress(ROBOTS_A), ctype="text/plain", **{"Content-Encoding": "gzip"}
    )
    sites["robots_503"].routes["/robots.txt"] = static(b"busy", 503, ctype="text/plain")

    def slow_robots(h) -> None:
        time.sleep(1.5)
        with contextlib.suppress(OSError):
            send(h, 200, b"User-agent: *\nDisallow: /\n", "text/plain")

    sites["robots_slow"].routes["/robots.txt"] = slow_robots
    huge = b"User-agent: *\n" + b"".join(b"Disallow: /nothing-%d\n" % i for i in range(40_000))
    sites["robots_huge"].routes["/robots.txt"] = static(huge + b"Disallow: /doc/\n", ctype="text/plain")
    sites["robots_moved"].routes["/robots.txt"] = static(b"", 301, Location="/real-robots.txt")
    sites["robots_moved"].routes["/real-robots.txt"] = static(
        b"User-agent: *\nDisallow: /doc/ch02", ctype="text/plain"
    )
    for s in sites.values():
        s.start()
    seeds = tmp / "seeds.txt"
    seeds.write_text(
        "\n".join([*(s.url("/") for s in sites.values()), "not a url", "ftp://x/"]) + "\n", "utf-8"
    )
    config = tmp / "crawl.toml"
    config.write_text(
        f"[crawl]\nmin_delay = {MIN_DELAY}\nmax_depth = 3\nread_timeout = 1.0\nmax_body_bytes = 1048576\n"
        "max_retries = 1\nrobots_max_bytes = 512000\n",
        "utf-8",
    )
    allow = ["127.0.0.2", "127.0.0.3", "127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.14"]
    args = [
        "--seeds",
        str(seeds),
        "--output",
        str(tmp),
        "--name",
        "t",
        "--config",
        str(config),
        "--rounds",
        "5",
    ]
    for a in allow:
        args += ["--allow-network", f"{a}/32"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert crawl_job.run(args) == 0, out.getvalue()
    yield tmp / "t", sites, tmp
    for s in sites.values():
        s.stop()


def db_rows(run: Path) -> dict[str, dict]:
    last = sorted((run / "crawldb").glob("round-*.parquet"))[-1]
    return {r["url"]: r for r in pq.read_table(last).to_pylist()}


def test_robots_txt_comes_first_and_is_obeyed(crawl) -> None:
    run, sites, _ = crawl
    for name, site in sites.items():
        if site.hits:
            assert site.hits[0].path == "/robots.txt", name
    docs = [h.path for h in sites["docs"].hits]
    assert "/doc/ch01.en.html" in docs and "/doc/ch01.fr.html" in docs  # allowed, and fetched
    assert not [p for p in docs if p.endswith(".ja.html")]
    assert not [p for p in docs if re.fullmatch(r"/doc/ch0[2-9]\.fr\.html", p)]
    # robots.txt answering 503 or timing out: nothing else is asked of the host.
    assert [h.path for h in sites["robots_503"].hits] and {h.path for h in sites["robots_503"].hits} == {
        "/robots.txt"
    }
    assert {h.path for h in sites["robots_slow"].hits} == {"/robots.txt"}
    # robots.txt behind a redirect is followed and obeyed.
    moved = [h.path for h in sites["robots_moved"].hits]
    assert moved[:2] == ["/robots.txt", "/real-robots.txt"] and "/doc/ch01.en.html" in moved
    assert not [p for p in moved if p.startswith("/doc/ch02")]
    # Only the first 500 KiB of a huge robots.txt are read: its last rule is not seen.
    assert "/doc/ch01.en.html" in [h.path for h in sites["robots_huge"].hits]
    rows = db_rows(run)
    assert {r["reason"] for u, r in rows.items() if "127.0.0.5" in u} == {"gave_up_robots_unavailable"}


def test_a_gzip_encoded_robots_txt_is_obeyed(crawl) -> None:
    """The same robots.txt as the docs host's, sent gzip-encoded: the same pages asked, none
    that it disallows, its Crawl-delay kept (the delay test)."""
    _, sites, _ = crawl
    plain = sorted(h.path for h in sites["docs"].hits)
    encoded = sorted(h.path for h in sites["robots_gzip"].hits)
    assert encoded == plain and "/doc/ch01.fr.html" in encoded
    assert not [p for p in encoded if p.endswith(".ja.html") or re.fullmatch(r"/doc/ch0[2-9]\.fr\.html", p)]


def test_requests_to_a_host_keep_the_delay(crawl) -> None:
    _, sites, _ = crawl
    for name, site in sites.items():
        delay = 0.2 if name in ("docs", "robots_gzip") else MIN_DELAY
        times = [h.at for h in site.hits]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(g >= delay - 0.01 for g in gaps), (name, min(gaps, default=None))
        assert all(h.agent.startswith("corpus-toolkit-crawler/") for h in site.hits)


def test_no_connection_outside_the_allowed_networks(crawl) -> None:
    run, sites, _ = crawl
    assert sites["blocked"].hits == []
    rows = db_rows(run)
    assert {r["reason"] for u, r in rows.items() if "127.0.0.4" in u} == {"blocked_address"}


def test_traps_and_bad_responses_are_counted_outcomes(crawl) -> None:
    run, sites, _ = crawl
    hits = [h.path for h in sites["traps"].hits]
    rows = {
        u.split(sites["traps"].host, 1)[1]: r for u, r in db_rows(run).items() if sites["traps"].host in u
    }
    assert max(int(p.split("=")[1]) for p in hits if p.startswith("/cal")) <= 3  # depth limit
    assert max(p.count("a/") for p in hits if p.startswith("/a/")) <= 2  # repeated segment limit
    assert hits.count("/loop1") == 1 and hits.count("/loop2") == 1
    assert rows["/slow"]["status"] == "failed" and rows["/slow"]["reason"] == "gave_up_timeout"
    assert hits.count("/slow") == 2  # tried again once (max_retries = 1), in the next round
    assert rows["/big"]["reason"] == "fetched_truncated" and rows["/bomb"]["reason"] == "fetched_truncated"
    assert rows["/bin"]["reason"] == "content_type_not_allowed"
    assert rows["/err"]["reason"] == "gave_up_http_500" and rows["/missing"]["reason"] == "http_404"
    # The page it moved to is ch01.en.html, already captured on other hosts: a revisit record.
    assert rows["/moved"]["reason"] == "http_301" and rows["/moved-here"]["reason"] == "revisit"
    assert rows["/charset"]["status"] == "done"
    assert "/secret" not in hits  # nofollow
    # 429 with Retry-After: 1 -> the host's next request waits a second.
    busy = [i for i, h in enumerate(sites["traps"].hits) if h.path == "/busy"]
    assert busy and rows["/busy"]["reason"] == "gave_up_http_429"
    for i in busy:
        if i + 1 < len(sites["traps"].hits):
            assert sites["traps"].hits[i + 1].at - sites["traps"].hits[i].at >= 1.0 - 0.01
    summary = json.loads((run / "crawl_summary.json").read_text("utf-8"))
    assert (
        summary["links_left_out"]["too_deep"] >= 1 and summary["links_left_out"]["repeated_path_segment"] >= 1
    )
    assert summary["links_left_out"]["malformed_seed"] == 2
    assert summary["by_reason"]["failed"]["gave_up_timeout"] == 1


def test_warc_files_are_complete_and_valid(crawl) -> None:
    run, _, _ = crawl
    manifest = json.loads((run / "manifest.json").read_text("utf-8"))
    listed = {f["path"] for folder in manifest["files"].values() for f in folder}
    on_disk = {str(p.relative_to(run)) for p in run.glob("*/*.warc.gz")}
    assert listed == on_disk and not list(run.glob("*/*.tmp"))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "warcio"), "check", *sorted(str(run / p) for p in listed)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    tools = Path(sys.executable).parent
    for path in sorted(listed):
        checked = subprocess.run(
            [str(tools / "fastwarc"), "check", str(run / path)], capture_output=True, text=True
        )
        assert checked.returncode == 0 and "verified successfully" in checked.stdout, checked.stdout
    index = subprocess.run(
        [str(tools / "cdxj-indexer"), *sorted(str(run / p) for p in listed)], capture_output=True, text=True
    )
    assert index.returncode == 0, index.stderr
    records = manifest["records"]
    responses = sum(r.get("response", 0) + r.get("revisit", 0) for r in records.values())
    assert len([line for line in index.stdout.splitlines() if '"status"' in line]) >= responses
    assert records["warc"]["response"] >= 12 and records["robotstxt"]["response"] >= 5
    assert records["crawldiagnostics"]["response"] >= 4  # redirects, 404, 500
    assert records["warc"]["revisit"] >= 1  # the same page under several URLs


def test_the_corpus_job_reads_the_crawl(crawl) -> None:
    run, _, tmp = crawl
    manifest = json.loads((run / "manifest.json").read_text("utf-8"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = corpus_job.run(["--input", str(run / "warc" / "*.warc.gz"), "--output", str(tmp / "corpus"),
                             "--name", "c", "--engine", "inprocess"])  # fmt: skip
    assert rc == 0, out.getvalue()
    summary = json.loads((tmp / "corpus" / "c" / "summary.json").read_text("utf-8"))
    assert summary["stages"][0]["in"] == manifest["records"]["warc"]["response"]
    # The report finds the crawl the run read (its WARC files' folder) and shows its outcomes.
    from corpus.report.build import write_report
    from corpus.report.facts import gather

    crawl_summary = json.loads((run / "crawl_summary.json").read_text("utf-8"))
    facts = gather(tmp / "corpus" / "c", samples=0)
    assert facts["crawl"]["folder"] == str(run) and facts["crawl"]["by_status"] == crawl_summary["by_status"]
    page = write_report(tmp / "corpus" / "c", out=tmp / "report")[0].read_text("utf-8")
    assert '<section id="crawl"><h2>Crawl</h2>' in page and "Outcomes by reason" in page


def captured_urls(run: Path) -> list[str]:
    """Target URIs of every response and revisit record in the pages WARC files."""
    from warcio.archiveiterator import ArchiveIterator

    urls = []
    for path in sorted((run / "warc").glob("*.warc.gz")):
        with open(path, "rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type in ("response", "revisit"):
                    urls.append(record.rec_headers.get_header("WARC-Target-URI"))
    return urls


def test_killed_crawls_resume_to_the_same_captures(tmp_path: Path) -> None:
    import os
    import random
    import signal

    pages = {n: h for n, h in sample_pages().items() if re.fullmatch(r"ch0[1-9]\.(en|de)\.html", n)}
    sites = [
        docs_site("127.0.0.9", pages, b"User-agent: *\nDisallow:\n").start(),
        docs_site("127.0.0.10", pages, b"User-agent: *\nDisallow: /doc/*.de.html\n").start(),
    ]
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("".join(s.url("/") + "\n" for s in sites), "utf-8")
    config = tmp_path / "c.toml"
    config.write_text("[crawl]\nmin_delay = 0.05\npages_per_round_per_host = 4\n", "utf-8")

    def command(name: str) -> list[str]:
        return [sys.executable, "-m", "pipelines.crawl_job", "--seeds", str(seeds), "--output", str(tmp_path),
                "--name", name, "--config", str(config), "--rounds", "20",
                "--allow-network", "127.0.0.9/32", "--allow-network", "127.0.0.10/32"]  # fmt: skip

    try:
        subprocess.run(command("whole"), check=True, capture_output=True)
        rng = random.Random(2)
        kills = 0
        # Kill when a round's plan is written, when a fetch group has committed, and at random
        # moments in between, then run again; the last run finishes.
        for trigger in ("rounds/00000/plan.json", "rounds/00001/group-*.json", "crawldb/round-00003.parquet",
                        "rounds/00004/plan.json", "rounds/00006/group-*.json"):  # fmt: skip
            proc = subprocess.Popen(command("killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while not list((tmp_path / "killed").glob(trigger)) and proc.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.4))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait()
        subprocess.run(command("killed"), check=True, capture_output=True)
    finally:
        for s in sites:
            s.stop()
    assert kills >= 4
    whole, killed = captured_urls(tmp_path / "whole"), captured_urls(tmp_path / "killed")
    assert len(killed) == len(set(killed))  # nothing captured twice
    assert sorted(killed) == sorted(whole) and len(whole) >= 20
    assert not list((tmp_path / "killed").glob("*/*.tmp"))
    files = sorted(str(p) for p in (tmp_path / "killed").glob("*/*.warc.gz"))
    check = subprocess.run(
        [str(Path(sys.executable).parent / "warcio"), "check", *files], capture_output=True
    )
    assert check.returncode == 0, check.stdout


def test_sitemaps_named_in_robots_txt_bring_pages(tmp_path: Path) -> None:
    """A home page without links: the chapters are found only through the sitemaps robots.txt
    names (an index pointing to a gzipped XML sitemap and a plain-text one). What a sitemap lists
    still has to pass robots.txt and the scope."""
    import gzip

    pages = {n: h for n, h in sample_pages().items() if re.fullmatch(r"ch0[1-6]\.en\.html", n)}
    site = docs_site("127.0.0.11", pages, b"")
    site.routes["/"] = static(b"<html><body><p>Nothing linked here.</p></body></html>")
    site.start()
    try:
        names = sorted(pages)
        xml_urls = "".join(f"<url><loc>{site.url('/doc/' + n)}</loc></url>" for n in names[:4])
        xml = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{xml_urls}</urlset>'
        site.routes["/maps/pages.xml.gz"] = static(gzip.compress(xml.encode()), ctype="application/x-gzip")
        text = "".join(site.url("/doc/" + n) + "\n" for n in names[4:]) + "http://elsewhere.example/x\n"
        site.routes["/maps/more.txt"] = static(text.encode(), ctype="text/plain")
        index = (
            '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{site.url('/maps/pages.xml.gz')}</loc></sitemap>"
            f"<sitemap><loc>{site.url('/maps/more.txt')}</loc></sitemap></sitemapindex>"
        )
        site.routes["/maps/index.xml"] = static(index.encode(), ctype="application/xml")
        robots = f"User-agent: *\nDisallow: /doc/ch06\nSitemap: {site.url('/maps/index.xml')}\n"
        site.routes["/robots.txt"] = static(robots.encode(), ctype="text/plain")
        seeds = tmp_path / "seeds.txt"
        seeds.write_text(site.url("/") + "\n", "utf-8")
        config = tmp_path / "c.toml"
        config.write_text("[crawl]\nmin_delay = 0.02\nsitemaps = true\n", "utf-8")
        args = ["--seeds", str(seeds), "--output", str(tmp_path), "--name", "maps", "--config", str(config),
                "--allow-network", "127.0.0.11/32"]  # fmt: skip
        with contextlib.redirect_stdout(io.StringIO()):
            assert crawl_job.run(args) == 0
    finally:
        site.stop()
    run = tmp_path / "maps"
    fetched = {u.rsplit("/", 1)[1] for u in captured_urls(run)}
    assert fetched == {"", *(n for n in names if not n.startswith("ch06"))}
    paths = [h.path for h in site.hits]
    assert paths.index("/robots.txt") == 0
    assert paths.count("/maps/index.xml") == 1  # read once, not every round
    assert "/doc/ch06.en.html" not in paths  # listed, but disallowed
    rows = db_rows(run)
    assert rows[site.url("/maps/more.txt")]["reason"] == "sitemap"
    assert rows[site.url("/doc/" + names[0])]["referrer"] == site.url("/maps/pages.xml.gz")
    summary = json.loads((run / "crawl_summary.json").read_text("utf-8"))
    assert "http://elsewhere.example/x" not in rows and summary["links_left_out"]["off_site"] >= 1
    assert summary["by_reason"]["skipped"]["robots_disallowed"] == 1
    from warcio.archiveiterator import ArchiveIterator

    maps = []
    for path in sorted((run / "crawldiagnostics").glob("*.warc.gz")):
        with open(path, "rb") as f:
            uris = [
                r.rec_headers.get_header("WARC-Target-URI")
                for r in ArchiveIterator(f)
                if r.rec_type == "response"
            ]
            maps += [u for u in uris if "/maps/" in u]
    assert sorted(maps) == sorted(
        site.url(p) for p in ("/maps/index.xml", "/maps/pages.xml.gz", "/maps/more.txt")
    )


def test_a_pool_of_page_workers_captures_the_same_pages(tmp_path: Path) -> None:
    """``page_workers = 1`` (WARC records and links made in another process, as on a machine with
    cores to spare) gives the same captures, the same crawl database and valid WARC files as the
    inline default of this 2-core machine."""
    pages = {n: h for n, h in sample_pages().items() if re.fullmatch(r"ch0[1-6]\.(en|fr)\.html", n)}
    site = docs_site("127.0.0.11", pages, b"User-agent: *\nDisallow: /doc/ch05.fr.html\n").start()
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(site.url("/") + "\n", "utf-8")
    runs = {}
    try:
        for workers in (0, 1):
            config = tmp_path / f"c{workers}.toml"
            config.write_text(f"[crawl]\nmin_delay = 0.0\npage_workers = {workers}\n", "utf-8")
            command = [sys.executable, "-m", "pipelines.crawl_job", "--seeds", str(seeds), "--output",
                       str(tmp_path), "--name", f"p{workers}", "--config", str(config),
                       "--allow-network", "127.0.0.11/32"]  # fmt: skip
            subprocess.run(command, check=True, capture_output=True)
            runs[workers] = tmp_path / f"p{workers}"
    finally:
        site.stop()
    inline, pooled = captured_urls(runs[0]), captured_urls(runs[1])
    assert sorted(pooled) == sorted(inline) and len(inline) >= 12
    keep = ("url", "status", "reason", "depth", "referrer", "digest")
    rows = [{u: {k: r[k] for k in keep} for u, r in db_rows(run).items()} for run in runs.values()]
    assert rows[0] == rows[1]  # the same links found, the same outcomes
    files = sorted(str(p) for p in runs[1].glob("*/*.warc.gz"))
    warcio = str(Path(sys.executable).parent / "warcio")
    check = subprocess.run([warcio, "check", *files], capture_output=True)
    assert check.returncode == 0, check.stdout


def test_links_followed_within_a_round_reach_the_same_pages_in_fewer_rounds(tmp_path: Path) -> None:
    """``follow_links_in_round`` (the default) fetches a host's own links in the round that finds
    them: the same captures and crawl database as Nutch-style rounds (off), in fewer rounds, every
    URL asked once (the server's log), robots.txt obeyed, the delay kept and the per-round limit
    held (two runs of the limit leave pages for the next round)."""
    pages = {n: h for n, h in sample_pages().items() if re.fullmatch(r"ch0[1-9]\.(en|de)\.html", n)}
    runs, rounds, hits = {}, {}, {}
    for follow in (False, True):
        site = docs_site("127.0.0.12", pages, b"User-agent: *\nDisallow: /doc/ch03.de.html\n").start()
        seeds = tmp_path / "seeds.txt"
        seeds.write_text(site.url("/") + "\n", "utf-8")
        config = tmp_path / f"c{follow}.toml"
        config.write_text(
            f"[crawl]\nmin_delay = {MIN_DELAY}\npages_per_round_per_host = 12\n"
            f"follow_links_in_round = {str(follow).lower()}\n",
            "utf-8",
        )
        name = f"f{follow}"
        command = [sys.executable, "-m", "pipelines.crawl_job", "--seeds", str(seeds), "--output",
                   str(tmp_path), "--name", name, "--config", str(config), "--rounds", "20",
                   "--allow-network", "127.0.0.12/32"]  # fmt: skip
        try:
            subprocess.run(command, check=True, capture_output=True)
        finally:
            site.stop()
        runs[follow] = tmp_path / name
        rounds[follow] = json.loads((runs[follow] / "crawl_summary.json").read_text("utf-8"))["rounds"]
        hits[follow] = site.hits

    def paths_of(urls: list[str]) -> list[str]:  # two servers, two ports
        return sorted(urlsplit(u).path for u in urls)

    captured = {follow: paths_of(captured_urls(run)) for follow, run in runs.items()}
    assert captured[True] == captured[False] and len(captured[True]) >= 18
    keep = ("status", "reason", "depth")
    rows = [
        {urlsplit(u).path: {k: r[k] for k in keep} for u, r in db_rows(run).items()} for run in runs.values()
    ]
    assert rows[0] == rows[1]
    assert rounds[True] < rounds[False] and rounds[True] >= 2  # 19 pages at 12 per round
    paths = [h.path for h in hits[True]]
    assert len(paths) == len(set(paths)) and "/doc/ch03.de.html" not in paths
    assert paths[0] == "/robots.txt"
    gaps = [b.at - a.at for a, b in zip(hits[True], hits[True][1:], strict=False)]
    assert min(gaps) >= MIN_DELAY - 0.01


def test_a_round_planned_by_an_earlier_version_is_fetched_the_same(tmp_path: Path) -> None:
    """Plans are one file per fetch group plus a digest index now; an unfinished crawl whose next
    round an earlier version planned (one plan.json holding every group and the digests) is
    converted and goes on to the same captures and crawl database as a crawl never stopped."""
    pages = {n: h for n, h in sample_pages().items() if re.fullmatch(r"ch0[1-6]\.(en|fr)\.html", n)}
    site = docs_site("127.0.0.13", pages, b"User-agent: *\nDisallow:\n").start()
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(site.url("/") + "\n", "utf-8")
    config = tmp_path / "c.toml"
    config.write_text(
        "[crawl]\nmin_delay = 0.0\npages_per_round_per_host = 4\nfollow_links_in_round = false\n"
    )

    def crawl(name: str, rounds: int) -> None:
        args = ["--seeds", str(seeds), "--output", str(tmp_path), "--name", name, "--config", str(config),
                "--rounds", str(rounds), "--allow-network", "127.0.0.13/32"]  # fmt: skip
        with contextlib.redirect_stdout(io.StringIO()):
            assert crawl_job.run(args) == 0

    try:
        crawl("straight", 20)
        crawl("upgraded", 2)  # two rounds done; the third planned as an earlier version did:
        out = tmp_path / "upgraded"
        (out / "manifest.json").unlink()
        (out / "crawl_summary.json").unlink()
        n, db, hosts = crawl_job.latest_db(out)
        plan = crawl_job.make_plan(db, CrawlConfig.from_toml(config), 1, hosts)
        assert plan["digests"] and plan["groups"]
        old = {"digests": {d: (url, date) for d, url, date in plan["digests"]}, "groups": plan["groups"]}
        (out / "rounds" / f"{n:05d}").mkdir(parents=True)
        (out / "rounds" / f"{n:05d}" / "plan.json").write_text(json.dumps(old), "utf-8")
        crawl("upgraded", 20)
    finally:
        site.stop()
    assert json.loads((out / "rounds" / f"{n:05d}" / "plan.json").read_text("utf-8")) == {"groups": 1}
    assert (out / "rounds" / f"{n:05d}" / "digests.arrow").exists()
    straight, upgraded = captured_urls(tmp_path / "straight"), captured_urls(out)
    assert sorted(upgraded) == sorted(straight) and len(straight) >= 12
    keep = ("url", "status", "reason", "depth", "digest")
    rows = [
        {u: {k: r[k] for k in keep} for u, r in db_rows(run).items()} for run in (tmp_path / "straight", out)
    ]
    assert rows[0] == rows[1]


def test_the_per_address_limit_holds_across_workers(tmp_path: Path) -> None:
    """Two hosts of different names on one address (``localhost`` and ``127.0.0.1``, two ports of
    this machine) and one on another address. The crawl job's plan for two workers (four fetch
    groups) puts the two on one address in one group, since a fetcher counts connections per
    address within its own group; every group is then fetched at once, each in its own thread
    as on its own worker, with connections_per_ip = 1: the shared address never has requests
    of both hosts in flight (its servers count them), while the other host's group runs beside."""
    import asyncio
    import threading

    from corpus.crawl import frontier
    from corpus.crawl.fetch import GroupFetcher, Target
    from corpus.crawl.warc import WarcSet

    pages = {n: h for n, h in sample_pages().items() if re.fullmatch(r"ch0[1-3]\.en\.html", n)}
    lock = threading.Lock()
    flight = {"now": 0, "most": 0}

    def counted(handler):
        def serve(h) -> None:
            with lock:
                flight["now"] += 1
                flight["most"] = max(flight["most"], flight["now"])
            try:
                time.sleep(0.15)  # long enough for requests to two hosts to meet
                handler(h)
            finally:
                with lock:
                    flight["now"] -= 1

        return serve

    shared = [docs_site("127.0.0.1", pages, b"User-agent: *\nDisallow:\n") for _ in range(2)]
    for site in shared:
        site.routes = {path: counted(handler) for path, handler in site.routes.items()}
        site.start()
    other = docs_site("127.0.0.28", pages, b"User-agent: *\nDisallow:\n").start()
    ports = [s.server.server_address[1] for s in shared]  # type: ignore[union-attr]
    hosts = [f"localhost:{ports[0]}", f"127.0.0.1:{ports[1]}", other.host]
    config = CrawlConfig(min_delay=0.0, response_time_factor=0.0, connections_per_ip=1, max_depth=1,
                         allow_networks=("127.0.0.1/32", "127.0.0.28/32"))  # fmt: skip
    db, _ = frontier.seed_entries([f"http://{h}/" for h in hosts], config)
    plan = crawl_job.make_plan(db, config, 4, {})
    groups = [sorted(queues) for queues, *_ in plan["groups"]]
    done: list[int] = []

    def fetch_group(number: int, queues: dict, states: dict, limits: dict, known: dict) -> None:
        warcs = {k: WarcSet(tmp_path / f"g{number}" / k, "t", config.warc_max_bytes, {})
                 for k in ("pages", "crawldiagnostics", "robotstxt")}  # fmt: skip
        fetcher = GroupFetcher(config, warcs, set(hosts), hosts=states, limits=limits, known=known)
        outcomes = asyncio.run(fetcher.run({h: [Target(*t) for t in q] for h, q in queues.items()}))
        for w in warcs.values():
            w.close()
        done.extend(1 for o in outcomes if o.kind in ("fetched", "revisit"))

    workers = [threading.Thread(target=fetch_group, args=(n, *part)) for n, part in enumerate(plan["groups"])]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        for site in (*shared, other):
            site.stop()
    assert flight["most"] == 1
    assert sorted(hosts[:2]) in groups  # one group holds both hosts of 127.0.0.1
    assert len(groups) == 2 and [other.host] in groups  # the other address in another group
    assert len(done) == 3 * (1 + len(pages))  # every host's index and chapters
    assert all(len(s.hits) == 1 + 1 + len(pages) for s in shared)  # robots.txt too
