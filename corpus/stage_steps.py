"""The work of each stage of the corpus job on one unit of work (a file, or a slice of a large
one: ``corpus/units.py``), as plain functions (no Beam): extraction, the document filters, the
dedup drops a unit applies, and the runs a unit writes for the shards.

A Beam DoFn calls one of these per unit; tests and notebooks call them directly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from corpus.config import PipelineConfig
from corpus.dedup import exact, near, url
from corpus.extract import extract_document
from corpus.filters import pii, quality
from corpus.filters.language import LanguageIdentifier, filter_language
from corpus.filters.quality import check_quality
from corpus.filters.safety import STAGE as SAFETY
from corpus.filters.safety import SafetyChecker
from corpus.hashing import text_hash
from corpus.records import Document, RawDocument, Rejection
from corpus.shards.split import order_by_id_hash, split_of
from corpus.summary import StageCounts, count, modify
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


Drop = tuple[int, str, str] | tuple[int, str, str, float | None] | tuple[int, str, str, float | None, str]
"""(position in the unit, stage that dropped it, id of the kept document it duplicates[, their
similarity (near dedup names it)[, reason, when not the stage's own: a duplicate of a reference
run's document]])."""

Decided = tuple[str, str, float | None, str]
"""What a unit's dedup decisions say of one position: (stage, kept id, similarity, reason)."""

_DEDUP_REASONS = {exact.STAGE: exact.REASON, url.STAGE: url.REASON, near.STAGE: near.REASON}


def filter_step(
    docs: Sequence[Document],
    identifier: LanguageIdentifier,
    config: PipelineConfig,
    stop_words: dict[str, frozenset[str]] | None = None,
    safety: SafetyChecker | None = None,
) -> StepResult:
    """Language ID, the safety filters (when a ``SafetyChecker`` is given), the quality rules
    (which may also clean lines out of a kept document) and PII redaction. Dedup comes after, so
    that a duplicate is only ever removed in favour of a document that passed every filter."""
    result = StepResult([], [])
    lang_rejected: list[Rejection] = []
    for out in filter_language(docs, identifier, config.language):
        if isinstance(out, Rejection):
            lang_rejected.append(out)
        else:
            result.documents.append(out)
    count(result.counts, "language", len(result.documents), lang_rejected)
    safety_rejected: list[Rejection] = []
    safe: list[Document] = []
    for doc in result.documents:
        finding = safety.check(doc.text, doc.url, doc.language) if safety else None
        if finding:
            safety_rejected.append(Rejection.of(doc, SAFETY, finding.reason, finding.detail))
        else:
            safe.append(doc)
    count(result.counts, SAFETY, len(safe), safety_rejected)
    quality_rejected: list[Rejection] = []
    kept: list[Document] = []
    lines_removed = changed = 0
    for doc in safe:
        verdict = check_quality(doc.text, doc.language, config.quality, stop_words)
        if verdict.finding:
            quality_rejected.append(
                Rejection.of(doc, quality.STAGE, verdict.finding.reason, verdict.finding.detail)
            )
            continue
        if verdict.lines_removed:
            lines_removed += verdict.lines_removed
            changed += 1
            doc = replace(doc, text=verdict.text, text_hash=text_hash(verdict.text))
        kept.append(doc)
    count(result.counts, quality.STAGE, len(kept), quality_rejected)
    if lines_removed:
        modify(
            result.counts, quality.STAGE, {"c4_lines_removed": lines_removed, "documents_cleaned": changed}
        )
    if config.pii.enabled:
        redactions: dict[str, int] = {}
        for i, doc in enumerate(kept):
            out = pii.redact(doc.text, config.pii)
            if out.counts:
                kept[i] = replace(doc, text=out.text, text_hash=text_hash(out.text))
                for kind, n in out.counts.items():
                    redactions[kind] = redactions.get(kind, 0) + n
                redactions["documents_redacted"] = redactions.get("documents_redacted", 0) + 1
        if redactions:
            modify(result.counts, pii.STAGE, redactions)
    count(result.counts, pii.STAGE, len(kept))
    result.documents = kept
    result.rejections = lang_rejected + safety_rejected + quality_rejected
    return result


def dedup_step(docs: Iterable[tuple[int, Document]], drops: dict[int, Decided]) -> StepResult:
    """Apply the global dedup decisions (URL, exact, then near) to (position, document) pairs of
    one unit (``drops``: see ``unit_drops``)."""
    result = StepResult([], [])
    rejected: dict[str, list[Rejection]] = {url.STAGE: [], exact.STAGE: [], near.STAGE: []}
    for position, doc in docs:
        decided = drops.get(position)
        if decided is None:
            result.documents.append(doc)
        else:
            stage, kept_id, similar, reason = decided
            detail = f"duplicate of {kept_id}" + (
                f" (similarity {similar:.3f})" if similar is not None else ""
            )
            rejected[stage].append(Rejection.of(doc, stage, reason, detail))
    # Each dedup stage sees what the one before kept: URL, then exact, then near.
    near_in = len(result.documents) + len(rejected[near.STAGE])
    exact_in = near_in + len(rejected[exact.STAGE])
    count(result.counts, url.STAGE, exact_in, rejected[url.STAGE])
    count(result.counts, exact.STAGE, near_in, rejected[exact.STAGE])
    count(result.counts, near.STAGE, len(result.documents), rejected[near.STAGE])
    result.rejections = rejected[url.STAGE] + rejected[exact.STAGE] + rejected[near.STAGE]
    return result


def unit_drops(drops: Iterable[Drop], config: PipelineConfig) -> dict[int, Decided]:
    """Position -> (stage, kept id, similarity or None, reason). With exact dedup off, its
    in-run decisions are ignored: identical texts are then near duplicates, and the near
    decision for a position must not be shadowed."""
    out: dict[int, Decided] = {}
    for drop in drops:
        position, stage, kept = drop[0], drop[1], drop[2]
        similar = drop[3] if len(drop) > 3 else None  # type: ignore[misc]
        reason = drop[4] if len(drop) > 4 else _DEDUP_REASONS[stage]  # type: ignore[misc]
        if stage == exact.STAGE and reason == exact.REASON and not config.dedup.exact:
            continue
        out[position] = (stage, kept, similar, reason)
    return out


@dataclass(frozen=True)
class PlannedShard:
    """One unit's documents of one split (and language), in their shard order: the unit's run,
    which ``corpus.shards.split.plan_cuts`` cuts into shards together with the other units' runs."""

    split: str
    language: str | None
    """Set when shards are routed by language (``shard.by_language``)."""
    ids: list[str]
    urls: list[str | None]
    tokens: list[np.ndarray]


def shard_step(
    docs: Iterable[Document], encoder: DocumentEncoder, config: PipelineConfig
) -> list[PlannedShard]:
    """Tokenize one unit's documents as they stream in (only ids, URLs, languages and tokens are
    kept, never all the text), order them by id hash, split them: one run per split (and
    language) that has documents. Shards are cut across units afterwards."""
    ids: list[str] = []
    urls: list[str | None] = []
    languages: list[str] = []
    tokens: list[np.ndarray] = []
    batch: list[Document] = []
    for doc in itertools.chain(docs, [None]):
        if doc is not None:
            batch.append(doc)
            ids.append(doc.id)
            urls.append(doc.url)
            languages.append(doc.language or "und")
        if batch and (doc is None or len(batch) == config.tokenizer.batch_size):
            tokens.extend(encoder.encode([d.text for d in batch]))
            batch = []
    order = order_by_id_hash(ids).tolist()
    runs: list[PlannedShard] = []
    routes = sorted(set(languages)) if config.shard.by_language else [None]
    for split in ("train", "val"):
        for language in routes:
            chosen = [
                i
                for i in order
                if split_of(ids[i], config.shard.val_fraction) == split
                and (language is None or languages[i] == language)
            ]
            if chosen:
                runs.append(
                    PlannedShard(
                        split,
                        language,
                        [ids[i] for i in chosen],
                        [urls[i] for i in chosen],
                        [tokens[i] for i in chosen],
                    )
                )
    return runs


def duplicate_decisions(members: Iterable[exact.Member]) -> list[tuple[int, Drop]]:
    """(file index, drop) for each dropped occurrence of one group of identical texts."""
    kept, dropped = exact.choose_keeper(members)
    return [(m[2], (m[3], exact.STAGE, kept[1])) for m in dropped]


def url_decisions(members: Iterable[url.Member]) -> list[tuple[int, Drop]]:
    """(file index, drop) for each dropped document of one group sharing a URL key."""
    kept, dropped = url.choose_keeper(members)
    return [(m[3], (m[4], url.STAGE, kept[2])) for m in dropped]
