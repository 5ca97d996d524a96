"""Read JSONL, Parquet and Arrow (Hugging Face ``datasets``) files of documents that already hold
plain text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.config import InputConfig
from corpus.hashing import content_id
from corpus.records import RawDocument, Rejection

STAGE = "read"


def _to_raw(row: dict[str, Any], where: str, source: str, config: InputConfig) -> RawDocument | Rejection:
    text = row.get(config.text_field)
    url = row.get(config.url_field) if config.url_field else None
    url = url if isinstance(url, str) else None
    given_id = row.get(config.id_field) if config.id_field else None
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
    date = row.get(config.date_field) if config.date_field else None
    return RawDocument(
        doc_id,
        url if isinstance(url, str) else None,
        source,
        str(date) if date is not None else None,
        text=text,
    )


def read_jsonl(stream: BinaryIO, source: str, config: InputConfig) -> Iterator[RawDocument | Rejection]:
    # iter(readline) also works on Beam's CompressedFile (.jsonl.gz), which is not iterable.
    for lineno, line in enumerate(iter(stream.readline, b""), start=1):
        if not line.strip():
            continue
        where = f"line {lineno}"
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
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
        raise ValueError(f"{source}: no column {config.text_field!r} (columns: {sorted(names)})")
    fields = (config.text_field, config.id_field, config.url_field, config.date_field)
    return [c for c in dict.fromkeys(fields) if c and c in names]


def _rows(
    batches: Iterator[pa.RecordBatch], source: str, config: InputConfig
) -> Iterator[RawDocument | Rejection]:
    row_number = 0
    for batch in batches:
        for row in batch.to_pylist():
            yield _to_raw(row, f"row {row_number}", source, config)
            row_number += 1


def read_parquet(stream: BinaryIO, source: str, config: InputConfig) -> Iterator[RawDocument | Rejection]:
    parquet = pq.ParquetFile(stream)
    columns = _columns(set(parquet.schema_arrow.names), source, config)
    yield from _rows(parquet.iter_batches(batch_size=1024, columns=columns), source, config)


def read_arrow(stream: BinaryIO, source: str, config: InputConfig) -> Iterator[RawDocument | Rejection]:
    """An Arrow IPC file: the stream format ``datasets`` writes (``save_to_disk``, its cache), or
    the random-access file format."""
    try:
        reader: pa.ipc.RecordBatchStreamReader | pa.ipc.RecordBatchFileReader = pa.ipc.open_stream(stream)
        batches: Iterator[pa.RecordBatch] = iter(reader)
    except pa.ArrowInvalid as e:
        if not stream.seekable():
            raise ValueError(f"{source}: not an Arrow IPC stream ({e})") from None
        stream.seek(0)
        try:
            reader = pa.ipc.open_file(stream)
        except pa.ArrowInvalid as e:
            raise ValueError(f"{source}: not an Arrow IPC stream or file ({e})") from None
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    columns = _columns(set(reader.schema.names), source, config)
    try:
        yield from _rows((b.select(columns) for b in batches), source, config)
    except (pa.ArrowInvalid, OSError) as e:  # a cut file surfaces as OSError from the reader
        raise ValueError(f"{source}: damaged Arrow data ({e})") from None
