"""Refuse a run directory before step 0 unless shards, tokenizer and manifest agree.

The checks that read data (sha256 of every shard) live in ``corpus.manifest``; this module adds
what only the trainer cares about: that the tokenizer file really has the manifest's vocabulary
and special ids, and that the model's embedding has a row for every token id.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.manifest import (
    MANIFEST_NAME,
    ManifestError,
    load_manifest,
    sha256_file,
    verify_shards,
    verify_tokenizer,
    verify_tokenizer_contents,
    write_json_atomic,
)
from corpus.shards.format import token_dtype
from trainer.config import ConfigError


@dataclass(frozen=True)
class RunData:
    """A verified pipeline run: what the trainer needs to know about its data."""

    directory: Path
    manifest: dict[str, Any]
    tokenizer_path: Path
    vocab_size: int
    bos_id: int
    doc_at_end: bool = False
    """The document token ends each document (Megatron's EOD) instead of starting it."""

    def shards(self, split: str) -> list[dict[str, Any]]:
        return [s for s in self.manifest["shards"] if s["split"] == split]


def verify_run(directory: str | os.PathLike, checksums: bool = True) -> RunData:
    """Load the manifest and raise ManifestError naming the file that disagrees with it."""
    directory = Path(directory)
    manifest = load_manifest(directory)
    manifest_path = directory / "manifest.json"
    for key in ("tokenizer", "shards"):
        if key not in manifest:
            raise ManifestError(f"{manifest_path}: no {key!r} entry")
    info = manifest["tokenizer"]
    for key in ("file", "sha256", "vocab_size", "bos_id"):
        if key not in info:
            raise ManifestError(f"{manifest_path}: tokenizer entry lacks {key!r}")
    tokenizer_path = verify_tokenizer(directory, manifest)
    verify_tokenizer_contents(tokenizer_path, info)
    expected_dtype = token_dtype(int(info["vocab_size"])).name
    for shard in manifest["shards"]:
        if shard["dtype"] != expected_dtype:
            raise ManifestError(
                f"{directory / shard['bin']}: dtype {shard['dtype']}, but a vocabulary of "
                f"{info['vocab_size']} is stored as {expected_dtype}"
            )
    verify_shards(directory, manifest, checksums=checksums)
    return RunData(
        directory=directory,
        manifest=manifest,
        tokenizer_path=tokenizer_path,
        vocab_size=int(info["vocab_size"]),
        bos_id=int(info["bos_id"]),
        doc_at_end=info.get("document_token", {}).get("position", "start") == "end",
    )


VERIFIED_NAME = "verified.json"
"""In a training run's folder: the data runs whose shard checksums were verified, by manifest."""


def _file_stats(directory: Path, manifest: dict[str, Any]) -> dict[str, list[int]]:
    """Size and modification time of every file the manifest lists: what a later start compares
    instead of reading the shards again."""
    stats = {}
    for shard in manifest["shards"]:
        for key in ("bin", "idx", "mask"):
            if shard.get(key):
                st = (directory / shard[key]).stat()
                stats[shard[key]] = [st.st_size, st.st_mtime_ns]
    return stats


def verify_once(directory: str | os.PathLike, record_dir: str | os.PathLike) -> tuple[RunData, bool]:
    """``verify_run`` with checksums the first time this run folder (``record_dir``) sees a
    manifest, and without them at later starts while every shard file keeps its size and
    modification time: a restart of a 1 TB run must not read 1 TB. Returns the run and whether
    the checksums were read now. The record is ``record_dir/verified.json``."""
    directory, record_path = Path(directory), Path(record_dir) / VERIFIED_NAME
    manifest_path = directory / MANIFEST_NAME
    digest = sha256_file(manifest_path) if manifest_path.exists() else ""
    try:
        record = json.loads(record_path.read_text("utf-8")) if record_path.exists() else {}
    except (OSError, json.JSONDecodeError):
        record = {}  # unreadable: verify again and write it anew
    if not isinstance(record, dict):
        record = {}
    seen = record.get(digest) if digest else None
    if seen and seen.get("directory") == str(directory.resolve()):
        run = verify_run(directory, checksums=False)
        try:
            if _file_stats(directory, run.manifest) == seen.get("files"):
                return run, False
        except OSError:
            pass  # verify_run found every file; one vanished since: the full check says which
    run = verify_run(directory)
    record[digest] = {"directory": str(directory.resolve()), "files": _file_stats(directory, run.manifest)}
    record_path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record_path, record)
    return run, True


def model_vocab_size(requested: int, tokenizer_vocab: int, multiple: int = 64) -> int:
    """The embedding's rows: the tokenizer's vocabulary rounded up (matmuls like multiples of 64),
    or the configured size, which must hold every token id."""
    if requested == 0:
        return -(-tokenizer_vocab // multiple) * multiple
    if requested < tokenizer_vocab:
        raise ConfigError(
            f"vocab_size {requested} is smaller than the tokenizer's vocabulary of {tokenizer_vocab}"
        )
    return requested
