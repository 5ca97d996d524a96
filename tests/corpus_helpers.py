"""Shared helpers: real pages from the bundled sample WARC, and an independent view of its bytes.

The sample (data/sample/README.md) is 522 gzip members: one warcinfo record, then 521 HTTP
responses: 516 Debian Reference section pages in six languages (86 each), the first English page
again under ``ch01.html`` and as a re-crawl with a changed footer, a 301 redirect, a stylesheet and
a PNG image. Tests count and locate records with Python's zlib/gzip, not with the reader under test.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from schemas import SCHEMA_DIR, json_schema_path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_WARC = REPO / "data" / "sample" / "debian-reference.warc.gz"
BASE_URL = "https://www.debian.org/doc/manuals/debian-reference/"
STDLIB = Path(sys.base_prefix, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}")

# filter_step's counts on the three copies of one page, the mixed-language ch10.ja page and the
# German ch01 page (dedup comes after the filters, so the copies all pass): the same whether
# called directly (test_corpus_steps) or through the Beam stage (test_pipelines_stages).
FILTER_COUNTS_OF_COPIES = {
    "language": {"in": 5, "kept": 4, "rejected": {"lang_below_threshold": 1}},
    "safety": {"in": 4, "kept": 4, "rejected": {}},
    "quality": {"in": 4, "kept": 4, "rejected": {}},
    "pii": {"in": 4, "kept": 4, "rejected": {}},
}


@dataclass(frozen=True)
class Member:
    """One gzip member of a WARC file: where it starts, how long it is, what it holds."""

    offset: int
    length: int
    data: bytes

    @property
    def warc_type(self) -> str:
        return re.search(rb"\r\nWARC-Type: (\S+)\r\n", self.data).group(1).decode()

    @property
    def target_uri(self) -> str | None:
        m = re.search(rb"\r\nWARC-Target-URI: (\S+)\r\n", self.data)
        return m.group(1).decode() if m else None

    @property
    def record_id(self) -> str:
        return re.search(rb"\r\nWARC-Record-ID: (\S+)\r\n", self.data).group(1).decode()


def gzip_members(data: bytes) -> list[Member]:
    """Split concatenated gzip members with zlib alone (independent of FastWARC)."""
    members: list[Member] = []
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj(wbits=31)
        out = d.decompress(data[pos:]) + d.flush()
        assert d.eof, f"member at byte {pos} does not end"
        used = len(data) - pos - len(d.unused_data)
        members.append(Member(pos, used, out))
        pos += used
    return members


def paragraph(text: str, prefix: str) -> str:
    """The one blank-line-separated paragraph of ``text`` that starts with ``prefix``."""
    found = [p for p in text.split("\n\n") if p.startswith(prefix)]
    assert len(found) == 1, (prefix, len(found))
    return found[0]


def load_schema(name: str) -> dict:
    return json.loads(json_schema_path(name).read_text("utf-8"))


def schema_registry():
    """The three JSON Schemas, each under its ``$id`` and under the URI that a ``$ref`` by file
    name (``pipeline_config.schema.json``) from a sibling schema resolves to: the files live side
    by side in schemas/. (Under ``$id`` alone the manifest's ``$ref`` does not resolve; see
    test_schema_ref_resolves_by_id in tests/pipelines/test_pipelines_corpus_job.py.)"""
    from referencing import Registry, Resource

    schemas = {p.name: json.loads(p.read_text("utf-8")) for p in sorted(SCHEMA_DIR.glob("*.schema.json"))}
    pairs = []
    for file_name, schema in schemas.items():
        resource = Resource.from_contents(schema)
        uris = {schema["$id"]} | {urljoin(other["$id"], file_name) for other in schemas.values()}
        pairs.extend((uri, resource) for uri in sorted(uris))
    return Registry().with_resources(pairs)


def warc_response(body: bytes, headers: str = "Content-Type: text/html; charset=utf-8\r\n") -> bytes:
    """One gzipped WARC response record for http://127.0.0.1/page serving ``body`` with the HTTP
    ``headers`` given (each line ending in CRLF)."""
    http = f"HTTP/1.1 200 OK\r\n{headers}\r\n".encode() + body
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:0000>\r\n"
        "WARC-Target-URI: http://127.0.0.1/page\r\nWARC-Date: 2026-12-02T00:00:00Z\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + http + b"\r\n\r\n")


def run_job(*args: str) -> None:
    """Run the corpus job in this process (output captured), asserting it succeeds."""
    import contextlib
    import io

    from pipelines import corpus_job

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = corpus_job.run(list(args))
    assert rc == 0, out.getvalue()


def rows(run: Path, folder: str) -> list[dict]:
    """Every row of a run's Parquet folder (docs/, rejected/, clusters/, ...), file by file."""
    import pyarrow.parquet as pq

    return [r for p in sorted((run / folder).glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
