"""Pick the reader for an input file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from corpus.config import InputConfig
from corpus.errors import InputError
from corpus.records import RawDocument, Rejection
from corpus.units import WorkUnit


def input_format(path: str, config: InputConfig) -> str:
    if config.format != "auto":
        return config.format
    name = path.lower().removesuffix(".gz").removesuffix(".zst")
    suffixes = (
        (".warc", "warc"),
        (".wet", "warc"),  # Common Crawl's CC-MAIN-...warc.wet.gz
        (".jsonl", "jsonl"),
        (".json", "jsonl"),
        (".parquet", "parquet"),
        (".arrow", "arrow"),
    )
    for suffix, fmt in suffixes:
        if name.endswith(suffix):
            return fmt
    raise InputError(f"{path}: cannot tell the input format from the name; set input.format")


def read_documents_of(
    stream: BinaryIO, path: str, config: InputConfig, skipped: dict[str, int], unit: WorkUnit | None = None
) -> Iterator[RawDocument | Rejection]:
    """Documents of one file, or of the piece of it that ``unit`` names; non-document records
    (WARC requests, ...) are tallied in skipped."""
    fmt = input_format(path, config)
    start, end, first_row = (unit.start, unit.end, unit.first_row) if unit else (0, -1, 0)
    if fmt == "warc":
        from corpus.readers.warc import DOCUMENT_TYPES, WarcReader

        reader = WarcReader(stream, path, config.max_record_bytes)
        yield from reader
        for key, n in reader.counts.items():
            kind = key.removeprefix("records_")
            if key.startswith("records_") and kind not in DOCUMENT_TYPES:
                skipped[f"warc_{kind}"] = skipped.get(f"warc_{kind}", 0) + n
    elif fmt == "jsonl":
        from corpus.readers.records import read_jsonl

        yield from read_jsonl(stream, path, config, start, end)
    elif fmt == "arrow":
        from corpus.readers.records import read_arrow

        yield from read_arrow(stream, path, config)
    else:
        from corpus.readers.records import read_parquet

        yield from read_parquet(stream, path, config, start, end, first_row)
