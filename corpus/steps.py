"""The work of each pipeline stage on one input file, as plain functions (no Beam).

A Beam DoFn calls one of these per file; tests and notebooks call them directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from corpus.config import PipelineConfig
from corpus.dedup import exact
from corpus.extract import extract_document
from corpus.filters.language import LanguageIdentifier, filter_language
from corpus.records import Document, RawDocument, Rejection
from corpus.sharding import cut_shards, order_by_id_hash, split_of
from corpus.summary import StageCounts, count
from corpus.tokenize import DocumentEncoder


@dataclass
class StepResult:
    documents: list[Document]
    rejections: list[Rejection]
    counts: StageCounts = field(default_factory=dict)


def extract_step(items: Iterable[RawDocument | Rejection], config: PipelineConfig) -> StepResult:
    """Read-stage rejections pass through; each raw document is extracted or rejected."""
    result = StepResult([], [])
    read_rejected: list[Rejection] = []
    extract_rejected: list[Rejection] = []
    read_kept = 0
    for item in items:
        if isinstance(item, Rejection):
            read_rejected.append(item)
            continue
        read_kept += 1
        out = extract_document(item, config.extract)
        if isinstance(out, Rejection):
            extract_rejected.append(out)
        else:
            result.documents.append(out)
    count(result.counts, "read", read_kept, read_rejected)
    count(result.counts, "extract", len(result.documents), extract_rejected)
    result.rejections = read_rejected + extract_rejected
    return result


def filter_step(
    docs: Sequence[Document],
    duplicates: Mapping[tuple[int, int], str],
    identifier: LanguageIdentifier,
    config: PipelineConfig,
    file_index: int = 0,
) -> StepResult:
    """Exact dedup by the global decision in ``duplicates`` ((file index, position) of a dropped
    document -> kept id), then language ID. ``docs`` are in the order their keys were made."""
    result = StepResult([], [])
    unique: list[Document] = []
    dup_rejected: list[Rejection] = []
    for position, doc in enumerate(docs):
        kept_id = duplicates.get((file_index, position)) if config.dedup.exact else None
        if kept_id is None:
            unique.append(doc)
        else:
            dup_rejected.append(
                Rejection(
                    doc.id,
                    doc.url,
                    doc.source,
                    exact.STAGE,
                    exact.REASON,
                    f"duplicate of {kept_id}",
                    doc.text,
                )
            )
    count(result.counts, exact.STAGE, len(unique), dup_rejected)
    lang_rejected: list[Rejection] = []
    for out in filter_language(unique, identifier, config.language):
        if isinstance(out, Rejection):
            lang_rejected.append(out)
        else:
            result.documents.append(out)
    count(result.counts, "language", len(result.documents), lang_rejected)
    result.rejections = dup_rejected + lang_rejected
    return result


@dataclass(frozen=True)
class PlannedShard:
    split: str
    part: int
    ids: list[str]
    urls: list[str | None]
    tokens: list[np.ndarray]


def shard_step(
    docs: Sequence[Document], encoder: DocumentEncoder, config: PipelineConfig
) -> list[PlannedShard]:
    """Tokenize one file's documents, order them by id hash, split them, cut shards."""
    order = order_by_id_hash([d.id for d in docs])
    ordered = [docs[i] for i in order]
    batch = config.tokenizer.batch_size
    tokens: list[np.ndarray] = []
    for start in range(0, len(ordered), batch):
        tokens.extend(encoder.encode([d.text for d in ordered[start : start + batch]]))
    shards: list[PlannedShard] = []
    for split in ("train", "val"):
        members = [i for i, d in enumerate(ordered) if split_of(d.id, config.shard.val_fraction) == split]
        lengths = [len(tokens[i]) for i in members]
        for part, (a, b) in enumerate(cut_shards(lengths, config.shard.max_tokens_per_shard)):
            chosen = members[a:b]
            shards.append(
                PlannedShard(
                    split,
                    part,
                    [ordered[i].id for i in chosen],
                    [ordered[i].url for i in chosen],
                    [tokens[i] for i in chosen],
                )
            )
    return shards


def duplicate_decisions(members: Iterable[exact.Member]) -> list[tuple[tuple[int, int], str]]:
    """((file index, position) of each dropped occurrence, kept id) for one group of identical texts."""
    kept, dropped = exact.choose_keeper(members)
    return [((m[2], m[3]), kept[1]) for m in dropped]
