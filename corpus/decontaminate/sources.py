"""Evaluation items from the user's files: JSONL, Parquet, Arrow, a ``datasets`` folder, text.

An item is one row of an evaluation set: its source (the file, or the ``save_to_disk`` folder
with its split), its row, and the texts of the fields chosen (``fields``; by default every
string of the row). Rows are numbered from 0: the row of a table or ``datasets`` split (what
``load_from_disk(folder)[row]`` gives), the line of a JSONL or text file (blank lines count, so
``sed -n "$((row + 1))p" FILE`` shows it).

- JSONL (``.jsonl``, ``.ndjson``, ``.json``; ``.gz`` too): one JSON object a line; nested
  objects name their strings by dotted path (``answers.text``), a list of strings gives each.
- Parquet (``.parquet``) and Arrow (``.arrow``, stream or file) rows the same way.
- A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``, read from its
  Arrow files (the same rows as ``datasets.load_from_disk``, offline, without ``datasets``); a
  ``DatasetDict``'s splits are sources of their own (``folder/test``).
- Plain text (``.txt``; ``.gz`` too): each non-blank line is an item with the one field ``text``.

A row with a question-like field and an answer-like one (``QUESTION_FIELDS``,
``ANSWER_FIELDS``) also pairs them, so the index holds the n-grams that straddle the two (the
question's end run into the answer's start), as datatrove indexes them: a page that quotes the
question with its answer matches even when neither alone has ``ngram`` words.

Files are read through ``Files`` (local by default), so the Beam stage can pass FileSystems
(gs://, s3://) in. Every problem is an ``InputError`` naming the file: missing, unreadable, not
the format its name says, no string fields, no items.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from corpus.errors import InputError
from corpus.readers.hf_datasets import saved_dataset_files

TEXT_FIELD = "text"
QUESTION_FIELDS = ("question", "query", "prompt", "problem", "instruction", "input", "goal", "ctx", "context")
"""Names (lower case, dotted for nested fields) of a row's question, first present wins."""
ANSWER_FIELDS = (
    "answer",
    "answers",
    "answers.text",
    "answer.text",
    "best_answer",
    "correct_answer",
    "solution",
    "canonical_solution",
    "output",
    "response",
    "completion",
    "target",
    "targets",
    "gold",
)
"""Names of a row's answer, first present wins (each of its strings, when a list)."""

_JSONL = (".jsonl", ".ndjson", ".json")
_TEXT = (".txt", ".text")
_MAX_DEPTH = 8


@dataclass(frozen=True)
class EvalItem:
    """One row of an evaluation set."""

    source: str
    row: int
    fields: tuple[tuple[str, str], ...]
    """(field name, text) in row order; a list field gives one pair per string."""

    def qa_pairs(self) -> list[tuple[int, int]]:
        """(question text, answer text) indices into ``fields`` whose n-grams straddle."""
        names = [name.lower() for name, _ in self.fields]
        question = next((q for q in QUESTION_FIELDS if q in names), None)
        answer = next((a for a in ANSWER_FIELDS if a in names), None)
        if question is None or answer is None:
            return []
        q = names.index(question)
        return [(q, i) for i, name in enumerate(names) if name == answer]


class Files(Protocol):
    """File access for ``load_items``: local paths by default; the stage passes Beam's."""

    def match(self, pattern: str) -> list[str]:
        """Files (and folders, where the file system has them) matching a glob, sorted."""
        ...

    def read(self, path: str) -> bytes | None:
        """A file's bytes, or None when there is no such file."""
        ...

    def join(self, *parts: str) -> str: ...

    def is_dir(self, path: str) -> bool: ...

    def exists(self, path: str) -> bool: ...


class LocalFiles:
    def match(self, pattern: str) -> list[str]:
        return sorted(glob.glob(pattern))

    def read(self, path: str) -> bytes | None:
        try:
            return Path(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as e:
            raise InputError(f"{path}: cannot be read ({e.strerror or e})") from None

    def join(self, *parts: str) -> str:
        return os.path.join(*parts)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)


def load_items(
    patterns: Sequence[str], fields: Sequence[str] = (), files: Files | None = None
) -> list[EvalItem]:
    """Every item of the evaluation sets ``patterns`` name (files, globs, ``save_to_disk``
    folders), source by source in sorted order, rows in file order."""
    files = files or LocalFiles()
    if not patterns:
        raise InputError("decontaminate.sources: no evaluation sets given")
    items: list[EvalItem] = []
    for source, paths in resolve_sources(patterns, files):
        items.extend(read_source(source, paths, fields, files))
    return items


def resolve_sources(patterns: Sequence[str], files: Files) -> list[tuple[str, list[str]]]:
    """(source name, its files) for every pattern: a file is its own source; a ``save_to_disk``
    folder is one source per split, made of its Arrow files. A pattern that matches nothing is
    an error naming it."""
    found: dict[str, list[str]] = {}
    for pattern in patterns:
        is_glob = any(c in pattern for c in "*?[")
        matched = files.match(pattern) if is_glob else [pattern]
        if not matched:
            raise InputError(f"decontaminate.sources: {pattern}: no file matches")
        for path in matched:
            for source, parts in _path_sources(path, files):
                found.setdefault(source, parts)
    return sorted(found.items())


def _path_sources(path: str, files: Files) -> list[tuple[str, list[str]]]:
    folder = path.rstrip("/")
    splits = files.read(files.join(folder, "dataset_dict.json"))
    if splits is not None:
        try:
            names = json.loads(splits).get("splits")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            names = None
        if not isinstance(names, list) or not names:
            raise InputError(f"{files.join(folder, 'dataset_dict.json')}: no 'splits' list")
        out = []
        for split in names:
            split_folder = files.join(folder, str(split))
            parts = saved_dataset_files(split_folder, files.read, files.join)
            if parts is None:
                raise InputError(f"{split_folder}: split folder without state.json")
            out.append((split_folder, parts))
        return out
    parts = saved_dataset_files(folder, files.read, files.join)
    if parts is not None:
        return [(folder, parts)]
    if files.is_dir(path):
        raise InputError(
            f"{path}: a folder, but not one written by datasets' save_to_disk (no state.json "
            "or dataset_dict.json); name its files"
        )
    if not files.exists(path):
        raise InputError(f"decontaminate.sources: {path}: no such file")
    _format_of(path)  # an unknown format fails before any reading
    return [(path, [path])]


def _format_of(path: str) -> str:
    name = path.lower().removesuffix(".gz")
    if name.endswith(_JSONL):
        return "jsonl"
    if name.endswith(_TEXT):
        return "text"
    if path.lower().endswith(".parquet"):
        return "parquet"
    if path.lower().endswith(".arrow"):
        return "arrow"
    raise InputError(
        f"{path}: unknown evaluation set format (expected .jsonl, .ndjson, .json, .txt "
        "(each optionally .gz), .parquet, .arrow, or a save_to_disk folder)"
    )


def read_source(source: str, paths: Sequence[str], fields: Sequence[str], files: Files) -> list[EvalItem]:
    """The items of one source (a file, or a ``datasets`` split's Arrow files, rows numbered
    across them)."""
    wanted = tuple(f.lower() for f in fields)
    items: list[EvalItem] = []
    seen_fields: set[str] = set()
    rows = 0
    for path in paths:
        data = files.read(path)
        if data is None:
            raise InputError(f"{path}: no such file")
        for row, texts in _rows(path, data, rows):
            rows = row + 1
            seen_fields.update(name for name, _ in texts)
            chosen = tuple((n, t) for n, t in texts if t.strip() and (not wanted or n.lower() in wanted))
            if chosen:
                items.append(EvalItem(source, row, chosen))
    if not items:
        if rows == 0:
            raise InputError(f"{source}: no evaluation items (the file is empty)")
        if not seen_fields:
            raise InputError(f"{source}: no string field in any of its {rows} rows")
        if wanted:
            raise InputError(
                f"{source}: no row has a non-empty field among {', '.join(fields)} "
                f"(its string fields: {', '.join(sorted(seen_fields))})"
            )
        raise InputError(f"{source}: every string field of its {rows} rows is empty")
    return items


def _rows(path: str, data: bytes, first_row: int) -> Iterator[tuple[int, list[tuple[str, str]]]]:
    """(row, [(field, text)]) of one file; a text file's lines have the one field ``text``."""
    kind = _format_of(path)
    if kind in ("jsonl", "text"):
        text = _decoded(path, _decompressed(path, data) if path.lower().endswith(".gz") else data)
        for number, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            if kind == "text":
                yield first_row + number, [(TEXT_FIELD, line.strip())]
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path} line {number + 1}: not valid JSON ({e.msg})") from None
            if not isinstance(value, dict):
                raise InputError(
                    f"{path} line {number + 1}: expected a JSON object, got {type(value).__name__}"
                )
            yield first_row + number, list(_strings(value, ""))
        return
    for row, record in enumerate(_table_rows(path, data, kind)):
        yield first_row + row, list(_strings(record, ""))


def _decompressed(path: str, data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise InputError(f"{path}: not a gzip file ({e})") from None


def _decoded(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _table_rows(path: str, data: bytes, kind: str) -> Iterator[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if kind == "parquet":
            batches: Iterable[Any] = pq.ParquetFile(io.BytesIO(data)).iter_batches(batch_size=4096)
        else:
            try:
                batches = pa.ipc.open_stream(pa.BufferReader(data))
            except pa.ArrowInvalid:
                reader = pa.ipc.open_file(pa.BufferReader(data))
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        for batch in batches:
            yield from batch.to_pylist()
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"{path}: not a readable {kind.capitalize()} file ({e})") from None


def _strings(value: Any, name: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    """(dotted field name, string) of every string in a row; list items share their list's name."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, str):
        if name:
            yield name, value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _strings(inner, f"{name}.{key}" if name else str(key), depth + 1)
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from _strings(inner, name, depth + 1)
