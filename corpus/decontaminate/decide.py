"""What happens to a document that matches: kept, dropped (``contaminated``) or excised.

``decide(text, matches, config, ignore)`` takes a document's matches
(``EvalIndex.find``) less those whose key is in ``ignore`` (n-grams matched in more than
``max_corpus_frequency`` documents of the corpus: ``frequent_keys``) and applies ``mode``:

- ``drop``: any match rejects the document with reason ``contaminated``; the detail names the
  source file, the row, the field and the n-gram of the first match;
- ``excise`` (GPT-3's rule): each match is cut with ``excise_chars`` characters each side,
  widened to whole words (never a cut inside a word) and over the whitespace at its edges;
  overlapping or touching cuts merge; the pieces left are joined by one newline, each piece
  byte for byte the original's. A document needing more than ``max_cuts`` cuts, or left with
  fewer than ``min_chars`` characters, is dropped (reason ``contaminated``, the detail says
  which).

``Tally`` adds the outcomes up per source (items matched, documents hit, bytes removed, the
documents per matched n-gram) for the summary and the report, merges across workers, and
``check_removed_share`` stops a run that would remove more than ``max_removed_share`` of the
corpus's bytes, naming the source that caused it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from corpus.decontaminate.config import REASON, DecontaminateConfig
from corpus.decontaminate.index import EvalIndex, Match, top_ngrams
from corpus.decontaminate.normalize import word_boundary_after, word_boundary_before
from corpus.errors import InputError

KEEP, DROP, EXCISE = "keep", "drop", "excise"
JOINER = "\n"


@dataclass(frozen=True)
class Decision:
    action: str
    """``keep``, ``drop`` or ``excise``."""
    text: str
    """The text that goes on: the excised text; the original when kept or dropped (a rejected
    record carries it)."""
    reason: str | None = None
    """``contaminated`` when dropped."""
    detail: str | None = None
    bytes_removed: int = 0
    """UTF-8 bytes that leave the corpus: the whole document when dropped; when excised, the
    original's bytes less the new text's (the joining newlines included)."""
    cuts: tuple[tuple[int, int], ...] = ()
    """Spans of the original text cut out (``excise``)."""
    matches: tuple[Match, ...] = ()
    """The matches that counted (not ignored)."""


def frequent_keys(key_documents: Mapping[bytes, int], max_corpus_frequency: int) -> frozenset[bytes]:
    """Keys matched in more than ``max_corpus_frequency`` documents: not evidence."""
    return frozenset(k for k, count in key_documents.items() if count > max_corpus_frequency)


def decide(
    text: str, matches: Sequence[Match], config: DecontaminateConfig, ignore: Container[bytes] = frozenset()
) -> Decision:
    counted = tuple(m for m in matches if m.key not in ignore)
    if not counted:
        return Decision(KEEP, text)
    evidence = _evidence(counted)
    size = len(text.encode("utf-8", "surrogatepass"))
    if config.mode == DROP:
        return Decision(DROP, text, REASON, evidence, size, matches=counted)
    cuts = tuple(excise_spans(text, counted, config.excise_chars))
    if len(cuts) > config.max_cuts:
        detail = f"needs {len(cuts)} cuts (max_cuts {config.max_cuts}); {evidence}"
        return Decision(DROP, text, REASON, detail, size, cuts, counted)
    new = cut(text, cuts)
    if len(new) < config.min_chars:
        left = f"{len(new)} characters left after {_count(len(cuts), 'cut')}"
        detail = f"{left} (min_chars {config.min_chars}); {evidence}"
        return Decision(DROP, text, REASON, detail, size, cuts, counted)
    removed = size - len(new.encode("utf-8", "surrogatepass"))
    return Decision(EXCISE, new, None, evidence, removed, cuts, counted)


def excise_spans(text: str, matches: Iterable[Match], margin: int) -> list[tuple[int, int]]:
    """The merged spans to cut: each match and ``margin`` characters each side, widened to word
    boundaries and over adjacent whitespace."""
    spans = []
    for m in matches:
        start = word_boundary_before(text, max(0, m.start - margin))
        end = word_boundary_after(text, min(len(text), m.end + margin))
        while start > 0 and text[start - 1].isspace():
            start -= 1
        while end < len(text) and text[end].isspace():
            end += 1
        spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def kept_spans(text: str, cuts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The non-empty spans of ``text`` between the cuts."""
    out, last = [], 0
    for start, end in cuts:
        if start > last:
            out.append((last, start))
        last = end
    if last < len(text):
        out.append((last, len(text)))
    return out


def cut(text: str, cuts: Sequence[tuple[int, int]]) -> str:
    """``text`` without the cuts, its pieces joined by one newline."""
    return JOINER.join(text[s:e] for s, e in kept_spans(text, cuts))


def _evidence(matches: Sequence[Match]) -> str:
    first = min(matches, key=lambda m: (m.start, m.origin.source, m.origin.row))
    keys = {m.key for m in matches}
    items = {i for m in matches for i in m.items}
    return (
        f"{first.origin.describe()} ({_count(len(keys), 'matched n-gram')} from {_count(len(items), 'item')})"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass
class SourceTally:
    rows: set[int] = field(default_factory=set)
    """Rows of the source matched by a counted n-gram somewhere (``items matched``)."""
    documents: int = 0
    """Documents dropped or excised because of the source."""
    bytes_removed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "items_matched": len(self.rows),
            "documents": self.documents,
            "bytes_removed": self.bytes_removed,
        }


@dataclass
class Tally:
    """The stage's counts: what went in, what each source removed, documents per matched key.

    A document hit by several sources counts in each of them (a source's row says what it alone
    removes), once in the totals."""

    documents: int = 0
    bytes: int = 0
    dropped: int = 0
    excised: int = 0
    bytes_removed: int = 0
    by_source: dict[str, SourceTally] = field(default_factory=dict)
    key_documents: Counter[bytes] = field(default_factory=Counter)
    """Documents whose counted matches include each key (the report's top n-grams)."""

    def add(self, text: str, decision: Decision, index: EvalIndex) -> None:
        self.documents += 1
        self.bytes += len(text.encode("utf-8", "surrogatepass"))
        if decision.action == KEEP:
            return
        self.dropped += decision.action == DROP
        self.excised += decision.action == EXCISE
        self.bytes_removed += decision.bytes_removed
        rows_by_source: dict[str, set[int]] = {}
        for m in decision.matches:
            for i in m.items:
                item = index.items[i]
                rows_by_source.setdefault(item.source, set()).add(item.row)
        for source, rows in rows_by_source.items():
            tally = self.by_source.setdefault(source, SourceTally())
            tally.rows |= rows
            tally.documents += 1
            tally.bytes_removed += decision.bytes_removed
        self.key_documents.update({m.key for m in decision.matches})

    def merge(self, other: Tally) -> Tally:
        self.documents += other.documents
        self.bytes += other.bytes
        self.dropped += other.dropped
        self.excised += other.excised
        self.bytes_removed += other.bytes_removed
        for source, theirs in other.by_source.items():
            mine = self.by_source.setdefault(source, SourceTally())
            mine.rows |= theirs.rows
            mine.documents += theirs.documents
            mine.bytes_removed += theirs.bytes_removed
        self.key_documents.update(other.key_documents)
        return self

    def as_dict(self, index: EvalIndex, top: int = 20) -> dict:
        """Plain, sorted values for the summary and the report (deterministic)."""
        return {
            "documents": self.documents,
            "bytes": self.bytes,
            "dropped": self.dropped,
            "excised": self.excised,
            "bytes_removed": self.bytes_removed,
            "sources": {
                source: {**stats.__dict__, **self.by_source.get(source, SourceTally()).as_dict()}
                for source, stats in index.stats.items()
            },
            "top_ngrams": [
                {"source": o.source, "row": o.row, "field": o.field, "ngram": o.ngram, "documents": count}
                for o, count in top_ngrams(self.key_documents, index, top)
            ],
        }


def check_removed_share(tally: Tally, config: DecontaminateConfig, index: EvalIndex) -> None:
    """Raise InputError naming the source when decontamination would remove more than
    ``max_removed_share`` of the corpus's bytes."""
    if not tally.bytes or tally.bytes_removed <= config.max_removed_share * tally.bytes:
        return
    source, worst = max(tally.by_source.items(), key=lambda kv: (kv[1].bytes_removed, kv[0]))
    keys = Counter(
        {k: c for k, c in tally.key_documents.items() if any(o.source == source for o in index.origins(k))}
    )
    top = top_ngrams(keys, index, 1)
    example = f'; its most matched n-gram, in {top[0][1]} documents: "{top[0][0].ngram}"' if top else ""
    raise InputError(
        "decontaminate.max_removed_share: decontamination would remove "
        f"{tally.bytes_removed / tally.bytes:.2%} of the corpus's bytes, more than "
        f"{config.max_removed_share:.2%}; most by {source} "
        f"({worst.bytes_removed / tally.bytes:.2%}, {worst.documents} documents, {len(worst.rows)} items "
        f"matched{example}). Such a source brings false positives (templates, licence text, quotes): "
        "check it, narrow decontaminate.fields, lower max_corpus_frequency, or raise max_removed_share"
    )
