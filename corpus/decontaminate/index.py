"""The evaluation index: every n-gram of the user's evaluation items, by 128-bit key, and where
it came from (source, row, field, the n-gram as written) for the rejection detail and the report.

Built once per run from ``corpus.decontaminate.sources`` items; small (the evaluation side is
small: about 24 bytes per n-gram plus the items' text), so every worker holds it whole, and it
pickles (a Beam side input or a DoFn attribute).

An item's n-grams are those of each of its field texts, and for a row with a question and an
answer also the n-grams that straddle the two (``EvalItem.qa_pairs``). A text with fewer than
``ngram`` words gives no n-gram of its own: a short answer ("Paris") would match everywhere;
``SourceStats.short_texts`` counts them so the report can say what cannot be detected.

``find(text)`` returns every match in a document: each window of ``ngram`` normalised words
whose key is in the index *and* whose words equal the indexed n-gram's words (verified word for
word, so a hash collision never makes a match), with its span in the original text: from the
first word's first character to the last word's last, Python string indices.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from corpus.decontaminate.ngrams import check_ngram, key_bytes, sequence_keys, straddling_starts, window_keys
from corpus.decontaminate.normalize import Words, words
from corpus.decontaminate.sources import EvalItem, Files, load_items

_SPACES = re.compile(r"\s+")
_CACHE_ITEMS = 4096
BATCH_CHARS = 1 << 20
"""Characters matched in one vectorised pass (a longer document takes a pass of its own)."""


@dataclass(frozen=True)
class Origin:
    """Where an indexed n-gram comes from."""

    source: str
    row: int
    field: str
    """The field, or ``question+answer`` (the two names) for a straddling n-gram."""
    ngram: str
    """The n-gram as the item writes it (whitespace runs one space)."""

    def describe(self) -> str:
        return f'{self.source} row {self.row} ({self.field}): "{self.ngram}"'


@dataclass(frozen=True)
class Match:
    """One window of a document that is an indexed n-gram."""

    start: int
    end: int
    """Span of the window in the document's original text (string indices)."""
    key: bytes
    """The n-gram's 16-byte key (what the stage counts across the corpus)."""
    origin: Origin
    """The first item holding the n-gram (sources sorted, then rows)."""
    items: tuple[int, ...]
    """Every item holding it: indices into ``EvalIndex.items``."""


@dataclass(frozen=True)
class SourceStats:
    items: int
    """Rows with at least one non-empty chosen field."""
    indexed_items: int
    """Items with at least one n-gram (the rest are all too short to detect)."""
    ngrams: int
    """Indexed n-grams (an n-gram repeated within or across items counts each time)."""
    short_texts: int
    """Field texts with fewer than ``ngram`` words (no n-gram of their own)."""


class EvalIndex:
    """Key -> origins of every n-gram of the evaluation items; ``find`` matches documents."""

    def __init__(self, items: Sequence[EvalItem], ngram: int = 13) -> None:
        check_ngram(ngram)
        self.items = list(items)
        self.ngram = ngram
        self._cache: dict[int, Words] = {}
        parts, short = [], []
        for first, last in _chunks([sum(len(t) for _, t in item.fields) for item in self.items]):
            chunk_parts, chunk_short = self._entries(first, last)
            parts += chunk_parts
            short.append(chunk_short)
        if parts:
            e1, e2, e_item, e_part, e_start = (np.concatenate(column) for column in zip(*parts, strict=True))
        else:
            e1 = e2 = np.zeros(0, dtype=np.uint64)
            e_item = e_part = e_start = np.zeros(0, dtype=np.int64)
        order = np.lexsort((e_start, e_part, e_item, e2, e1))
        self._e_item = e_item[order].astype(np.int32)
        self._e_part = e_part[order].astype(np.int32)
        self._e_start = e_start[order].astype(np.int32)
        e1, e2 = e1[order], e2[order]
        changes = (e1[1:] != e1[:-1]) | (e2[1:] != e2[:-1])
        first_of_key = np.flatnonzero(np.r_[True, changes]) if len(e1) else np.zeros(0, dtype=np.int64)
        self._k1, self._k2 = e1[first_of_key], e2[first_of_key]
        self._ptr = np.append(first_of_key, len(e1)).astype(np.int64)

        stats: dict[str, list[int]] = {}
        ngrams_of_item = np.bincount(self._e_item, minlength=len(self.items))
        short_of_item = np.concatenate(short) if short else np.zeros(0, dtype=np.int64)
        for i, item in enumerate(self.items):
            s = stats.setdefault(item.source, [0, 0, 0, 0])
            s[0] += 1
            s[1] += int(ngrams_of_item[i] > 0)
            s[2] += int(ngrams_of_item[i])
            s[3] += int(short_of_item[i])
        self.stats = {source: SourceStats(*values) for source, values in sorted(stats.items())}

    def _entries(self, first: int, last: int) -> tuple[list[tuple[np.ndarray, ...]], np.ndarray]:
        """(k1, k2, item, part, start) arrays of items ``first`` to ``last - 1``, and how many
        of each item's texts are too short for an n-gram."""
        n, items = self.ngram, self.items[first:last]
        texts = [text for item in items for _, text in item.fields]
        first_text = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum([len(item.fields) for item in items], out=first_text[1:])
        w = words(texts)
        counts = np.diff(w.offsets)
        text_item = np.repeat(np.arange(len(items)), np.diff(first_text))
        k1, k2, starts = window_keys(w, n)
        text_of = np.searchsorted(w.offsets, starts, side="right") - 1
        item_of = text_item[text_of]
        parts = [(k1, k2, item_of + first, text_of - first_text[item_of], starts - w.offsets[text_of])]
        for i, item in enumerate(items):
            for pair, (q, a) in enumerate(item.qa_pairs()):
                qt, at = int(first_text[i]) + q, int(first_text[i]) + a
                q_len, a_len = int(counts[qt]), int(counts[at])
                q_tail, a_head = min(q_len, n - 1), min(a_len, n - 1)
                if q_tail == 0 or a_head == 0 or q_tail + a_head < n:
                    continue
                q_words = slice(int(w.offsets[qt + 1]) - q_tail, int(w.offsets[qt + 1]))
                a_words = slice(int(w.offsets[at]), int(w.offsets[at]) + a_head)
                lo = np.concatenate([w.lo[q_words], w.lo[a_words]])
                hi = np.concatenate([w.hi[q_words], w.hi[a_words]])
                s = straddling_starts(q_tail, a_head, n)
                s1, s2 = sequence_keys(lo, hi, n, s)
                part = np.full(len(s), len(item.fields) + pair, dtype=np.int64)
                parts.append((s1, s2, np.full(len(s), first + i, dtype=np.int64), part, s + (q_len - q_tail)))
        short = np.add.reduceat((counts < n).astype(np.int64), first_text[:-1])
        return parts, short

    @classmethod
    def load(
        cls, sources: Sequence[str], fields: Sequence[str] = (), ngram: int = 13, files: Files | None = None
    ) -> EvalIndex:
        """The index of the evaluation sets ``sources`` name (see ``load_items``)."""
        return cls(load_items(sources, fields, files), ngram)

    def __len__(self) -> int:
        """Distinct n-grams."""
        return len(self._k1)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_cache"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _cache={})

    # --- the indexed n-grams -----------------------------------------------------------------

    def _item_words(self, item: int) -> Words:
        found = self._cache.get(item)
        if found is None:
            if len(self._cache) >= _CACHE_ITEMS:
                self._cache.clear()
            found = self._cache[item] = words([text for _, text in self.items[item].fields])
        return found

    def _entry(self, e: int) -> tuple[list[str], Origin]:
        """The normalised words of entry ``e`` and its origin."""
        i, part, start, n = int(self._e_item[e]), int(self._e_part[e]), int(self._e_start[e]), self.ngram
        item = self.items[i]
        w = self._item_words(i)
        if part < len(item.fields):
            name, text = item.fields[part]
            k = int(w.offsets[part]) + start
            shown = text[w.start[k] : w.end[k + n - 1]]
            return [w.word(j) for j in range(k, k + n)], Origin(item.source, item.row, name, _one_line(shown))
        q, a = item.qa_pairs()[part - len(item.fields)]
        kq, ka = int(w.offsets[q]) + start, int(w.offsets[a])
        in_question = int(w.offsets[q + 1]) - kq
        in_answer = n - in_question
        normalised = [w.word(j) for j in range(kq, kq + in_question)] + [
            w.word(j) for j in range(ka, ka + in_answer)
        ]
        q_text, a_text = item.fields[q][1], item.fields[a][1]
        shown = (
            q_text[w.start[kq] : w.end[kq + in_question - 1]]
            + " "
            + a_text[w.start[ka] : w.end[ka + in_answer - 1]]
        )
        field = f"{item.fields[q][0]}+{item.fields[a][0]}"
        return normalised, Origin(item.source, item.row, field, _one_line(shown))

    def origins(self, key: bytes) -> list[Origin]:
        """Every indexed occurrence of the n-gram ``key`` (for the report)."""
        u = self._find_key(int.from_bytes(key[:8], "big"), int.from_bytes(key[8:], "big"))
        return [] if u is None else [self._entry(e)[1] for e in range(self._ptr[u], self._ptr[u + 1])]

    def _find_key(self, k1: int, k2: int) -> int | None:
        u = int(np.searchsorted(self._k1, np.uint64(k1)))
        while u < len(self._k1) and int(self._k1[u]) == k1:
            if int(self._k2[u]) == k2:
                return u
            u += 1
        return None

    # --- matching documents ------------------------------------------------------------------

    def find(self, text: str) -> list[Match]:
        """Every match in one document, by start (see the module docstring)."""
        return self.find_batch([text])[0]

    def find_batch(self, texts: Sequence[str]) -> list[list[Match]]:
        """Every match of each document of a batch: one vectorised pass per ``BATCH_CHARS`` of
        text (the arrays of a pass take about 100 bytes a character)."""
        out: list[list[Match]] = []
        for first, last in _chunks([len(t) for t in texts]):
            out += self._find_chunk(texts[first:last])
        return out

    def _find_chunk(self, texts: Sequence[str]) -> list[list[Match]]:
        out: list[list[Match]] = [[] for _ in texts]
        if not len(self._k1):
            return out
        w = words(texts)
        d1, d2, starts = window_keys(w, self.ngram)
        pos = np.searchsorted(self._k1, d1)
        maybe = np.flatnonzero(self._k1[np.minimum(pos, len(self._k1) - 1)] == d1)
        text_of = np.searchsorted(w.offsets, starts[maybe], side="right") - 1
        keys = key_bytes(d1[maybe], d2[maybe])
        n = self.ngram
        for j, t, key in zip(maybe.tolist(), text_of.tolist(), keys, strict=True):
            u = self._find_key(int(d1[j]), int(d2[j]))
            if u is None:
                continue
            first = int(self._ptr[u])
            normalised, origin = self._entry(first)
            s = int(starts[j])
            if [w.word(k) for k in range(s, s + n)] != normalised:
                continue  # a hash collision, not the n-gram
            items = tuple(sorted(set(self._e_item[first : self._ptr[u + 1]].tolist())))
            out[t].append(Match(int(w.start[s]), int(w.end[s + n - 1]), key, origin, items))
        return out

    def matched_keys(self, text: str) -> list[bytes]:
        """The distinct keys a document matches, sorted: what the stage counts across the corpus
        (``max_corpus_frequency``)."""
        return keys_of(self.find(text))


def keys_of(matches: Iterable[Match]) -> list[bytes]:
    """The distinct keys of a document's matches, sorted."""
    return sorted({m.key for m in matches})


def top_ngrams(
    key_documents: Counter[bytes] | dict[bytes, int], index: EvalIndex, k: int = 20
) -> list[tuple[Origin, int]]:
    """The ``k`` n-grams matched in the most documents (ties by key), with their counts: what
    the report shows so a user sees what decided."""
    ranked = sorted(key_documents.items(), key=lambda kv: (-kv[1], kv[0]))
    out = []
    for key, count in ranked:
        origins = index.origins(key)
        if origins:
            out.append((origins[0], count))
        if len(out) == k:
            break
    return out


def _chunks(sizes: Sequence[int]) -> list[tuple[int, int]]:
    """(first, last) index ranges whose sizes add up to at most ``BATCH_CHARS`` (or one element)."""
    out, first, total = [], 0, 0
    for i, size in enumerate(sizes):
        if i > first and total + size > BATCH_CHARS:
            out.append((first, i))
            first, total = i, 0
        total += size
    if first < len(sizes):
        out.append((first, len(sizes)))
    return out


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()
