"""File access through Beam's FileSystems (local paths, gs://, s3://), with atomic writes."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from corpus.config import InputConfig
from corpus.errors import InputError
from corpus.readers import hf_datasets
from corpus.readers.detect import input_format
from corpus.units import WorkUnit, byte_ranges, row_group_ranges, splittable_jsonl


def join(*parts: str) -> str:
    return FileSystems.join(*parts)


def is_local(path: str) -> bool:
    """A path on this machine's file system (not gs://, s3://, ...)."""
    return "://" not in path


def list_inputs(patterns: list[str]) -> list[str]:
    """Expand glob patterns, ``save_to_disk`` folders and ``hf:`` datasets into input files; a
    pattern that matches nothing is an error naming it."""
    paths: list[str] = []
    for pattern in patterns:
        if pattern.startswith(hf_datasets.PREFIX):
            paths.extend(hf_datasets.dataset_files(pattern.removeprefix(hf_datasets.PREFIX)))
            continue
        # Only a plain path can name a save_to_disk folder: a glob costs no lookups for one.
        is_glob = any(c in pattern for c in "*?[")
        saved = None if is_glob else hf_datasets.saved_dataset_files(pattern, read_if_exists, join)
        if saved is not None:
            paths.extend(saved)
            continue
        matched = sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)
        if not matched:
            raise InputError(f"{pattern}: no input file matches")
        paths.extend(matched)
    return sorted(set(paths))


def read_if_exists(path: str) -> bytes | None:
    return read_bytes(path) if FileSystems.exists(path) else None


class _Decompressed(io.RawIOBase):
    """Beam's CompressedFile as a raw stream, so io.BufferedReader gives it ``readline(size)``."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.stream.close()
        super().close()


def open_input(path: str, decompress: bool) -> BinaryIO:
    """Open for reading; ``decompress`` undoes .gz, .bz2, .zst, ... by the file's suffix."""
    if decompress and CompressionTypes.detect_compression_type(path) != CompressionTypes.UNCOMPRESSED:
        raw = FileSystems.open(path, compression_type=CompressionTypes.AUTO)
        return io.BufferedReader(_Decompressed(raw), buffer_size=1 << 20)  # type: ignore[return-value]
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


class OutputError(InputError):
    """Writing an output failed (disk full, permission denied, a file where a folder goes, ...);
    the message names the path. An InputError, not an OSError: the user's output path or disk is
    what to fix, so the command prints it as one line and exits 2."""


def _reason(e: BaseException) -> str:
    # Beam wraps the OSError it got (IOError(err)): the inner one has the plain reason.
    inner = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], OSError) else e
    return getattr(inner, "strerror", None) or str(inner) or type(inner).__name__


def _output_error(path: str, e: BaseException) -> OutputError:
    return OutputError(f"{path}: cannot write ({_reason(e)}); no partial file was left under its name")


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[BinaryIO]:
    """A stream whose bytes appear under ``path`` only when the block ends without an error:
    they go to ``path.tmp``, renamed at the end; on any error the temp file is removed."""
    tmp = path + ".tmp"
    try:
        stream = FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED)
    except OSError as e:
        raise _output_error(path, e) from e
    try:
        yield stream
        stream.close()
        if FileSystems.exists(path):
            FileSystems.delete([path])
        FileSystems.rename([tmp], [path])
    except BaseException as e:
        with contextlib.suppress(Exception):
            stream.close()
        with contextlib.suppress(Exception):
            FileSystems.delete([tmp])
        if isinstance(e, OSError):
            raise _output_error(path, e) from e
        raise


def write_atomic(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Write through a temp name, then rename: readers never see a partial file."""
    with atomic_output(path) as f:
        write(f)


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def makedirs(path: str) -> None:
    if not FileSystems.exists(path):
        try:
            FileSystems.mkdirs(path)
        except OSError as e:  # Beam's IOError names no file: a file where a folder goes, ...
            raise OutputError(f"{path}: cannot make the folder ({_reason(e)})") from e


def size_of(path: str) -> int:
    (result,) = FileSystems.match([path])
    return result.metadata_list[0].size_in_bytes if result.metadata_list else 0


def plan_units(paths: list[str], config: InputConfig) -> list[WorkUnit]:
    """Cut the input files into units of work (see corpus/units.py), numbered in input order."""
    units: list[WorkUnit] = []
    for path in paths:
        fmt = input_format(path, config)
        size = size_of(path)
        pieces: list[tuple[int, int, int, int]] = []  # start, end, first row, bytes
        if fmt == "jsonl" and splittable_jsonl(path):
            for a, b in byte_ranges(size, config.split_bytes):
                pieces.append((a, b, 0, (size if b < 0 else b) - a))
        elif fmt == "parquet":
            pieces = _parquet_pieces(path, size, config.split_bytes)
        if not pieces or len(pieces) == 1:
            pieces = [(0, -1, 0, size)]
        for start, end, first_row, nbytes in pieces:
            units.append(WorkUnit(len(units), path, fmt, start, end, first_row, nbytes))
    return units


def _parquet_pieces(path: str, size: int, split_bytes: int) -> list[tuple[int, int, int, int]]:
    try:
        with open_input(path, decompress=False) as f:
            meta = pq.ParquetFile(f).metadata
    except (pa.ArrowInvalid, OSError):
        # One whole-file unit: its reader then rejects the file with the problem named, and
        # one bad file among thousands does not stop the job.
        return []
    group_bytes = [meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)]
    group_rows = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    pieces = []
    for a, b in row_group_ranges(group_bytes, split_bytes):
        stop = len(group_bytes) if b < 0 else b
        share = sum(group_bytes[a:stop]) / max(1, sum(group_bytes))
        pieces.append((a, b, sum(group_rows[:a]), round(size * share)))
    return pieces


def read_json(path: str) -> dict | None:
    """A small JSON file (a completion marker), or None when it is not there."""
    data = read_if_exists(path)
    return None if data is None else json.loads(data)


def write_json(path: str, data: dict) -> None:
    text = json.dumps(data, sort_keys=True)
    write_atomic(path, lambda f: f.write(text.encode("utf-8")))
