"""``corpus shards verify``: every check a run's shards can fail, each problem reported, not only
the first: the manifest, the tokenizer (sha256, vocabulary, special ids), and per shard its
header, ``.idx``, lineage file (``.docs.parquet``), document tokens, token ids and checksums.

The trainer refuses a run on the first of these problems (trainer/verify.py); this is the tool a
person runs to see all of them at once, on the shards as llm.c, Megatron or modded-nanogpt would
read them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from corpus.manifest import (
    ManifestError,
    load_manifest,
    sha256_file,
    verify_tokenizer,
    verify_tokenizer_contents,
)
from corpus.shards.format import ShardFormatError, open_tokens, read_header, read_index, token_dtype

_CHUNK = 1 << 24
"""Tokens scanned at a time for out-of-vocabulary ids (memory-mapped, so memory stays flat)."""


@dataclass
class CheckReport:
    directory: Path
    shards: int = 0
    tokens: int = 0
    documents: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_run(directory: str | os.PathLike, checksums: bool = True) -> CheckReport:
    directory = Path(directory)
    report = CheckReport(directory)
    try:
        manifest = load_manifest(directory)
    except ManifestError as e:
        report.problems.append(str(e))
        return report
    info = manifest.get("tokenizer") or {}
    missing = [k for k in ("file", "sha256", "vocab_size", "bos_id") if k not in info]
    if missing:
        report.problems.append(f"{directory / 'manifest.json'}: tokenizer entry lacks {missing}")
        return report
    try:
        verify_tokenizer_contents(verify_tokenizer(directory, manifest), info)
    except ManifestError as e:
        report.problems.append(str(e))
    for shard in manifest.get("shards", []):
        report.shards += 1
        try:
            _check_shard(directory, shard, info, checksums, report)
        except (ManifestError, ShardFormatError, OSError) as e:
            report.problems.append(str(e))
    listed = {s[k] for s in manifest.get("shards", []) for k in ("bin", "idx") if k in s}
    for path in sorted(directory.glob("*.bin")) + sorted(directory.glob("*.idx")):
        if path.name not in listed:
            report.notes.append(f"{path}: on disk but not in the manifest (ignored by the trainer)")
    return report


def _check_shard(
    directory: Path, shard: dict[str, Any], info: dict[str, Any], checksums: bool, report: CheckReport
) -> None:
    bin_path, idx_path = directory / shard["bin"], directory / shard["idx"]
    for path in (bin_path, idx_path):
        if not path.exists():
            raise ManifestError(f"{path}: listed in the manifest but missing")
    problems = report.problems
    header = read_header(bin_path)
    if (header.num_tokens, header.num_docs) != (shard["tokens"], shard["documents"]):
        problems.append(
            f"{bin_path}: header has {header.num_tokens} tokens / {header.num_docs} documents, "
            f"the manifest says {shard['tokens']} / {shard['documents']}"
        )
    expected_dtype = token_dtype(int(info["vocab_size"]))
    if header.dtype != expected_dtype:
        problems.append(
            f"{bin_path}: {header.dtype.name} tokens, a vocabulary of {info['vocab_size']} needs "
            f"{expected_dtype.name}"
        )
    bos = int(info["bos_id"])
    position = (info.get("document_token") or {}).get("position", "start")
    if header.document_token is not None and header.document_token != bos:
        problems.append(f"{bin_path}: header's document token is {header.document_token}, manifest's {bos}")
    if header.document_token is not None and header.document_position != position:
        problems.append(
            f"{bin_path}: header puts the document token at the {header.document_position}, "
            f"the manifest at the {position}"
        )
    index = read_index(idx_path)
    lengths = index.lengths.astype(np.int64)
    if len(lengths) != header.num_docs:
        problems.append(f"{idx_path}: {len(lengths)} documents, the header says {header.num_docs}")
    if int(lengths.sum()) != header.num_tokens:
        problems.append(f"{idx_path}: document lengths sum to {int(lengths.sum())}, the header says "
                        f"{header.num_tokens} tokens")  # fmt: skip
    if (lengths <= 0).any():
        problems.append(f"{idx_path}: {int((lengths <= 0).sum())} documents of no tokens")
    elif len(lengths) and int(lengths.sum()) == header.num_tokens:
        tokens = open_tokens(bin_path)
        at = index.token_offsets + (lengths - 1 if position == "end" else 0)
        wrong = np.flatnonzero(tokens[at] != bos)
        if len(wrong):
            problems.append(
                f"{bin_path}: {len(wrong)} documents do not {position} with the document token {bos} "
                f"(first: document {int(wrong[0])})"
            )
        vocab = int(info["vocab_size"])
        for start in range(0, len(tokens), _CHUNK):
            top = int(tokens[start : start + _CHUNK].max())
            if top >= vocab:
                problems.append(f"{bin_path}: token id {top} is outside the vocabulary of {vocab}")
                break
    if shard.get("docs"):
        docs_path = directory / shard["docs"]
        if not docs_path.exists():
            problems.append(f"{docs_path}: listed in the manifest but missing")
        else:
            lineage = pq.read_table(docs_path, columns=["tokens"]).column("tokens").to_numpy()
            if len(lineage) != len(lengths) or not np.array_equal(lineage, lengths):
                problems.append(f"{docs_path}: token counts differ from {idx_path.name}")
    checked = [(bin_path, "sha256"), (idx_path, "idx_sha256")]
    if shard.get("mask"):
        mask_path = directory / shard["mask"]
        if not mask_path.exists() or mask_path.stat().st_size != header.num_tokens:
            problems.append(f"{mask_path}: missing, or not one byte per token of {bin_path.name}")
        else:
            checked.append((mask_path, "mask_sha256"))
    if checksums:
        for path, key in checked:
            if key in shard and (actual := sha256_file(path)) != shard[key]:
                problems.append(f"{path}: sha256 {actual} does not match the manifest's {shard[key]}")
    report.tokens += header.num_tokens
    report.documents += header.num_docs
