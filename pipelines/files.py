"""File access through Beam's FileSystems (local paths, gs://, s3://), with atomic writes."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from corpus.readers import hf_datasets


def join(*parts: str) -> str:
    return FileSystems.join(*parts)


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
            raise FileNotFoundError(f"{pattern}: no input file matches")
        paths.extend(matched)
    return sorted(set(paths))


def read_if_exists(path: str) -> bytes | None:
    return read_bytes(path) if FileSystems.exists(path) else None


def open_input(path: str, decompress: bool) -> BinaryIO:
    compression = CompressionTypes.AUTO if decompress else CompressionTypes.UNCOMPRESSED
    return FileSystems.open(path, compression_type=compression)


def write_atomic(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Write through a temp name, then rename: readers never see a partial file."""
    tmp = path + ".tmp"
    buffer = io.BytesIO()
    write(buffer)
    with FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(buffer.getvalue())
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def makedirs(path: str) -> None:
    if not FileSystems.exists(path):
        FileSystems.mkdirs(path)
