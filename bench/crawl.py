"""The crawler against wget and Scrapy on a loopback site of many virtual hosts.

    python -m bench.crawl [--hosts 100] [--report BENCHMARKS.md]    # part of `make bench`

A server process (aiohttp) answers on 127.1.0.1 .. 127.1.0.N, one port: each host serves the
sample's Debian Reference chapters of one language (12 pages, linking to each other) under /doc/,
an index at / and a robots.txt that allows everything; images and the stylesheet the pages name
answer 404. Each crawler starts from the N index pages with politeness delays at zero and gets
the same concurrency: ours (``python -m pipelines.crawl_job``, WARC written, robots obeyed, one
request at a time per host), ``wget --recursive --warc-file`` (one connection, host after host)
and Scrapy (``CONCURRENT_REQUESTS`` = N, one per host, robots obeyed, no WARC) when .venv-bench
has it. Pages = HTML responses with status 200; CPU = user + system seconds of the crawler's
process tree (the server's not counted); frontier bytes per URL = our crawl database's Parquet
file size over the URLs it holds. Then a round's plan for a synthetic crawl database of 1M URLs:
the time to plan and write it and what the fetch groups spend reading it.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import write_section

SECTION = "crawl"
ROBOTS = b"User-agent: *\nAllow: /\n"
NOT_FOUND = b"<html><body>not found</body></html>"
LATENCY_MS = 20
"""The second scenario's server time per response (a real server's think time and round trip)."""
LANGUAGES = ("en", "de", "fr", "es", "it", "ja")
ROOT = Path(__file__).resolve().parent.parent
BENCH_PY = ROOT / ".venv-bench" / "bin" / "python"

OUR_CONFIG = """[crawl]
min_delay = 0.0
response_time_factor = 0.0
pages_per_round_per_host = 1000
max_pages_per_host = 1000
max_pages = 1000000
max_depth = 5
round_seconds = 3600.0
"""


def address(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


# --- the site (its own process) ------------------------------------------------------------


def site_pages() -> dict[str, dict[str, bytes]]:
    """language -> path -> body: the chapters of that language, an index linking to them and a
    home page linking to the index."""
    from tests.support.sites import sample_pages

    pages = sample_pages()
    out: dict[str, dict[str, bytes]] = {}
    for lang in LANGUAGES:
        chapters = {n: b for n, b in pages.items() if n.endswith(f".{lang}.html")}
        links = "".join(f'<li><a href="/doc/{n}">{n}</a></li>' for n in sorted(chapters))
        index = f"<html><body><h1>Debian Reference ({lang})</h1><ul>{links}</ul></body></html>".encode()
        paths = {f"/doc/{n}": b for n, b in chapters.items()}
        paths[f"/doc/index.{lang}.html"] = index
        home = f'<html><body><a href="/doc/index.{lang}.html">Debian Reference</a></body></html>'
        paths["/"] = home.encode()
        out[lang] = paths
    return out


async def _serve(hosts: int, latency: float) -> None:
    from aiohttp import web

    sites = site_pages()
    by_host = {}
    for i in range(hosts):  # each host's pages its own (a comment naming the host): no revisits
        mark = f"<!-- host {i} -->".encode()
        by_host[address(i)] = {p: b + mark for p, b in sites[LANGUAGES[i % len(LANGUAGES)]].items()}

    async def handle(request: web.Request) -> web.Response:
        if latency:
            await asyncio.sleep(latency)
        if request.path == "/robots.txt":
            return web.Response(body=ROBOTS, content_type="text/plain")
        ip = request.transport.get_extra_info("sockname")[0] if request.transport else ""
        body = by_host.get(ip, {}).get(request.path)
        if body is None:
            return web.Response(status=404, body=NOT_FOUND, content_type="text/html")
        return web.Response(body=body, content_type="text/html", charset="utf-8")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    first = web.TCPSite(runner, address(0), 0)
    await first.start()
    port = runner.addresses[0][1]
    for i in range(1, hosts):
        await web.TCPSite(runner, address(i), port).start()
    print(port, flush=True)
    await asyncio.Event().wait()


# --- the crawlers ---------------------------------------------------------------------------


def _timed(cmd: list[str], cwd: Path, log: Path) -> tuple[float, float]:
    """Run a command; its wall seconds and the CPU seconds of its process tree."""
    before = os.times()
    started = time.perf_counter()
    with log.open("wb") as f:
        rc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - started
    after = os.times()
    if rc not in (0, 8):  # wget: 8 = some page answered an error (the 404s)
        tail = log.read_text("utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"{cmd[0]} exited with {rc}:\n{tail}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu


def html_200_in_warc(paths: list[Path]) -> int:
    """Response records of HTML with status 200 in WARC files (warcio)."""
    from warcio.archiveiterator import ArchiveIterator

    n = 0
    for path in paths:
        with path.open("rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                ctype = record.http_headers.get_header("Content-Type") or ""
                if record.http_headers.get_statuscode() == "200" and ctype.startswith("text/html"):
                    n += 1
    return n


def ours(seeds: Path, work: Path, workers: int) -> dict:
    config = work / "bench-crawl.toml"
    config.write_text(OUR_CONFIG, "utf-8")
    out = work / f"ours-{workers}"
    cmd = [sys.executable, "-m", "pipelines.crawl_job", "--seeds", str(seeds), "--output", str(out),
           "--name", "bench", "--config", str(config), "--allow-network", "127.0.0.0/8",
           "--workers", str(workers)]  # fmt: skip
    wall, cpu = _timed(cmd, ROOT, work / f"ours-{workers}.log")
    crawl = out / "bench"
    summary = json.loads((crawl / "crawl_summary.json").read_text("utf-8"))
    warcs = sorted((crawl / "warc").glob("*.warc.gz"))
    db = sorted((crawl / "crawldb").glob("round-*.parquet"))[-1]
    return {
        "wall": wall,
        "cpu": cpu,
        "pages": html_200_in_warc(warcs),
        "requests": sum(n for n in summary["by_http_status"].values()),
        "warc_bytes": sum(p.stat().st_size for p in crawl.rglob("*.warc.gz")),
        "frontier_bytes": db.stat().st_size,
        "urls": summary["urls"],
        "rounds": summary["rounds"],
    }


def wget(seeds: Path, work: Path) -> dict | None:
    exe = shutil.which("wget")
    if exe is None:
        return None
    into = work / "wget"
    into.mkdir()
    cmd = [exe, "--recursive", "--level=5", "--no-verbose", "--no-proxy", "--input-file", str(seeds),
           "--directory-prefix", str(into), "--warc-file", str(work / "wget"),
           "--no-warc-keep-log"]  # fmt: skip
    wall, cpu = _timed(cmd, work, work / "wget.log")
    warc = work / "wget.warc.gz"
    requests = 0
    with gzip.open(warc, "rb") as f:
        for line in f:
            if line.startswith(b"WARC-Type: response"):
                requests += 1
    return {"wall": wall, "cpu": cpu, "pages": html_200_in_warc([warc]), "requests": requests,
            "warc_bytes": warc.stat().st_size}  # fmt: skip


def scrapy(seeds: Path, work: Path, hosts: int) -> dict | None:
    if not BENCH_PY.exists():
        return None
    probe = subprocess.run([str(BENCH_PY), "-c", "import scrapy"], capture_output=True)
    if probe.returncode != 0:
        return None
    stats = work / "scrapy-stats.json"
    cmd = [str(BENCH_PY), str(ROOT / "bench" / "peer_scrapy.py"), str(seeds), str(stats), str(hosts)]
    wall, cpu = _timed(cmd, work, work / "scrapy.log")
    s = json.loads(stats.read_text("utf-8"))
    return {"wall": wall, "cpu": cpu, "pages": s["pages"], "requests": s["requests"], "warc_bytes": 0}


# --- the report -------------------------------------------------------------------------------


def section_text(r: dict) -> str:
    lines = [
        "## The crawler (`python -m bench.crawl`, part of `make bench`)",
        "",
        f"A loopback site of {r['hosts']} virtual hosts (127.1.0.x, one aiohttp server process) serving "
        f"the sample's Debian Reference chapters, {r['site_pages']:,} distinct HTML pages in all, plus "
        "robots.txt and 404s for the images and pages the chapters name that are not served. Our "
        "politeness delays are zero; every crawler gets the same concurrency "
        f"({r['hosts']} hosts at once, one request per host at a time; wget has one connection and "
        f"takes host after host). {r['cpus']} cores, shared with the server. Two scenarios: the "
        f"server answering at once (CPU-bound: the crawlers' cost per page decides) and after "
        f"{LATENCY_MS} ms per response (a real server's think time and round trip: concurrency "
        "decides). Pages: HTML 200 responses captured (wget and ours: counted in the WARC files); "
        "CPU: user + system seconds of the crawler's processes; wall time includes start-up "
        "(ours: Python and Beam imports, a Beam pipeline per round).",
    ]
    for sc in r["scenarios"]:
        lines += [
            "",
            f"Server latency {sc['latency_ms']:g} ms:",
            "",
            "| crawler | pages | requests | wall s | pages/s | CPU ms/page | WARC MB |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, x in sc["runs"].items():
            if x is None:
                lines.append(f"| {name} | not installed | | | | | |")
                continue
            lines.append(
                f"| {name} | {x['pages']:,} | {x['requests']:,} | {x['wall']:.1f} | "
                f"{x['pages'] / x['wall']:,.0f} | {1000 * x['cpu'] / max(1, x['pages']):.2f} | "
                f"{x['warc_bytes'] / 1e6:.1f} |"
            )
        lines.append("")
        o = sc["runs"]["ours, 1 worker"]
        for peer, target in (("wget --recursive --warc-file", 10), ("Scrapy (no WARC)", 1)):
            x = sc["runs"].get(peer)
            if x is None:
                continue
            ratio = (o["pages"] / o["wall"]) / (x["pages"] / x["wall"])
            cpu = (x["cpu"] / max(1, x["pages"])) / (o["cpu"] / max(1, o["pages"]))
            lines.append(
                f"- **vs {peer}:** {ratio:.2f}x the pages/s (target >= {target}x); its CPU per page "
                f"is {cpu:.2f}x ours."
            )
    o = r["scenarios"][0]["runs"]["ours, 1 worker"]
    lines.append(
        f"- **Frontier:** {o['frontier_bytes'] / o['urls']:.0f} bytes per URL ({o['urls']:,} URLs in "
        f"{o['frontier_bytes']:,} bytes of crawl database, Parquet zstd) after {o['rounds']} "
        + ("round (the site's own links are followed within a round)." if o["rounds"] == 1 else "rounds.")
    )
    if "plan" in r:
        p = r["plan"]
        lines.append(
            f"- **A round's plan at scale** (a synthetic crawl database of {p['urls']:,} URLs, half "
            f"fetched, on 1,000 sites): planned and written in {p['plan_s']:.1f} s "
            f"({p['bytes'] / 1e6:.0f} MB: one file per fetch group, the payload digests as a "
            f"memory-mapped index); all {p['groups']} groups read their part in {p['read_s']:.2f} s."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--report", default="BENCHMARKS.md")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--latency-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--render", help="only write the section from a results JSON of an earlier run")
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.hosts, args.latency_ms / 1000))
        return 0
    if args.render:
        results = json.loads(Path(args.render).read_text())
    else:
        results = measure(args.hosts)
        Path("bench/results").mkdir(parents=True, exist_ok=True)
        Path("bench/results/crawl.json").write_text(json.dumps(results, indent=1) + "\n")
    text = section_text(results)
    write_section(Path(args.report), SECTION, text)
    print(text)
    return 0


def plan_at_scale(urls: int = 1_000_000, sites: int = 1000, groups: int = 16) -> dict:
    """A round's plan for a crawl database of ``urls`` (half fetched, on ``sites`` sites): the
    seconds to plan and write it, its files, and what all ``groups`` fetch groups spend reading
    their part and opening the digest index (one lookup each)."""
    from corpus.crawl.config import CrawlConfig
    from corpus.crawl.digests import DigestIndex
    from corpus.crawl.frontier import DONE, Entry
    from pipelines.crawl_job import _digests_path, _group_plan_path, _plan_path, make_plan, write_plan

    db = {}
    for i in range(urls):
        host = f"www.site{i % sites}.example"
        url = f"https://{host}/doc/page-{i}.html"
        e = db[url] = Entry(url, host, 0)
        if i % 2 == 0:
            e.status, e.reason, e.digest, e.date = DONE, "fetched", f"sha1:{i:032X}", "2026-12-03T00:00:00Z"
    config = CrawlConfig(max_pages=10 * urls, max_pages_per_host=urls)
    work = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    try:
        started = time.perf_counter()
        n = write_plan(work, 0, make_plan(db, config, groups, {}))
        planned = time.perf_counter() - started
        size = sum(p.stat().st_size for p in _plan_path(work, 0).parent.iterdir())
        started = time.perf_counter()
        for g in range(n):
            json.loads(_group_plan_path(work, 0, g).read_text("utf-8"))
            assert DigestIndex(_digests_path(work, 0)).get(f"sha1:{2 * g:032X}") is not None
        read = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"urls": urls, "groups": n, "plan_s": planned, "bytes": size, "read_s": read}


def measure(hosts: int) -> dict:
    results: dict = {"hosts": hosts, "cpus": os.cpu_count(), "scenarios": []}
    print("crawl bench: a round's plan for 1M URLs ...", file=sys.stderr, flush=True)
    results["plan"] = plan_at_scale()
    pages = site_pages()
    results["site_pages"] = sum(len(pages[LANGUAGES[i % len(LANGUAGES)]]) for i in range(hosts))
    for latency_ms, two_workers in ((0, True), (LATENCY_MS, False)):
        runs = scenario(hosts, latency_ms, two_workers)
        results["scenarios"].append({"latency_ms": latency_ms, "runs": runs})
    return results


def scenario(hosts: int, latency_ms: float, two_workers: bool) -> dict:
    def say(what: str) -> None:
        print(f"crawl bench, server latency {latency_ms:g} ms: {what} ...", file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.crawl",
            "--serve",
            "--hosts",
            str(hosts),
            "--latency-ms",
            str(latency_ms),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        seeds = work / "seeds.txt"
        seeds.write_text("".join(f"http://{address(i)}:{port}/\n" for i in range(hosts)), "utf-8")
        runs: dict = {}
        say("ours, 1 worker")
        runs["ours, 1 worker"] = ours(seeds, work, 1)
        if two_workers:
            say("ours, 2 workers")
            runs["ours, 2 workers"] = ours(seeds, work, 2)
        say("wget")
        runs["wget --recursive --warc-file"] = wget(seeds, work)
        say("Scrapy")
        runs["Scrapy (no WARC)"] = scrapy(seeds, work, hosts)
        return runs
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
