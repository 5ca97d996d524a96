"""In-memory records passed between corpus functions, and their Arrow (Parquet) form."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.hashing import id_hash
from schemas.document import DOCUMENT_SCHEMA, REJECTED_SCHEMA


@dataclass(frozen=True)
class RawDocument:
    """A document as a reader found it, before extraction."""

    id: str
    url: str | None
    source: str
    date: str | None = None
    html: bytes | None = None
    """Raw HTML payload (WARC responses); extraction turns it into text."""
    text: str | None = None
    """Plain text given by the source (JSONL, Parquet, datasets)."""
    content_type: str | None = None
    charset: str | None = None
    http_status: int | None = None


@dataclass(frozen=True)
class Document:
    """A document with plain, normalised text (the Arrow ``DOCUMENT_SCHEMA``)."""

    id: str
    url: str | None
    source: str
    date: str | None
    text: str
    text_hash: int
    language: str | None = None
    language_score: float | None = None

    @property
    def id_hash(self) -> int:
        return id_hash(self.id)


@dataclass(frozen=True)
class Rejection:
    """A document a stage dropped, and why (the Arrow ``REJECTED_SCHEMA``)."""

    id: str
    url: str | None
    source: str
    stage: str
    reason: str
    detail: str | None = None
    text: str | None = None

    @classmethod
    def of(cls, doc: Document, stage: str, reason: str, detail: str | None) -> Rejection:
        """A kept-so-far document dropped by ``stage``; its text goes along for inspection."""
        return cls(doc.id, doc.url, doc.source, stage, reason, detail, doc.text)


def documents_table(docs: Iterable[Document]) -> pa.Table:
    rows = [{**asdict(d), "id_hash": d.id_hash} for d in docs]
    return pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA)


def rejections_table(rejections: Iterable[Rejection]) -> pa.Table:
    return pa.Table.from_pylist([asdict(r) for r in rejections], schema=REJECTED_SCHEMA)


def write_parquet(table: pa.Table, stream: BinaryIO) -> None:
    sink = ParquetSink(stream, table.schema)
    sink.write(table)
    sink.close()


class ParquetSink:
    """A Parquet file written a row group at a time, so a unit's records never sit in memory
    together. No rows make a file with no row group (one empty row group trips readers such as
    ``datasets``: "BatchSize must be greater than 0")."""

    def __init__(self, stream: BinaryIO, schema: pa.Schema) -> None:
        self.writer = pq.ParquetWriter(stream, schema, compression="zstd")
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self.writer.write_table(table)
            self.rows += table.num_rows

    def close(self) -> None:
        self.writer.close()


def row_groups(stream: BinaryIO, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """A Parquet file's row groups one at a time."""
    parquet = pq.ParquetFile(stream)
    for i in range(parquet.num_row_groups):
        yield parquet.read_row_group(i, columns=columns)


def documents_of(table: pa.Table) -> list[Document]:
    return [
        Document(
            id=r["id"],
            url=r["url"],
            source=r["source"],
            date=r["date"],
            text=r["text"],
            text_hash=r["text_hash"],
            language=r["language"],
            language_score=r["language_score"],
        )
        for r in table.to_pylist()
    ]


def read_documents(stream: BinaryIO) -> list[Document]:
    return documents_of(pq.read_table(stream, schema=DOCUMENT_SCHEMA))
