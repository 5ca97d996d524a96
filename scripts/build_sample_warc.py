"""Build the bundled sample WARC from Debian Reference HTML installed by Debian's packages.

Run ``apt-get install debian-reference-{en,de,fr,es,it,ja}`` first. Each chapter is split into
its top-level sections, one page per section (the way a chunked DocBook site serves them), so the
sample holds a few hundred real pages in six languages. The script also plants what a real crawl
contains: the same page under two URLs, a re-crawl whose footer changed, a redirect, a stylesheet
and an image. Output is deterministic (fixed dates, record ids derived from URLs, gzip mtime 0).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import uuid
from pathlib import Path

from fastwarc.warc import WarcRecord, WarcRecordType
from resiliparse.parse.html import HTMLTree

SOURCE_DIR = Path("/usr/share/debian-reference")
BASE_URL = "https://www.debian.org/doc/manuals/debian-reference/"
LANGUAGES = ("en", "de", "fr", "es", "it", "ja")
CRAWL_DATE = "2026-11-01T00:00:00Z"
HTTP_DATE = "Sun, 01 Nov 2026 00:00:00 GMT"


def record_id(url: str, kind: str) -> bytes:
    return f"uuid:{uuid.uuid5(uuid.NAMESPACE_URL, kind + ':' + url)}".encode()


def http_response(body: bytes, content_type: str, status: str = "200 OK", extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nDate: {HTTP_DATE}\r\nServer: Apache\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode("ascii") + body


def warc_record(url: str, payload: bytes, kind: str = "response") -> bytes:
    record = WarcRecord()
    record.init_headers(WarcRecordType.response, record_id(url, kind))
    record.headers["WARC-Date"] = CRAWL_DATE
    record.headers["WARC-Target-URI"] = url
    record.headers["Content-Type"] = "application/http; msgtype=response"
    record.set_bytes_content(payload)
    buf = io.BytesIO()
    record.write(buf, checksum_data=True)
    return gzip.compress(buf.getvalue(), compresslevel=9, mtime=0)


def section_pages(path: Path) -> list[tuple[str, str]]:
    """Split one chapter into (anchor, html page) per top-level section."""
    html = path.read_text("utf-8")
    tree = HTMLTree.parse(html)
    head = tree.head.html if tree.head else ""
    navheader = tree.body.query_selector("div.navheader")
    navfooter = tree.body.query_selector("div.navfooter")
    pages = []
    for section in tree.body.query_selector_all("div.chapter > div.section"):
        anchor = section.query_selector("h2 a")
        name = anchor.getattr("id") if anchor is not None else f"s{len(pages)}"
        title_el = section.query_selector("h2")
        title = title_el.text.strip() if title_el is not None else name
        page_head = head.replace("<title>", f"<title>{title} — ", 1)
        page = (
            '<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml">\n'
            f"{page_head}\n<body>\n{navheader.html if navheader else ''}\n"
            f"{section.html}\n{navfooter.html if navfooter else ''}\n</body>\n</html>\n"
        )
        pages.append((name, page))
    return pages


def build(out: Path, languages: tuple[str, ...], max_bytes: int) -> None:
    records: list[bytes] = []
    warcinfo = WarcRecord()
    warcinfo.init_headers(WarcRecordType.warcinfo, record_id(BASE_URL, "warcinfo"))
    warcinfo.headers["WARC-Date"] = CRAWL_DATE
    warcinfo.headers["Content-Type"] = "application/warc-fields"
    warcinfo.set_bytes_content(
        b"software: corpus-toolkit scripts/build_sample_warc.py\r\n"
        b"description: Debian Reference (GPL-2+), split by section\r\n"
    )
    buf = io.BytesIO()
    warcinfo.write(buf, checksum_data=True)
    records.append(gzip.compress(buf.getvalue(), compresslevel=9, mtime=0))

    first_en_page: tuple[str, str] | None = None
    for chapter in sorted(SOURCE_DIR.glob("ch*.en.html")):
        stem = chapter.name.split(".")[0]
        for lang in languages:
            src = SOURCE_DIR / f"{stem}.{lang}.html"
            if not src.exists():
                continue
            for anchor, page in section_pages(src):
                url = f"{BASE_URL}{stem}.{lang}.html#{anchor}"
                body = page.encode("utf-8")
                records.append(warc_record(url, http_response(body, "text/html; charset=UTF-8")))
                if lang == "en" and first_en_page is None:
                    first_en_page = (f"{BASE_URL}{stem}.html#{anchor}", page)

    # What a real crawl holds besides pages: the same page served under a second URL (content
    # negotiation), a re-crawl whose footer changed, a redirect, a stylesheet and an image.
    assert first_en_page is not None
    dup_url, dup_page = first_en_page
    records.append(warc_record(dup_url, http_response(dup_page.encode(), "text/html; charset=UTF-8")))
    changed = dup_page.replace(
        "</body>", '<div class="footer"><p>Last change: 2026-10-31</p></div>\n</body>', 1
    )
    records.append(
        warc_record(dup_url + "?recrawl=1", http_response(changed.encode(), "text/html; charset=UTF-8"))
    )
    records.append(
        warc_record(
            BASE_URL + "index.html",
            http_response(
                b"",
                "text/html; charset=iso-8859-1",
                "301 Moved Permanently",
                f"Location: {BASE_URL}index.en.html\r\n",
            ),
        )
    )
    css = (SOURCE_DIR / "debian-reference.css").read_bytes()
    records.append(warc_record(BASE_URL + "debian-reference.css", http_response(css, "text/css")))
    png = sorted((SOURCE_DIR / "images").glob("*.png"))[0]
    records.append(warc_record(BASE_URL + "images/" + png.name, http_response(png.read_bytes(), "image/png")))

    data = b"".join(records)
    if len(data) > max_bytes:
        raise SystemExit(f"{out}: {len(data)} bytes exceeds the limit of {max_bytes}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    print(f"wrote {out}: {len(records)} records, {len(data)} bytes, sha256 {digest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/sample/debian-reference.warc.gz"))
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--max-bytes", type=int, default=5 * 1024 * 1024)
    args = parser.parse_args()
    build(args.out, tuple(args.languages.split(",")), args.max_bytes)


if __name__ == "__main__":
    main()
