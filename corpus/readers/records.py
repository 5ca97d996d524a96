"""Read JSONL, Parquet and Arrow (Hugging Face ``datasets``) files of documents that already hold
plain text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.config import InputConfig
from corpus.errors import InputError
from corpus.hashing import content_id
from corpus.records import RawDocument, Rejection

STAGE = "read"


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_unicode(value: Any) -> Any:
    """JSON's ``\\ud800`` escapes give strings with lone surrogates, which are no text and cannot
    be encoded: they become U+FFFD, as undecodable bytes do (extract.max_replacement_ratio
    then judges the text)."""
    if isinstance(value, str) and _SURROGATE.search(value):
        return _SURROGATE.sub("\ufffd", value)
    return value


def _to_raw(row: dict[str, Any], where: str, source: str, config: InputConfig) -> RawDocument | Rejection:
    text = _valid_unicode(row.get(config.text_field))
    url = _valid_unicode(row.get(config.url_field)) if config.url_field else None
    url = url if isinstance(url, str) else None
    given_id = _valid_unicode(row.get(config.id_field)) if config.id_field else None
    if not isinstance(text, str):
        doc_id = str(given_id) if given_id is not None else f"{source}@{where}"
        problem = "missing" if text is None else f"a {type(text).__name__}, not a string"
        return Rejection(
            doc_id,
            url,
            source,
            STAGE,
            "missing_text_field",
            f"{source} {where}: field {config.text_field!r} is {problem}",
        )
    doc_id = str(given_id) if given_id is not None else content_id(url, text)
    date = _valid_unicode(row.get(config.date_field)) if config.date_field else None
    return RawDocument(
        doc_id,
        url if isinstance(url, str) else None,
        source,
        str(date) if date is not None else None,
        text=text,
    )


def _lines(stream: BinaryIO, start: int, end: int, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(byte offset, line) for each line that starts in [start, end) (end -1: to the end); a
    line longer than ``limit`` comes as None, skipped in pieces rather than held in memory."""
    pos = 0
    if start > 0:
        # The line running through ``start`` belongs to the range before: skip to its end.
        stream.seek(start - 1)
        pos = start - 1 + len(stream.readline())
    # iter(readline) also works on Beam's CompressedFile (.jsonl.gz), which is not iterable.
    while end < 0 or pos < end:
        line = stream.readline(limit + 1)
        if not line:
            return
        offset, pos = pos, pos + len(line)
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = stream.readline(1 << 20)
                pos += len(line)
            yield offset, None
            continue
        yield offset, line


def read_jsonl(
    stream: BinaryIO, source: str, config: InputConfig, start: int = 0, end: int = -1
) -> Iterator[RawDocument | Rejection]:
    """Documents of the lines that start in bytes [start, end) of ``stream``; records are named by
    byte offset (``docs.jsonl@byte 1234``), which holds whichever piece of the file a worker reads."""
    for offset, line in _lines(stream, start, end, config.max_record_bytes):
        where = f"byte {offset}"
        if line is None:
            yield Rejection(
                f"{source}@{where}",
                None,
                source,
                STAGE,
                "record_too_large",
                f"{source} {where}: a line over input.max_record_bytes ({config.max_record_bytes})",
            )
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            yield Rejection(
                f"{source}@{where}", None, source, STAGE, "jsonl_invalid_json", f"{source} {where}: {e}"
            )
            continue
        if not isinstance(row, dict):
            yield Rejection(
                f"{source}@{where}",
                None,
                source,
                STAGE,
                "jsonl_not_an_object",
                f"{source} {where}: a JSON {type(row).__name__}, not an object",
            )
            continue
        yield _to_raw(row, where, source, config)


def _columns(names: set[str], source: str, config: InputConfig) -> list[str]:
    if config.text_field not in names:
        raise InputError(f"{source}: no column {config.text_field!r} (columns: {sorted(names)})")
    fields = (config.text_field, config.id_field, config.url_field, config.date_field)
    return [c for c in dict.fromkeys(fields) if c and c in names]


def _rows(
    batches: Iterator[pa.RecordBatch], source: str, config: InputConfig, first_row: int = 0
) -> Iterator[RawDocument | Rejection]:
    row_number = first_row
    for batch in batches:
        for row in batch.to_pylist():
            yield _to_raw(row, f"row {row_number}", source, config)
            row_number += 1


def read_parquet(
    stream: BinaryIO, source: str, config: InputConfig, start: int = 0, end: int = -1, first_row: int = 0
) -> Iterator[RawDocument | Rejection]:
    """Rows of row groups [start, end) (end -1: to the last); ``first_row`` is the file's row
    number of the first of them, so rows are named as in the whole file."""
    try:
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"{source}: not a Parquet file ({e})") from None
    columns = _columns(set(parquet.schema_arrow.names), source, config)
    groups = list(range(start, parquet.num_row_groups if end < 0 else end))
    if not groups:
        return
    try:
        yield from _rows(
            parquet.iter_batches(batch_size=1024, row_groups=groups, columns=columns),
            source,
            config,
            first_row,
        )
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"{source}: damaged Parquet data ({e})") from None


def read_arrow(stream: BinaryIO, source: str, config: InputConfig) -> Iterator[RawDocument | Rejection]:
    """An Arrow IPC file: the stream format ``datasets`` writes (``save_to_disk``, its cache), or
    the random-access file format."""
    try:
        reader: pa.ipc.RecordBatchStreamReader | pa.ipc.RecordBatchFileReader = pa.ipc.open_stream(stream)
        batches: Iterator[pa.RecordBatch] = iter(reader)
    except pa.ArrowInvalid as e:
        if not stream.seekable():
            raise InputError(f"{source}: not an Arrow IPC stream ({e})") from None
        stream.seek(0)
        try:
            reader = pa.ipc.open_file(stream)
        except pa.ArrowInvalid as e:
            raise InputError(f"{source}: not an Arrow IPC stream or file ({e})") from None
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    columns = _columns(set(reader.schema.names), source, config)
    try:
        yield from _rows((b.select(columns) for b in batches), source, config)
    except (pa.ArrowInvalid, OSError) as e:  # a cut file surfaces as OSError from the reader
        raise InputError(f"{source}: damaged Arrow data ({e})") from None
