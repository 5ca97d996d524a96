"""Read JSONL and Parquet files of documents that already hold plain text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

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


def read_parquet(stream: BinaryIO, source: str, config: InputConfig) -> Iterator[RawDocument | Rejection]:
    parquet = pq.ParquetFile(stream)
    names = set(parquet.schema_arrow.names)
    if config.text_field not in names:
        raise ValueError(f"{source}: no column {config.text_field!r} (columns: {sorted(names)})")
    columns = [
        c
        for c in (config.text_field, config.id_field, config.url_field, config.date_field)
        if c and c in names
    ]
    row_number = 0
    for batch in parquet.iter_batches(batch_size=1024, columns=columns):
        for row in batch.to_pylist():
            yield _to_raw(row, f"row {row_number}", source, config)
            row_number += 1
