"""Loopback web sites for crawl tests, the crawl demo and benchmarks: real pages (the sample WARC's
Debian Reference chapters, served under /doc/), robots.txt variants and traps, each virtual host
on its own 127.0.0.x address, every request written to an access log."""

from __future__ import annotations

import gzip
import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from corpus.readers.warc import WarcReader
from corpus.records import RawDocument


@dataclass
class Hit:
    at: float
    """time.monotonic() when the request line arrived."""
    client: str
    path: str
    agent: str


SAMPLE_WARC = Path(__file__).resolve().parents[2] / "data" / "sample" / "debian-reference.warc.gz"

Handler = Callable[[BaseHTTPRequestHandler], None]


def sample_pages() -> dict[str, bytes]:
    """file name -> HTML of the first section record of each chapter file in the sample."""
    raw = SAMPLE_WARC.read_bytes()
    pages: dict[str, bytes] = {}
    for d in WarcReader(io.BytesIO(raw), str(SAMPLE_WARC)):
        if isinstance(d, RawDocument) and d.content_type == "text/html" and d.http_status == 200 and d.html:
            name = d.url.split("#")[0].rsplit("/", 1)[1]
            pages.setdefault(name, d.html)
    return pages


def send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "text/html; charset=utf-8",
         headers: dict[str, str] | None = None) -> None:  # fmt: skip
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


@dataclass
class Site:
    address: str
    routes: dict[str, Handler] = field(default_factory=dict)
    prefixes: dict[str, Handler] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        assert self.server is not None
        return f"{self.address}:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def start(self) -> Site:
        site = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                site.hits.append(Hit(time.monotonic(), self.client_address[0], self.path,
                                     self.headers.get("User-Agent", "")))  # fmt: skip
                path = self.path.split("?")[0]
                handler = site.routes.get(self.path) or site.routes.get(path)
                if handler is None:
                    handler = next((f for p, f in site.prefixes.items() if path.startswith(p)), None)
                if handler is None:
                    send(self, 404, b"<html><body>not found</body></html>")
                else:
                    handler(self)

        self.server = ThreadingHTTPServer((self.address, 0), H)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def static(
    body: bytes, status: int = 200, ctype: str = "text/html; charset=utf-8", **headers: str
) -> Handler:
    return lambda h: send(h, status, body, ctype, headers)


def docs_site(address: str, pages: dict[str, bytes], robots: bytes | None = None) -> Site:
    """The sample's chapters under /doc/, an index linking to them, and a robots.txt."""
    site = Site(address)
    links = "".join(f'<li><a href="/doc/{n}">{n}</a></li>' for n in sorted(pages))
    site.routes["/"] = static(f"<html><body><h1>Debian Reference</h1><ul>{links}</ul></body></html>".encode())
    for name, html in pages.items():
        site.routes[f"/doc/{name}"] = static(html)
    if robots is not None:
        site.routes["/robots.txt"] = static(robots, ctype="text/plain")
    return site


def gzip_bomb(size: int) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as g:
        chunk = b"\0" * (1 << 20)
        for _ in range(size >> 20):
            g.write(chunk)
    return out.getvalue()
