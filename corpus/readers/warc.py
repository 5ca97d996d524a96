"""Read WARC files (gzip per record or plain) with FastWARC.

Each ``response`` or ``resource`` record is a document that enters the pipeline, and so is each
``conversion`` record (the plain text of a WET file, Common Crawl's extracted text, which skips
HTML extraction); ``request``, ``metadata``, ``warcinfo`` and other records are not documents and
are only counted. A record that
is truncated, fails its block digest, or sits in a corrupt gzip member becomes a Rejection naming
the file and byte offset; the reader then resynchronises at the next gzip member and goes on.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import BinaryIO

from fastwarc.warc import ArchiveIterator, WarcRecordType

from corpus.records import RawDocument, Rejection

STAGE = "read"
_GZIP_MAGIC = b"\x1f\x8b\x08"
DOCUMENT_TYPES = ("response", "resource", "conversion")


def _record_type_name(record) -> str:
    return str(record.record_type).rsplit(".", 1)[-1].lower()


def _digest_ok(header_value: str | None, block: bytes) -> bool:
    if not header_value or ":" not in header_value:
        return True
    algorithm, expected = header_value.split(":", 1)
    if algorithm.lower() != "sha1":
        return True  # unknown algorithms are not ours to judge
    actual = base64.b32encode(hashlib.sha1(block).digest()).decode()
    return actual == expected.strip().upper()


DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024


class RecordTooLarge(ValueError):
    """A record, or a body once decompressed, is over the configured cap (a gzip bomb, or a
    capture no text extractor should be given)."""


def parse_http_response(
    block: bytes, max_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> tuple[int, dict[str, str], bytes]:
    """Split an HTTP response block into (status, lower-cased headers, body); a compressed body
    is inflated up to ``max_bytes`` (RecordTooLarge beyond)."""
    head, sep, body = block.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = block.partition(b"\n\n")
    if not sep:
        raise ValueError("no end of HTTP headers")
    lines = head.decode("iso-8859-1").splitlines()
    status_line = lines[0].split(" ", 2) if lines else []
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/"):
        raise ValueError(f"bad HTTP status line {lines[0][:80] if lines else ''!r}")
    status = int(status_line[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    encoding = headers.get("content-encoding", "identity")
    body, over = inflate(body, encoding, max_bytes)
    if over:
        raise RecordTooLarge(f"Content-Encoding {encoding.strip().lower()}: inflates past {max_bytes} bytes")
    return status, headers, body


def inflate(body: bytes, encoding: str, max_bytes: int, raw_deflate: bool = False) -> tuple[bytes, bool]:
    """An HTTP body without its Content-Encoding (gzip or deflate), at most ``max_bytes`` of it
    (a gzip bomb stops there), and whether it would have inflated past them. ``raw_deflate``
    also accepts deflate data without its zlib header, as some servers send it. ValueError for
    corrupt data or another encoding."""
    encoding = encoding.strip().lower()
    if encoding in ("identity", ""):
        return body, False
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ValueError(f"unsupported Content-Encoding {encoding!r}")
    try:
        out = zlib.decompressobj(47 if "gzip" in encoding else 15).decompress(body, max_bytes + 1)
    except zlib.error as e:
        if not (raw_deflate and encoding == "deflate"):
            raise ValueError(f"Content-Encoding {encoding}: {e}") from e
        try:
            out = zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, max_bytes + 1)
        except zlib.error as e2:
            raise ValueError(f"Content-Encoding {encoding}: {e2}") from e2
    return out[:max_bytes], len(out) > max_bytes


def _dechunk(body: bytes) -> bytes:
    out, pos = bytearray(), 0
    while pos < len(body):
        end = body.find(b"\r\n", pos)
        if end < 0:
            break
        size = int(body[pos:end].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += body[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2
    return bytes(out)


def split_content_type(value: str | None) -> tuple[str | None, str | None]:
    """``text/html; charset=UTF-8`` -> (``text/html``, ``utf-8``)."""
    if not value:
        return None, None
    parts = [p.strip() for p in value.split(";")]
    mime = parts[0].lower() or None
    charset = None
    for p in parts[1:]:
        key, _, val = p.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'").lower() or None
    return mime, charset


class WarcReader:
    """Iterate one WARC file; ``counts`` afterwards holds record types seen and skipped."""

    def __init__(
        self, stream: BinaryIO, source: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    ) -> None:
        self.stream = stream
        self.source = source
        self.max_record_bytes = max_record_bytes
        self.counts: Counter[str] = Counter()

    def __iter__(self) -> Iterator[RawDocument | Rejection]:
        self.stream.seek(0)
        self.gzipped = self.stream.read(3) == _GZIP_MAGIC
        start: int | None = 0
        while start is not None:
            start = yield from self._read_from(start)

    def _reject_at(self, pos: int, reason: str, detail: str) -> Rejection:
        return Rejection(f"{self.source}@{pos}", None, self.source, STAGE, reason, f"{self.source}: {detail}")

    def _read_from(self, start: int) -> Iterator[RawDocument | Rejection]:
        """Read records from byte ``start``; return where to resume after damage, or None."""
        self.stream.seek(start)
        iterator = ArchiveIterator(self.stream, record_types=WarcRecordType.any_type, parse_http=False)
        last_pos: int | None = None
        try:
            for record in iterator:
                last_pos = record.stream_pos  # absolute, also after a seek
                item = self._convert(record, last_pos)
                if item is not None:  # request, metadata, warcinfo: counted, not documents
                    yield item
        except OSError as e:  # FastWARC raises OSError on a corrupt gzip member
            # The damaged member is the one after the last good record, or the first one read.
            bad_at = start if last_pos is None else self._next_member(last_pos + 1)
            if bad_at is None:
                bad_at = last_pos if last_pos is not None else start
                yield self._reject_at(
                    bad_at, "warc_corrupt_record", f"unreadable data after byte {bad_at}: {e}"
                )
                return None
            yield self._reject_at(
                bad_at, "warc_corrupt_record", f"unreadable gzip member at byte {bad_at}: {e}"
            )
            return self._next_member(bad_at + 1)
        if not self.gzipped:
            return None
        # FastWARC ends quietly where a member is cut short: any later member means data was lost.
        left = self._next_member((start if last_pos is None else last_pos) + 1)
        if left is None:
            return None
        yield self._reject_at(left, "warc_truncated_record", f"unreadable record at byte {left}")
        return self._next_member(left + 1)

    def _next_member(self, pos: int) -> int | None:
        """Byte offset of the next gzip member holding a WARC record at or after ``pos``."""
        while True:
            candidate = self._next_magic(pos)
            if candidate is None or self._starts_record(candidate):
                return candidate
            pos = candidate + 1  # the magic bytes occurred by chance inside compressed data

    def _starts_record(self, pos: int) -> bool:
        self.stream.seek(pos)
        try:
            head = zlib.decompressobj(31).decompress(self.stream.read(1 << 16), 16)
        except zlib.error:
            return False
        return head.startswith(b"WARC/")

    def _next_magic(self, pos: int) -> int | None:
        self.stream.seek(pos)
        carry = b""
        offset = pos
        while chunk := self.stream.read(1 << 20):
            data = carry + chunk
            i = data.find(_GZIP_MAGIC)
            if i >= 0:
                return offset - len(carry) + i
            carry = data[-2:]
            offset += len(chunk)
        return None

    def _convert(self, record, offset: int) -> RawDocument | Rejection | None:
        kind = _record_type_name(record)
        self.counts[f"records_{kind}"] += 1
        record_id = record.record_id or f"{self.source}@{offset}"
        url = record.headers.get("WARC-Target-URI")
        if kind not in DOCUMENT_TYPES:
            return None  # its block is skipped unread
        if record.content_length > self.max_record_bytes:
            # Not read into memory: the iterator skips the block (a gzip bomb inflates only
            # through a fixed buffer).
            return Rejection(
                record_id,
                url,
                self.source,
                STAGE,
                "record_too_large",
                f"{self.source} at byte {offset}: a block of {record.content_length} bytes is over "
                f"input.max_record_bytes ({self.max_record_bytes})",
            )
        block = record.reader.read()
        reject = None
        if len(block) != record.content_length:
            reject = ("warc_truncated_record", f"block has {len(block)} of {record.content_length} bytes")
        elif not _digest_ok(record.headers.get("WARC-Block-Digest"), block):
            reject = ("warc_digest_mismatch", "WARC-Block-Digest does not match the block")
        if reject:
            return Rejection(
                id=record_id,
                url=url,
                source=self.source,
                stage=STAGE,
                reason=reject[0],
                detail=f"{self.source} at byte {offset}: {reject[1]}",
            )
        date = record.headers.get("WARC-Date")
        if kind == "conversion":
            # WET text is UTF-8; a bad byte becomes U+FFFD, which extraction's
            # max_replacement_ratio then judges like any other mojibake.
            return RawDocument(record_id, url, self.source, date, text=block.decode("utf-8", "replace"))
        if kind == "resource":
            mime, charset = split_content_type(record.headers.get("Content-Type"))
            return RawDocument(
                record_id,
                url,
                self.source,
                date,
                html=block,
                content_type=mime,
                charset=charset,
                http_status=200,
            )
        try:
            status, headers, body = parse_http_response(block, self.max_record_bytes)
        except RecordTooLarge as e:
            return Rejection(
                record_id, url, self.source, STAGE, "record_too_large", f"{self.source} at byte {offset}: {e}"
            )
        except ValueError as e:
            return Rejection(
                record_id, url, self.source, STAGE, "http_unparseable", f"{self.source} at byte {offset}: {e}"
            )
        mime, charset = split_content_type(headers.get("content-type"))
        return RawDocument(
            record_id,
            url,
            self.source,
            date,
            html=body,
            content_type=mime,
            charset=charset,
            http_status=status,
        )


def read_warc(
    stream: BinaryIO, source: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[RawDocument | Rejection]:
    """Documents and read-stage rejections of one WARC file, in file order."""
    yield from WarcReader(stream, source, max_record_bytes)
