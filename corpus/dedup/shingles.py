"""Shingles for near-dedup: hashed word n-grams (or character n-grams), many documents at once.

The definition, applied identically everywhere (signatures, exact-Jaccard verification, the
benchmark's brute-force ground truth in ``reference_shingles``):

- text is lower-cased (``str.lower``);
- a *word* is a maximal run of letters, digits and combining marks (Unicode categories L, N, M),
  except that each Han, Hiragana or Katakana character is a word on its own, because Chinese and
  Japanese are written without spaces; every other character (space, punctuation, symbol)
  separates words;
- a word shingle is ``n`` consecutive words; a document with 1 to ``n - 1`` words has one shingle,
  all its words (so short documents can still match); a document with no word has none;
- a character shingle is ``n`` consecutive characters of the text with each run of separators
  turned into one space.

Each shingle is hashed to 64 bits. The work is vectorised: a whole batch of documents is turned
into one array of code points, word boundaries and hashes come from numpy prefix sums, so there
is no Python loop over words or shingles.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

SEPARATOR, WORD, SINGLE = 0, 1, 2
_U64 = np.uint64
# Odd multipliers (a polynomial hash mod 2^64 needs an odd base to have an inverse).
_BASE = 0x9E3779B97F4A7C15
_BASE_INV = pow(_BASE, -1, 1 << 64)
# Position weights for combining n word hashes (or n characters) into one shingle hash.
_WEIGHTS = np.array(
    [(0xD6E8FEB86659FD93 * (2 * i + 1) + 0x2545F4914F6CDD1D * i) % (1 << 64) | 1 for i in range(64)],
    dtype=_U64,
)
MAX_NGRAM = len(_WEIGHTS)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads the bits of a (weak) polynomial hash."""
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


def _char_class(cp: int) -> int:
    ch = chr(cp)
    cat = unicodedata.category(ch)
    if cat[0] not in "LNM":
        return SEPARATOR
    name_block = (
        0x3040 <= cp <= 0x30FF  # Hiragana, Katakana
        or 0x3400 <= cp <= 0x4DBF  # CJK Extension A
        or 0x4E00 <= cp <= 0x9FFF  # CJK Unified Ideographs
        or 0xF900 <= cp <= 0xFAFF  # CJK Compatibility Ideographs
        or 0xFF66 <= cp <= 0xFF9D  # half-width Katakana
        or 0x20000 <= cp <= 0x3FFFF  # CJK Extensions B and later
    )
    return SINGLE if name_block else WORD


@lru_cache(maxsize=1)
def char_classes() -> np.ndarray:
    """Class of every code point (SEPARATOR, WORD or SINGLE), built once (about 0.5 s)."""
    table = np.zeros(0x110000, dtype=np.uint8)
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        table[cp] = _char_class(cp)
    return table


@lru_cache(maxsize=2)
def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE^i and BASE^-i mod 2^64 for i < n (numpy's uint64 arithmetic wraps, which is the modulo)."""
    with np.errstate(over="ignore"):
        pw = np.full(n, _BASE, dtype=_U64)
        pw[0] = 1
        inv = np.full(n, _BASE_INV, dtype=_U64)
        inv[0] = 1
        return np.cumprod(pw, dtype=_U64), np.cumprod(inv, dtype=_U64)


def _powers_for(n: int) -> tuple[np.ndarray, np.ndarray]:
    size = 1 << max(16, (n - 1).bit_length())
    pw, inv = _powers(size)
    return pw[:n], inv[:n]


def _code_points(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Lower-cased texts joined by a separator as one uint32 array, and each text's start in it."""
    lowered = [t.lower() for t in texts]
    joined = "\n".join(lowered) + "\n"
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    lengths = np.fromiter((len(t) + 1 for t in lowered), dtype=np.int64, count=len(texts))
    starts = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return cps, starts


def _combine(values: np.ndarray, doc_of: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hash every run of ``n`` consecutive values that lies inside one document.

    Returns (hashes, document index of each); runs are in document order."""
    m = len(values) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=_U64), np.zeros(0, dtype=np.int64)
    with np.errstate(over="ignore"):
        acc = values[:m] * _WEIGHTS[0]
        for t in range(1, n):
            acc = acc + values[t : t + m] * _WEIGHTS[t]
    inside = doc_of[:m] == doc_of[n - 1 : n - 1 + m]
    return fmix64(acc[inside]), doc_of[:m][inside]


def _short_documents(
    values: np.ndarray, doc_of: np.ndarray, n_docs: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """One shingle of all words for each document with 1 to n - 1 words."""
    counts = np.bincount(doc_of, minlength=n_docs)
    short = np.flatnonzero((counts > 0) & (counts < n))
    if not len(short):
        return np.zeros(0, dtype=_U64), np.zeros(0, dtype=np.int64)
    first = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(counts, out=first[1:])
    out = np.zeros(len(short), dtype=_U64)
    with np.errstate(over="ignore"):
        for t in range(n - 1):
            has = counts[short] > t
            idx = first[short[has]] + t
            out[has] = out[has] + values[idx] * _WEIGHTS[t]
    # A distinct tag so that a 3-word document never equals a 5-word shingle by construction.
    return fmix64(out ^ _U64(0x5BD1E9955BD1E995)), short


def token_spans(cls: np.ndarray, runs: np.ndarray, singles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of every token of a class array, in order: each maximal run of one class
    where ``runs`` is set (a word), and each position where ``singles`` is set on its own (a CJK
    character)."""
    n = len(cls)
    same_prev = np.zeros(n, dtype=bool)
    same_prev[1:] = runs[1:] & (cls[1:] == cls[:-1])
    same_next = np.zeros(n, dtype=bool)
    same_next[:-1] = same_prev[1:]
    alone = np.flatnonzero(singles)
    starts = np.concatenate([np.flatnonzero(runs & ~same_prev), alone])
    ends = np.concatenate([np.flatnonzero(runs & ~same_next) + 1, alone + 1])
    order = np.argsort(starts, kind="stable")
    return starts[order], ends[order]


def word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hash of every word of every text, and the text index of each word, in order."""
    cps, starts = _code_points(texts)
    cls = char_classes()[cps]
    n = len(cps)
    word_start, word_end = token_spans(cls, cls == WORD, cls == SINGLE)
    pw, inv = _powers_for(n + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(n + 1, dtype=_U64)
        np.cumsum((cps.astype(_U64) + _U64(1)) * pw[:n], out=prefix[1:])
        raw = (prefix[word_end] - prefix[word_start]) * inv[word_start]
    doc_of = np.searchsorted(starts, word_start, side="right") - 1
    return fmix64(raw), doc_of


def shingle_hashes(texts: Sequence[str], ngram: int = 5, kind: str = "word") -> tuple[np.ndarray, np.ndarray]:
    """(hashes, offsets): the 64-bit shingle hashes of text i are ``hashes[offsets[i]:offsets[i+1]]``.

    Hashes within a text are in text order and may repeat (a repeated shingle); use
    ``unique_per_document`` for sets."""
    if not 1 <= ngram <= MAX_NGRAM:
        raise ValueError(f"ngram must be within [1, {MAX_NGRAM}], got {ngram}")
    if not texts:
        return np.zeros(0, dtype=_U64), np.zeros(1, dtype=np.int64)
    if kind not in ("word", "char"):
        raise ValueError(f"shingle kind must be 'word' or 'char', got {kind!r}")
    values, doc_of = word_hashes(texts) if kind == "word" else _collapsed_chars(texts)
    full, full_doc = _combine(values, doc_of, ngram)
    if ngram > 1:
        short, short_doc = _short_documents(values, doc_of, len(texts), ngram)
    else:
        short, short_doc = np.zeros(0, dtype=_U64), np.zeros(0, dtype=np.int64)
    hashes = np.concatenate([full, short])
    doc = np.concatenate([full_doc, short_doc])
    order = np.argsort(doc, kind="stable")
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(doc, minlength=len(texts)), out=offsets[1:])
    return hashes[order], offsets


def _collapsed_chars(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Code points with each run of separators as one space, trimmed; and each one's text index."""
    cps, starts = _code_points(texts)
    cls = char_classes()[cps]
    sep = cls == SEPARATOR
    doc_of = np.searchsorted(starts, np.arange(len(cps)), side="right") - 1
    prev_sep = np.empty(len(cps), dtype=bool)
    prev_sep[0] = True
    prev_sep[1:] = sep[:-1]
    prev_sep[starts] = True  # a text's leading separators are dropped
    keep = ~sep | ~prev_sep
    values = np.where(sep, np.uint32(32), cps)[keep].astype(_U64)
    doc_of = doc_of[keep]
    # Drop one trailing space per text (the joined separator or the text's own trailing run).
    last = np.ones(len(values), dtype=bool)
    last[:-1] = doc_of[1:] != doc_of[:-1]
    trailing = last & (values == 32)
    values, doc_of = values[~trailing], doc_of[~trailing]
    return fmix64(values + _U64(1)), doc_of


def unique_per_document(hashes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted set of hashes of each document, as (hashes, offsets) again."""
    parts = [np.unique(hashes[offsets[i] : offsets[i + 1]]) for i in range(len(offsets) - 1)]
    new_offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=new_offsets[1:])
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=_U64)), new_offsets


def reference_shingles(text: str, ngram: int = 5, kind: str = "word") -> set[tuple[str, ...]]:
    """The same shingle definition in plain Python (slow): for tests and brute-force ground truth."""
    lowered = text.lower()
    table = char_classes()
    if kind == "char":
        out_chars: list[str] = []
        for ch in lowered:
            if table[ord(ch)] == SEPARATOR:
                if out_chars and out_chars[-1] != " ":
                    out_chars.append(" ")
            else:
                out_chars.append(ch)
        if out_chars and out_chars[-1] == " ":
            out_chars.pop()
        items: list[str] = out_chars
    else:
        items = []
        current: list[str] = []
        for ch in lowered:
            c = table[ord(ch)]
            if c == WORD:
                current.append(ch)
                continue
            if current:
                items.append("".join(current))
                current = []
            if c == SINGLE:
                items.append(ch)
        if current:
            items.append("".join(current))
    if not items:
        return set()
    if len(items) < ngram:
        return {("<short>", *items)}
    return {tuple(items[i : i + ngram]) for i in range(len(items) - ngram + 1)}
