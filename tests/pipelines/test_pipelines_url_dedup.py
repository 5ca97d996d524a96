"""URL dedup in the corpus job: a page crawled twice keeps its newest copy, on real pages of the
sample re-written into a WARC with chosen URLs and dates."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from corpus_helpers import BASE_URL
from fastwarc.warc import WarcRecord, WarcRecordType

from pipelines import corpus_job

pytestmark = pytest.mark.slow  # whole jobs

PAGE = "http://www.debian.org/doc/manuals/debian-reference/ch01.en.html"


def response(record_id: str, url: str, date: str, html: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Length: {len(html)}\r\n\r\n"
    record = WarcRecord()
    record.init_headers(WarcRecordType.response, record_id.removeprefix("<urn:").removesuffix(">").encode())
    record.headers["WARC-Date"] = date
    record.headers["WARC-Target-URI"] = url
    record.headers["Content-Type"] = "application/http; msgtype=response"
    record.set_bytes_content(head.encode() + html)
    buf = io.BytesIO()
    record.write(buf, checksum_data=True)
    return gzip.compress(buf.getvalue(), mtime=0)


def run(tmp_path: Path, *inputs: str, config: str = "") -> tuple[dict, list[dict], set[str]]:
    args = [a for i in inputs for a in ("--input", i)]
    if config:
        (tmp_path / "config.toml").write_text(config, "utf-8")
        args += ["--config", str(tmp_path / "config.toml")]
    args.append("--force")  # the same run name again, with another config
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = corpus_job.run([*args, "--output", str(tmp_path / "out"), "--name", "u", "--vocab-size", "1000"])
    assert rc == 0, out.getvalue()
    runs = tmp_path / "out" / "u"
    summary = json.loads((runs / "summary.json").read_text("utf-8"))
    rejected = [
        r for p in sorted((runs / "rejected").glob("*.parquet")) for r in pq.read_table(p).to_pylist()
    ]
    kept = {i for p in runs.glob("*.docs.parquet") for i in pq.read_table(p).column("id").to_pylist()}
    return summary, rejected, kept


def stage(summary: dict, name: str) -> tuple[int, int, dict]:
    (s,) = [s for s in summary["stages"] if s["stage"] == name]
    return s["in"], s["kept"], s["rejected_by_reason"]


def crawls(tmp_path: Path, pages) -> list[str]:
    console = pages["ch01.en.html#_console_basics"].html
    filesystem = pages["ch01.en.html#_unix_like_filesystem"].html
    midnight = pages["ch01.en.html#_midnight_commander_mc"].html
    # PAGE changed between two crawls (different text: near dedup cannot see it) and was crawled a
    # third time over https without a change. Its first text also lives on at a mirror, and its
    # second at a copy; a section of it is addressed by fragment.
    first = [
        response("<urn:uuid:crawl-1>", PAGE, "2026-10-01T00:00:00Z", console),
        response("<urn:uuid:mirror>", "http://mirror.example/ch01.html", "2026-10-01T00:00:00Z", console),
    ]
    second = [
        response("<urn:uuid:crawl-2>", PAGE, "2026-11-01T00:00:00Z", filesystem),
        response("<urn:uuid:crawl-3>", PAGE.replace("http:", "https:"), "2026-11-02T00:00:00Z", filesystem),
        response("<urn:uuid:copy>", "http://copy.example/fs.html", "2026-09-01T00:00:00Z", filesystem),
        response("<urn:uuid:section>", PAGE + "#_midnight_commander_mc", "2026-09-01T00:00:00Z", midnight),
    ]
    (tmp_path / "a.warc.gz").write_bytes(b"".join(first))
    (tmp_path / "b.warc.gz").write_bytes(b"".join(second))
    return [str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz")]


def test_a_page_crawled_twice_keeps_its_newest_copy_and_no_text_is_lost(tmp_path: Path, pages) -> None:
    summary, rejected, kept = run(tmp_path, *crawls(tmp_path, pages))
    assert stage(summary, "url_dedup") == (6, 4, {"url_duplicate": 2})
    assert stage(summary, "exact_dedup") == (4, 3, {"exact_duplicate": 1})
    by_reason = {r["id"]: (r["stage"], r["reason"], r["detail"]) for r in rejected}
    assert by_reason["<urn:uuid:crawl-1>"] == (
        "url_dedup",
        "url_duplicate",
        "duplicate of <urn:uuid:crawl-3>",
    )
    assert by_reason["<urn:uuid:crawl-2>"] == (
        "url_dedup",
        "url_duplicate",
        "duplicate of <urn:uuid:crawl-3>",
    )
    (exact,) = [i for i, r in by_reason.items() if r[1] == "exact_duplicate"]
    assert exact in {"<urn:uuid:crawl-3>", "<urn:uuid:copy>"}
    # Every text stays once: the first version at the mirror (exact dedup never saw crawl-1, so
    # it could not keep a copy URL dedup then dropped), the second at PAGE or its copy.
    assert kept == {"<urn:uuid:mirror>", "<urn:uuid:section>"} | (
        {"<urn:uuid:crawl-3>", "<urn:uuid:copy>"} - {exact}
    )


def test_with_exact_dedup_off_near_dedup_still_keeps_one_of_two_identical_texts(
    tmp_path: Path, pages
) -> None:
    summary, rejected, kept = run(tmp_path, *crawls(tmp_path, pages), config="[dedup]\nexact = false\n")
    assert stage(summary, "url_dedup") == (6, 4, {"url_duplicate": 2})
    assert stage(summary, "exact_dedup") == (4, 4, {})
    assert stage(summary, "near_dedup") == (4, 3, {"minhash_duplicate": 1})
    assert {"<urn:uuid:mirror>", "<urn:uuid:section>"} < kept and len(
        kept & {"<urn:uuid:crawl-3>", "<urn:uuid:copy>"}
    ) == 1


def test_jsonl_urls_are_left_alone_unless_asked(tmp_path: Path, page_text) -> None:
    # Two chunks of one page under the same URL, as many datasets store them.
    chunks = [page_text("ch01.de.html#_console_basics"), page_text("ch01.de.html#_unix_like_filesystem")]
    lines = [{"id": f"chunk-{i}", "url": BASE_URL + "ch01.de.html", "text": t} for i, t in enumerate(chunks)]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), "utf-8")
    summary, _, kept = run(tmp_path, str(tmp_path / "docs.jsonl"))
    assert stage(summary, "url_dedup") == (2, 2, {}) and kept == {"chunk-0", "chunk-1"}
    summary, rejected, kept = run(tmp_path, str(tmp_path / "docs.jsonl"), config='[dedup]\nurl = "all"\n')
    assert stage(summary, "url_dedup") == (2, 1, {"url_duplicate": 1}) and len(kept) == 1
    off, _, kept = run(tmp_path, str(tmp_path / "docs.jsonl"), config='[dedup]\nurl = "off"\n')
    assert stage(off, "url_dedup") == (2, 2, {}) and len(kept) == 2
