"""The crawl job: rounds of generate -> fetch (Beam, a fetch group of whole hosts per task) ->
update, as Nutch runs a crawl on Hadoop.

    python -m pipelines.crawl_job --seeds seeds.txt --output crawl --name docs [--rounds N]
        [--max-pages N] [--allow-network 127.0.0.0/8] [--config crawl.toml]

Writes ``<output>/<name>/``: ``warc/`` (pages: request, response or revisit, metadata records),
``crawldiagnostics/`` (redirects and HTTP errors), ``robotstxt/``, ``crawldb/round-NNNNN.parquet``
(every known URL after each round), ``crawl_summary.json`` and ``manifest.json`` (the WARC files
and their record counts, written last). Killed at any point and run again, it goes on from the
last committed fetch group: a group's WARC files get their final names and its outcomes are
written only when it finished, and a rerun first removes whatever an unfinished group left.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, astuple, replace
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq

from corpus.config import apply_overrides
from corpus.crawl import frontier, pages
from corpus.crawl.config import CrawlConfig
from corpus.crawl.digests import DigestIndex, write_index
from corpus.crawl.fetch import GroupFetcher, Outcome, Target
from corpus.crawl.network import host_addresses
from corpus.crawl.warc import WarcSet
from corpus.errors import InputError, error_line, shown_as_line
from corpus.manifest import write_json_atomic
from corpus.progress import Progress
from pipelines.engines import make_pipeline

WARC_SETS = ("warc", "crawldiagnostics", "robotstxt")
_FETCHER_SETS = {"pages": "warc", "crawldiagnostics": "crawldiagnostics", "robotstxt": "robotstxt"}


def parse_args(
    argv: Sequence[str] | None, prog: str = "python -m pipelines.crawl_job"
) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
        epilog="Flags it does not know go to Beam (e.g. --runner=...).",
    )
    p.add_argument("--seeds", required=True, help="a file of seed URLs, one per line")
    p.add_argument("--output", default="crawl", help="output root")
    p.add_argument("--name", required=True, help="crawl name (folder under --output)")
    p.add_argument("--config", help="TOML file with a [crawl] table (fields: corpus/crawl/config.py)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="crawl.KEY=VALUE",
        help="override one [crawl] field, e.g. --set crawl.max_depth=3 (repeatable)",
    )
    p.add_argument("--rounds", type=int, default=10, help="rounds at most (default 10)")
    p.add_argument("--max-pages", type=int, help="pages fetched in the whole crawl at most")
    p.add_argument("--min-delay", type=float, help="seconds between two requests to one host at least")
    p.add_argument(
        "--allow-network", action="append", default=[], help="a network besides global addresses (repeatable)"
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1: fetching is I/O)")
    return p.parse_known_args(argv)


def load_config(args: argparse.Namespace) -> CrawlConfig:
    try:
        config = CrawlConfig.from_toml(args.config) if args.config else CrawlConfig()
        if args.set:
            data = apply_overrides({"crawl": asdict(config)}, args.set)
            unknown = set(data) - {"crawl"}
            if unknown:
                raise InputError(f"--set {sorted(unknown)[0]}...: the crawl job's config has only [crawl]")
            config = CrawlConfig.from_dict(data["crawl"])
        changes: dict = {}
        if args.max_pages is not None:
            changes["max_pages"] = args.max_pages
        if args.min_delay is not None:
            changes["min_delay"] = args.min_delay
        if args.allow_network:
            changes["allow_networks"] = (*config.allow_networks, *args.allow_network)
        return replace(config, **changes).validate()
    except InputError:
        raise
    except ValueError as e:
        # corpus/crawl/config.py validates with plain ValueErrors that name the field: the
        # user's config, so bad input (here, where only config validation runs).
        raise InputError(str(e)) from e


def _group_prefix(name: str, round_: int, group: int) -> str:
    return f"{name}-r{round_:05d}-g{group:05d}"


def _outcome_path(out: Path, round_: int, group: int) -> Path:
    return out / "rounds" / f"{round_:05d}" / f"group-{group:05d}.json"


class FetchGroupFn(beam.DoFn):
    """One fetch group of one round (the element: its number): its hosts fetched into its own
    WARC files, then its outcomes written (the group's commit). A group already committed is not
    fetched again. The round's plan is read from its file, so the pipeline carries only numbers."""

    def __init__(self, out: str, name: str, config: CrawlConfig, hosts: list[str], page_workers: int) -> None:
        self.out = out
        self.name = name
        self.config = config
        self.hosts = hosts
        self.page_workers = page_workers

    def process(self, element):
        round_, group = element
        out = Path(self.out)
        done = _outcome_path(out, round_, group)
        if done.exists():
            yield json.loads(done.read_text("utf-8"))
            return
        queues, hosts, limits, known = json.loads(_group_plan_path(out, round_, group).read_text("utf-8"))
        prefix = _group_prefix(self.name, round_, group)
        for folder in WARC_SETS:  # whatever an unfinished attempt of this group left
            for stale in (out / folder).glob(prefix + "-*"):
                stale.unlink()
        info = {"operator": self.config.contact, "http-header-user-agent": self.config.header(),
                "robots": "obey", "isPartOf": self.name}  # fmt: skip
        warcs = {
            key: WarcSet(out / folder, prefix, self.config.warc_max_bytes, info)
            for key, folder in _FETCHER_SETS.items()
        }
        targets = {host: [Target(*t) for t in q] for host, q in queues.items()}
        digests = DigestIndex(_digests_path(out, round_))
        fetcher = GroupFetcher(
            self.config, warcs, set(self.hosts), seen_digests=digests, hosts=hosts,
            page_pool=pages.pool(self.page_workers), limits=limits, known=known,
        )  # fmt: skip
        try:
            outcomes = asyncio.run(fetcher.run(targets))
        except BaseException:
            for w in warcs.values():
                w.abandon()
            raise
        files = {key: [asdict(f) for f in w.close()] for key, w in warcs.items()}
        result = {
            "round": round_,
            "group": group,
            "outcomes": [vars(o) for o in outcomes],  # flat fields: no deep copy (asdict's)
            "files": files,
            "hosts": fetcher.hosts,
        }
        write_json_atomic(done, result, compact=True)
        yield result


def _plan_path(out: Path, round_: int) -> Path:
    return out / "rounds" / f"{round_:05d}" / "plan.json"


def _group_plan_path(out: Path, round_: int, group: int) -> Path:
    return out / "rounds" / f"{round_:05d}" / f"plan-{group:05d}.json"


def _digests_path(out: Path, round_: int) -> Path:
    return out / "rounds" / f"{round_:05d}" / "digests.arrow"


def make_plan(db: dict[str, frontier.Entry], config: CrawlConfig, groups: int, host_states: dict) -> dict:
    """A round's plan: per group, the due URLs of its hosts (url, depth, referrer, retries,
    redirects), those hosts' states, how many URLs each may fetch in the round and the URLs the
    database knows on them (links to follow within the round: only new ones); and the payload
    digests captured so far (for revisits). Hosts are resolved here, so that the hosts of one
    address go to one group (the per-address limit holds within a group)."""
    due = {e.host for e in db.values() if e.status == frontier.DUE}
    learnt = {h: s["address"] for h, s in host_states.items() if s.get("address")}
    groups_of = frontier.generate(db, config, groups, host_addresses(due, config.networks(), learnt))
    limits = frontier.round_limits(db, config, groups_of)
    follow = config.follow_links_in_round
    known = frontier.known_urls(db, limits) if follow else {}
    return {
        "digests": [(e.digest, e.url, e.date) for e in db.values() if e.digest and e.reason == "fetched"],
        "groups": [
            [{h: [astuple(t) for t in q] for h, q in queues.items()},
             {h: host_states[h] for h in queues if h in host_states},
             {h: limits[h] for h in queues},
             {h: known[h] for h in queues if h in known}]
            for queues in groups_of
        ],
    }  # fmt: skip


def write_plan(out: Path, round_: int, plan: dict) -> int:
    """Each group's part in its own file (a group reads only its own) and the digests as a
    memory-mapped index, then ``plan.json``, which commits the plan: a rerun finds it and fetches
    the same groups. The number of groups."""
    for group, part in enumerate(plan["groups"]):
        write_json_atomic(_group_plan_path(out, round_, group), part, compact=True)
    write_index(_digests_path(out, round_), plan["digests"])
    write_json_atomic(_plan_path(out, round_), {"groups": len(plan["groups"])}, compact=True)
    return len(plan["groups"])


def run_round(
    out: Path, name: str, round_: int, groups: int, config: CrawlConfig, hosts: set[str], workers: int,
    beam_args: list[str],
) -> list[dict]:  # fmt: skip
    engine = "multiprocess" if workers > 1 and groups > 1 else "inprocess"
    page_workers = (
        config.page_workers
        if config.page_workers >= 0
        else pages.auto_workers(workers if engine == "multiprocess" else 1)
    )
    pipeline, context = make_pipeline(beam_args, engine, workers)
    results_path = out / "rounds" / f"{round_:05d}"
    one_process = engine == "inprocess" and not any(a.startswith("--runner") for a in beam_args)
    with context, pipeline as p:
        numbers = p | "Groups" >> beam.Create([(round_, g) for g in range(groups)])
        if not one_process:  # each group to any worker
            numbers = numbers | "Spread" >> beam.Reshuffle()
        _ = numbers | "Fetch" >> beam.ParDo(FetchGroupFn(str(out), name, config, sorted(hosts), page_workers))
    return [json.loads(p.read_text("utf-8")) for p in sorted(results_path.glob("group-*.json"))]


def latest_db(out: Path) -> tuple[int, dict[str, frontier.Entry], dict[str, dict]] | None:
    """The last committed round's crawl database and host states (robots.txt, next request)."""
    rounds = sorted((out / "crawldb").glob("round-*.parquet"))
    if not rounds:
        return None
    last = rounds[-1]
    n = int(last.stem.split("-")[1])
    hosts_path = out / "crawldb" / f"hosts-{n:05d}.json"
    hosts = json.loads(hosts_path.read_text("utf-8")) if hosts_path.exists() else {}
    return n, frontier.from_table(pq.read_table(last)), hosts


def write_db(out: Path, round_: int, db: dict[str, frontier.Entry], hosts: dict[str, dict]) -> None:
    """Host states, then the database: the database file commits the round."""
    write_json_atomic(out / "crawldb" / f"hosts-{round_:05d}.json", hosts, compact=True)
    path = out / "crawldb" / f"round-{round_:05d}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(frontier.to_table(db.values()), tmp, compression="zstd")
    os.replace(tmp, path)


def summarize(out: Path, db: dict[str, frontier.Entry], rounds: int, counts: dict) -> tuple[dict, dict]:
    by_status: dict[str, int] = {}
    by_reason: dict[str, dict[str, int]] = {}
    http: dict[str, int] = {}
    for e in db.values():
        by_status[e.status] = by_status.get(e.status, 0) + 1
        if e.status != frontier.DUE and e.reason:
            into = by_reason.setdefault(e.status, {})
            into[e.reason] = into.get(e.reason, 0) + 1
        if e.http_status is not None:
            http[str(e.http_status)] = http.get(str(e.http_status), 0) + 1
    files: dict[str, list[dict]] = {folder: [] for folder in WARC_SETS}
    for result_file in sorted((out / "rounds").glob("*/group-*.json")):
        result = json.loads(result_file.read_text("utf-8"))
        for key, folder in _FETCHER_SETS.items():
            for f in result["files"][key]:
                files[folder].append(
                    {
                        "path": str(Path(f["path"]).relative_to(out)),
                        "bytes": f["bytes"],
                        "records": f["records"],
                    }
                )
    records: dict[str, dict[str, int]] = {}
    for folder, listed in files.items():
        into = records.setdefault(folder, {})
        for f in listed:
            for kind, n in f["records"].items():
                into[kind] = into.get(kind, 0) + n
    summary = {
        "rounds": rounds,
        "urls": len(db),
        "fetched": sum(1 for e in db.values() if e.status == frontier.DONE and e.digest),
        "by_status": dict(sorted(by_status.items())),
        "by_http_status": dict(sorted(http.items())),
        "by_reason": {k: dict(sorted(v.items())) for k, v in sorted(by_reason.items())},
        "links_left_out": dict(sorted(counts.items())),
        "records": records,
    }
    manifest = {"files": files, "records": records}
    return summary, manifest


def _seed_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: seeds are not UTF-8 text ({e.reason} at byte {e.start})") from None


def run(argv: Sequence[str] | None = None, prog: str = "python -m pipelines.crawl_job") -> int:
    args, beam_args = parse_args(argv, prog)
    try:
        config = load_config(args)
        seed_lines = _seed_lines(args.seeds)
    except Exception as e:
        # Bad input (corpus/errors.py) is one line and exit 2; anything else is a bug and raises.
        if not shown_as_line(e):
            raise
        print(error_line(e), file=sys.stderr)
        return 2
    out = Path(args.output) / args.name
    if (out / "manifest.json").exists():
        print(f"{out}: finished crawl (remove it to crawl again)")
        return 0
    for folder in WARC_SETS:
        for tmp in (out / folder).glob("*.tmp"):
            tmp.unlink()
    started = time.perf_counter()
    state = latest_db(out)
    counts: dict[str, int] = {}
    counts_path = out / "crawldb" / "left_out.json"
    if state is None:
        db, bad = frontier.seed_entries(seed_lines, config)
        if not db:
            print(f"error: {args.seeds}: no valid seed URL", file=sys.stderr)
            return 2
        counts.update(bad)
        write_json_atomic(counts_path, counts)
        host_states: dict[str, dict] = {}
        write_db(out, 0, db, host_states)
        round_ = 0
    else:
        round_, db, host_states = state
        if counts_path.exists():
            counts = json.loads(counts_path.read_text("utf-8"))
    hosts = frontier.seed_hosts(db)
    groups = config.groups or (1 if args.workers <= 1 else 2 * args.workers)
    progress = Progress(f"crawl {out}", out)
    pages = 0
    while round_ < args.rounds:
        plan_path = _plan_path(out, round_)
        if plan_path.exists():  # a rerun of a round that did not finish: the same groups
            committed = json.loads(plan_path.read_text("utf-8"))
            n_groups = committed["groups"]
            if isinstance(n_groups, list):  # an earlier version's plan: all groups in one file
                firsts = [(d, url, date) for d, (url, date) in committed["digests"].items()]
                n_groups = write_plan(out, round_, {"groups": n_groups, "digests": firsts})
        else:
            n_groups = write_plan(out, round_, make_plan(db, config, groups, host_states))
        if not n_groups:
            break
        progress.stage(f"round {round_ + 1} (at most {args.rounds})")
        progress.update(0, pages=pages, urls=len(db), groups=n_groups)
        results = run_round(out, args.name, round_, n_groups, config, hosts, args.workers, beam_args)
        outcomes = [Outcome(**o) for r in results for o in r["outcomes"]]
        for r in results:
            host_states.update(r["hosts"])
        db, left_out = frontier.update(db, outcomes, round_, config, hosts)
        for k, n in left_out.items():
            counts[k] = counts.get(k, 0) + n
        write_json_atomic(counts_path, counts)
        round_ += 1
        write_db(out, round_, db, host_states)
        fetched = sum(1 for o in outcomes if o.kind in ("fetched", "revisit"))
        pages += fetched
        progress.clear()
        print(f"round {round_}: {fetched} pages, {len(outcomes)} requests, {len(db)} URLs known")
    summary, manifest = summarize(out, db, round_, counts)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    write_json_atomic(out / "crawl_summary.json", summary)
    write_json_atomic(out / "manifest.json", manifest)  # last: the crawl is complete
    progress.finish(pages=summary["fetched"], urls=summary["urls"])
    print(f"crawl finished: {summary['fetched']} pages, {summary['urls']} URLs; {out}/warc/*.warc.gz")
    return 0


if __name__ == "__main__":
    sys.exit(run())
