"""File access through Beam's FileSystems (local paths, gs://, s3://), with atomic writes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressedFile, CompressionTypes
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


# --- I/O counts: every read and write through these helpers, attributed to a stage ------------


class IOCount:
    """Bytes read and written by this thread while the count is open (``start_counting``)."""

    def __init__(self) -> None:
        self.read = 0
        self.written = 0
        self.open = True

    def stop(self) -> dict[str, int]:
        """Close the count; {"bytes_read", "bytes_written"} for the stage's stats."""
        self.open = False
        stack = _counts()
        if self in stack:
            stack.remove(self)
        return {"bytes_read": self.read, "bytes_written": self.written}


_local = threading.local()


def _counts() -> list[IOCount]:
    if not hasattr(_local, "counts"):
        _local.counts = []
    return _local.counts


def start_counting() -> IOCount:
    """Count this thread's file I/O from now until ``stop()``: a stage's task opens one around
    its work (counts nest: each open one sees every byte), and puts ``stop()``'s counts in its
    "stats" dict, so they travel as data into run_stats.json (Beam Metrics are not implemented
    on every runner). Close it before yielding outputs: a runner may run the next fused stage
    inside the yield, on this thread."""
    count = IOCount()
    _counts().append(count)
    return count


@contextlib.contextmanager
def counting() -> Iterator[IOCount]:
    count = start_counting()
    try:
        yield count
    finally:
        count.stop()


def open_counts() -> tuple[IOCount, ...]:
    """The counts open on this thread now."""
    return tuple(_counts())


def _add(read: int, written: int, counts: Sequence[IOCount] | None = None) -> None:
    for count in _counts() if counts is None else counts:
        if count.open:
            count.read += read
            count.written += written


class _Counted:
    """A FileSystems stream whose reads and writes add to the open counts (``start_counting``);
    all else passes through."""

    def __init__(self, stream, counts: Sequence[IOCount] | None = None) -> None:
        self._stream = stream
        # The counts open where the stream was opened: pyarrow reads and writes a Parquet file
        # from its own I/O threads, whose bytes belong to the task that opened it all the same.
        self._counts = open_counts() if counts is None else tuple(counts)

    def read(self, *args) -> bytes:
        data = self._stream.read(*args)
        _add(len(data), 0, self._counts)
        return data

    def readinto(self, buffer) -> int:
        n = self._stream.readinto(buffer)
        _add(n or 0, 0, self._counts)
        return n

    def readline(self, *args) -> bytes:
        data = self._stream.readline(*args)
        _add(len(data), 0, self._counts)
        return data

    def __iter__(self):
        return iter(self.readline, b"")

    def write(self, data) -> int:
        n = self._stream.write(data)
        _add(0, len(data) if n is None else n, self._counts)
        return len(data) if n is None else n

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._stream.close()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


class RangeReader:
    """Byte ranges of files, each file opened once (close() at the end of a task): a task that
    needs a few rows of a table reads those, not the table. ``read`` counts the bytes it got."""

    def __init__(self) -> None:
        self._open: dict[str, BinaryIO] = {}
        self.read_bytes = 0

    def read(self, path: str, offset: int, size: int) -> bytes:
        stream = self._open.get(path)
        if stream is None:
            stream = self._open[path] = open_input(path, decompress=False)
        stream.seek(offset)
        data = stream.read(size)
        if len(data) != size:
            raise OSError(f"{path}: {size} bytes at {offset} asked, {len(data)} there (a table cut short)")
        self.read_bytes += len(data)
        return data

    def close(self) -> None:
        for stream in self._open.values():
            stream.close()
        self._open.clear()


def open_input(path: str, decompress: bool, counts: Sequence[IOCount] | None = None) -> BinaryIO:
    """Open for reading; ``decompress`` undoes .gz, .bz2, .zst, ... by the file's suffix.
    ``counts``: the counts its reads add to (``open_counts()`` of the task's thread), for a
    stream opened on another thread (a generator a library drains on its own threads)."""
    if decompress and CompressionTypes.detect_compression_type(path) != CompressionTypes.UNCOMPRESSED:
        # Counted before decompression: the bytes that came off the file system.
        stored = _Counted(FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED), counts)
        raw = CompressedFile(stored, CompressionTypes.detect_compression_type(path))
        return io.BufferedReader(_Decompressed(raw), buffer_size=1 << 20)  # type: ignore[return-value]
    return _Counted(FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED), counts)  # type: ignore[return-value]


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
    they go to a temp name of this attempt's own (``path.<random>.tmp``), renamed at the end; on
    any error the temp file is removed.

    The temp name is unique per call because a distributed runner may run the same bundle twice
    at once (a retry beside a straggler, speculative execution): with one shared ``path.tmp`` the
    attempts would write into, rename or delete each other's file. Each attempt renames its own
    complete file, so ``path`` ends as one attempt's bytes. A dead attempt's temp file ends in
    ``.tmp``, which the rerun's clean-up (pipelines/corpus_job.py prepare_output) removes."""
    tmp = f"{path}.{uuid.uuid4().hex[:16]}.tmp"
    try:
        stream = FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED)
    except OSError as e:
        raise _output_error(path, e) from e
    try:
        yield _Counted(stream)  # type: ignore[misc]
        stream.close()
        _replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(Exception):
            stream.close()
        with contextlib.suppress(Exception):
            FileSystems.delete([tmp])
        if isinstance(e, OSError):
            raise _output_error(path, e) from e
        raise


def _replace(tmp: str, path: str) -> None:
    """Rename ``tmp`` to ``path``, over an existing file. Local, gs:// and s3:// renames replace
    the target; where one refuses (HDFS), the target is deleted first. Another attempt may rename
    or delete the same target meanwhile, so a delete that finds nothing is no error."""
    try:
        FileSystems.rename([tmp], [path])
        return
    except OSError:
        if not FileSystems.exists(path):
            raise
    with contextlib.suppress(OSError):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def write_atomic(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Write through a temp name, then rename: readers never see a partial file."""
    with atomic_output(path) as f:
        write(f)


def read_bytes(path: str) -> bytes:
    with open_input(path, decompress=False) as f:
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


def same_folder(a: str, b: str) -> bool:
    """Whether two folder paths name one folder, by their text (nothing is opened): object-store
    paths as written without a trailing slash, local paths made absolute and normalised (``.``,
    ``..``, repeated and trailing slashes; symlinks are not followed)."""
    if "://" in a or "://" in b:
        return a.rstrip("/") == b.rstrip("/")
    return posixpath.normpath(posixpath.join(os.getcwd(), a)) == posixpath.normpath(
        posixpath.join(os.getcwd(), b)
    )


def read_json(path: str) -> dict | None:
    """A small JSON file (a completion marker), or None when it is not there."""
    data = read_if_exists(path)
    return None if data is None else json.loads(data)


def write_json(path: str, data: dict) -> None:
    text = json.dumps(data, sort_keys=True)
    write_atomic(path, lambda f: f.write(text.encode("utf-8")))
