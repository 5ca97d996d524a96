"""WARC/1.1 output (warcio): gzip per record, files rotated at a size, each file written under a
``.tmp`` name and renamed when it is closed, so a file with a final name is always complete."""

from __future__ import annotations

import io
import os
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from corpus import __version__


def _gzip_member(data) -> bytes:
    """One gzip member at level 6 (warcio's own gzip uses 9: a third slower on HTML for 1.4%
    smaller files)."""
    member = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return member.compress(data) + member.flush()


_BUILDER = WARCWriter(io.BytesIO(), gzip=False, warc_version="1.1")
"""Makes records (the ``create_*`` methods write nothing)."""


def _serialise(record) -> tuple[str, bytes]:
    """(WARC-Type, the record as one gzip member)."""
    plain = io.BytesIO()
    WARCWriter(plain, gzip=False, warc_version="1.1").write_record(record)
    return record.rec_headers.get_header("WARC-Type"), _gzip_member(plain.getbuffer())


def capture_records(
    capture: Capture, metadata: dict[str, str], revisit_of: tuple[str, str] | None
) -> list[tuple[str, bytes]]:
    """The records of one fetch, each gzipped: response (or revisit, when the same payload was
    captured before: its URI and date), request, metadata. A pure function of its arguments (but
    the record ids), so that it can run in another process."""
    date = capture.date
    response_headers = StatusAndHeaders(
        f"{capture.status} {capture.reason}", capture.response_headers, protocol=capture.protocol
    )
    warc_headers = {"WARC-Date": date, "WARC-IP-Address": capture.ip or ""}
    if revisit_of is None:  # the digest the fetch computed, in warcio's form: not computed again
        warc_headers["WARC-Payload-Digest"] = capture.payload_digest
    if capture.truncated:
        warc_headers["WARC-Truncated"] = "length"
    warc_headers = {k: v for k, v in warc_headers.items() if v}
    if revisit_of is not None:
        response = _BUILDER.create_revisit_record(
            capture.url, capture.payload_digest, revisit_of[0], revisit_of[1],
            http_headers=response_headers, warc_headers_dict=warc_headers,
        )  # fmt: skip
    else:
        response = _BUILDER.create_warc_record(
            capture.url, "response", payload=io.BytesIO(capture.body), length=len(capture.body),
            http_headers=response_headers, warc_headers_dict=warc_headers,
        )  # fmt: skip
    request_headers = StatusAndHeaders(capture.request_line, capture.request_headers, is_http_request=True)
    request = _BUILDER.create_warc_record(
        capture.url, "request", http_headers=request_headers, warc_headers_dict={"WARC-Date": date}
    )
    response_id = response.rec_headers.get_header("WARC-Record-ID")
    request.rec_headers.add_header("WARC-Concurrent-To", response_id)
    fields = "".join(f"{k}: {v}\r\n" for k, v in metadata.items()).encode("utf-8")
    meta = _BUILDER.create_warc_record(
        capture.url, "metadata", payload=io.BytesIO(fields), length=len(fields),
        warc_content_type="application/warc-fields",
        warc_headers_dict={"WARC-Date": date, "WARC-Refers-To": response_id},
    )  # fmt: skip
    return [_serialise(response), _serialise(request), _serialise(meta)]


@dataclass
class WarcFile:
    path: str
    records: dict[str, int] = field(default_factory=dict)
    """Records by WARC-Type."""
    bytes: int = 0


class WarcSet:
    """One set of WARC files (``pages``, ``crawldiagnostics``, ``robotstxt``) of one fetch group:
    ``{folder}/{prefix}-NNNNN.warc.gz``, a new file past ``max_bytes``."""

    def __init__(self, folder: str | Path, prefix: str, max_bytes: int, info: dict[str, str]) -> None:
        self.folder = Path(folder)
        self.prefix = prefix
        self.max_bytes = max_bytes
        self.info = info
        self.done: list[WarcFile] = []
        self._file: WarcFile | None = None
        self._stream: io.BufferedWriter | None = None

    def _open(self) -> None:
        if self._stream is not None and self._stream.tell() < self.max_bytes:
            return
        self._close_file()
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{self.prefix}-{len(self.done):05d}.warc.gz"
        self._file = WarcFile(str(self.folder / name))
        self._stream = open(self.folder / (name + ".tmp"), "wb")  # noqa: SIM115 - closed in _close_file
        info = {"software": f"corpus-toolkit/{__version__}", "format": "WARC File Format 1.1", **self.info}
        self._write(*_serialise(_BUILDER.create_warcinfo_record(name, info)))

    def _write(self, kind: str, member: bytes) -> None:
        assert self._stream is not None and self._file is not None
        self._stream.write(member)
        self._file.records[kind] = self._file.records.get(kind, 0) + 1

    def _close_file(self) -> None:
        if self._stream is None or self._file is None:
            return
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._file.bytes = self._stream.tell()
        self._stream.close()
        os.replace(self._file.path + ".tmp", self._file.path)
        self.done.append(self._file)
        self._stream = self._file = None

    def close(self) -> list[WarcFile]:
        self._close_file()
        return self.done

    def abandon(self) -> None:
        """Drop the file being written (a fetch group that did not finish)."""
        if self._stream is not None and self._file is not None:
            self._stream.close()
            Path(self._file.path + ".tmp").unlink(missing_ok=True)
            self._stream = self._file = None

    def append(self, records: list[tuple[str, bytes]]) -> None:
        """Records made by ``capture_records``, in their order, into the current file (a new file
        first when it has reached ``max_bytes``: the records of one fetch stay together)."""
        self._open()
        for kind, member in records:
            self._write(kind, member)

    def capture(self, capture: Capture, metadata: dict[str, str], revisit_of: tuple[str, str] | None) -> None:
        """request + response (or revisit) + metadata records of one fetch."""
        self.append(capture_records(capture, metadata, revisit_of))


@dataclass
class Capture:
    """One HTTP exchange as received (body as sent by the server, transfer chunking removed)."""

    url: str
    date: str
    request_line: str
    request_headers: list[tuple[str, str]]
    protocol: str
    status: int
    reason: str
    response_headers: list[tuple[str, str]]
    body: bytes
    ip: str | None
    truncated: bool
    payload_digest: str


def warc_date(when: float | None = None) -> str:
    moment = datetime.fromtimestamp(when, UTC) if when is not None else datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
