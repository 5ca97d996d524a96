"""Quality heuristics: the published rule sets, re-implemented from their papers' descriptions.

- Gopher quality and repetition (Rae et al., 2021, "Scaling Language Models", appendix A):
  document length, mean word length, symbol ratios, bullet and ellipsis lines, alphabetic words,
  stop words; duplicate lines and paragraphs, top n-grams and duplicated n-grams.
- C4 (Raffel et al., 2020, section 2.2): lines without terminal punctuation or with fewer than
  3 words, lines mentioning JavaScript or cookie/terms policies are removed (line-level cleaning:
  the document stays); "lorem ipsum", a curly brace, or fewer than 5 sentences drop the document.
- FineWeb (Penedo et al., 2024, section 3.3): share of lines ending in punctuation, share of short
  lines, characters in duplicated lines, and list-like documents (newlines per word).

Each rule has its own reason (``gopher_short_doc``, ``c4_lorem_ipsum``, ``fineweb_short_lines``,
...) and a detail with the measured value and the threshold. A rule set is a function
``(text, language, config) -> Finding | None``; ``check_quality`` runs the enabled ones in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.config import QualityConfig
from corpus.errors import InputError
from corpus.filters.text_units import BULLETS, TERMINAL_PUNCTUATION, UNSEGMENTED, lines, paragraphs, words

STAGE = "quality"

GOPHER_STOP_WORDS = {"en": frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})}
"""The paper's stop words (English only; other languages take a list from the config)."""

_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
_SENTENCE_END = re.compile(r"[.!?。！？]+(?=\s|$)")


def load_stop_words(folder: str) -> dict[str, frozenset[str]]:
    """The paper's English list, plus ``<lang>.txt`` files (one word per line) from ``folder``."""
    lists = dict(GOPHER_STOP_WORDS)
    if not folder:
        return lists
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"{folder}: quality.stop_words_dir is not a folder")
    for file in sorted(path.glob("*.txt")):
        words_ = {w.strip().lower() for w in file.read_text("utf-8").splitlines() if w.strip()}
        if not words_:
            raise InputError(f"{file}: empty stop-word list")
        lists[file.stem] = frozenset(words_)
    return lists


@dataclass(frozen=True)
class Finding:
    reason: str
    detail: str


def _over(reason: str, value: float, limit: float) -> Finding:
    return Finding(reason, f"{value:.3f} > {limit}")


def _under(reason: str, value: float, limit: float) -> Finding:
    return Finding(reason, f"{value:.3f} < {limit}")


# --- Gopher quality -------------------------------------------------------------------------------


def gopher_quality(
    text: str, language: str | None, c: QualityConfig, stop_words: dict[str, frozenset[str]] | None = None
) -> Finding | None:
    ws = words(text)
    n = len(ws)
    if n < c.gopher_min_words:
        return Finding("gopher_short_doc", f"{n} words < {c.gopher_min_words}")
    if n > c.gopher_max_words:
        return Finding("gopher_long_doc", f"{n} words > {c.gopher_max_words}")
    if language not in UNSEGMENTED:
        mean = sum(map(len, ws)) / n
        if mean < c.gopher_min_mean_word_length:
            return _under("gopher_below_avg_word_length", mean, c.gopher_min_mean_word_length)
        if mean > c.gopher_max_mean_word_length:
            return _over("gopher_above_avg_word_length", mean, c.gopher_max_mean_word_length)
    hashes = text.count("#") / n
    if hashes > c.gopher_max_symbol_word_ratio:
        return _over("gopher_too_many_hashes", hashes, c.gopher_max_symbol_word_ratio)
    ellipses = (text.count("...") + text.count("…")) / n
    if ellipses > c.gopher_max_symbol_word_ratio:
        return _over("gopher_too_many_ellipsis", ellipses, c.gopher_max_symbol_word_ratio)
    ls = lines(text)
    if ls:
        bullets = sum(1 for line in ls if line.startswith(BULLETS)) / len(ls)
        if bullets > c.gopher_max_bullet_lines_ratio:
            return _over("gopher_too_many_bullets", bullets, c.gopher_max_bullet_lines_ratio)
        trailing = sum(1 for line in ls if line.endswith(("...", "…"))) / len(ls)
        if trailing > c.gopher_max_ellipsis_lines_ratio:
            return _over("gopher_too_many_end_ellipsis", trailing, c.gopher_max_ellipsis_lines_ratio)
    alpha = sum(1 for w in ws if any(map(str.isalpha, w))) / n  # map: the scan runs in C
    if alpha < c.gopher_min_alpha_words_ratio:
        return _under("gopher_below_alpha_threshold", alpha, c.gopher_min_alpha_words_ratio)
    stops = (stop_words or GOPHER_STOP_WORDS).get(language or "")
    if stops and c.gopher_min_stop_words > 0:
        found = sum(1 for w in ws if w.lower() in stops)
        if found < c.gopher_min_stop_words:
            return Finding("gopher_few_stop_words", f"{found} stop words < {c.gopher_min_stop_words}")
    return None


# --- Gopher repetition ----------------------------------------------------------------------------


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(items that repeat an earlier one, their characters)."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


_MIX = np.array([0x9E3779B97F4A7C15 * (2 * t + 1) % (1 << 64) | 1 for t in range(10)], dtype=np.uint64)


def _ngram_codes(ids: np.ndarray, n: int) -> np.ndarray:
    """A dense code per word n-gram: equal n-grams get equal codes (64-bit mix, then np.unique)."""
    m = len(ids) - n + 1
    acc = np.zeros(m, dtype=np.uint64)
    v = ids.astype(np.uint64) + np.uint64(1)
    with np.errstate(over="ignore"):
        for t in range(n):
            acc = (acc ^ (v[t : t + m] * _MIX[t])) * np.uint64(0xBF58476D1CE4E5B9)
    _, codes = np.unique(acc, return_inverse=True)
    return codes.reshape(-1)


def gopher_repetition(text: str, language: str | None, c: QualityConfig) -> Finding | None:
    total_chars = len(text)
    units = (
        ("line", lines(text), c.gopher_max_dup_line_fraction, c.gopher_max_dup_line_char_fraction),
        ("para", paragraphs(text), c.gopher_max_dup_para_fraction, c.gopher_max_dup_para_char_fraction),
    )
    for unit, items, max_fraction, max_char_fraction in units:
        if not items:
            continue
        dup, dup_chars = _duplicates(items)
        if dup / len(items) > max_fraction:
            return _over(f"gopher_dup_{unit}_fraction", dup / len(items), max_fraction)
        if total_chars and dup_chars / total_chars > max_char_fraction:
            return _over(f"gopher_dup_{unit}_char_fraction", dup_chars / total_chars, max_char_fraction)
    ws = words(text)
    if len(ws) < 2 or language in UNSEGMENTED:
        # Word n-grams of one-character words (Chinese, Japanese) repeat by nature: the
        # n-gram rules are for space-separated languages.
        return None
    vocab: dict[str, int] = {}
    ids = np.fromiter((vocab.setdefault(w, len(vocab)) for w in ws), dtype=np.int64, count=len(ws))
    lengths = np.fromiter((len(w) for w in ws), dtype=np.int64, count=len(ws))
    all_chars = int(lengths.sum())
    prefix = np.concatenate([[0], np.cumsum(lengths)])
    for n, limit in zip((2, 3, 4), c.gopher_top_ngram_char_fractions, strict=True):
        if len(ws) < n:
            break
        codes = _ngram_codes(ids, n)
        counts = np.bincount(codes)
        top = int(counts.argmax())
        if counts[top] < 2:
            continue
        first = int(np.flatnonzero(codes == top)[0])
        chars = int(prefix[first + n] - prefix[first]) * int(counts[top])
        if chars / all_chars > limit:
            return _over(f"gopher_top_{n}_gram", chars / all_chars, limit)
    for n, limit in zip(range(5, 11), c.gopher_dup_ngram_char_fractions, strict=True):
        if len(ws) < n:
            break
        codes = _ngram_codes(ids, n)
        first = np.full(int(codes.max()) + 1, len(codes), dtype=np.int64)
        np.minimum.at(first, codes, np.arange(len(codes)))
        repeated = first[codes] != np.arange(len(codes))
        if not repeated.any():
            continue
        # Characters of the words inside a repeat of an earlier n-gram (the first occurrence is
        # not a duplicate, as for lines), each word counted once however many repeats cover it.
        cover = np.zeros(len(ws) + 1, dtype=np.int64)
        starts = np.flatnonzero(repeated)
        np.add.at(cover, starts, 1)
        np.add.at(cover, starts + n, -1)
        covered = np.cumsum(cover[:-1]) > 0
        chars = int(lengths[covered].sum())
        if chars / all_chars > limit:
            return _over(f"gopher_dup_{n}_gram", chars / all_chars, limit)
    return None


# --- C4 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cleaned:
    text: str
    lines_removed: int
    finding: Finding | None = None


def c4_clean(text: str, language: str | None, c: QualityConfig) -> Cleaned:
    """Drop bad lines (C4's line rules), then judge what is left."""
    lowered = text.lower()
    if c.c4_lorem_ipsum and "lorem ipsum" in lowered:
        return Cleaned(text, 0, Finding("c4_lorem_ipsum", "contains 'lorem ipsum'"))
    if c.c4_curly_bracket and "{" in text:
        return Cleaned(text, 0, Finding("c4_curly_bracket", "contains '{'"))
    kept: list[str] = []
    removed = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped:
            kept.append(line)
            continue
        low = stripped.lower()
        bad = (
            (c.c4_terminal_punctuation and not stripped.endswith(TERMINAL_PUNCTUATION))
            or (language not in UNSEGMENTED and len(words(stripped)) < c.c4_min_words_per_line)
            or (c.c4_javascript and "javascript" in low)
            or (c.c4_policy and any(p in low for p in _POLICY))
            or any(len(w) > c.c4_max_word_length for w in stripped.split())
        )
        if bad:
            removed += 1
        else:
            kept.append(line)
    cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    if not cleaned:
        return Cleaned(cleaned, removed, Finding("c4_no_lines_left", f"all {removed} lines removed"))
    sentences = len(_SENTENCE_END.findall(cleaned))
    if sentences < c.c4_min_sentences:
        return Cleaned(
            cleaned, removed, Finding("c4_few_sentences", f"{sentences} sentences < {c.c4_min_sentences}")
        )
    return Cleaned(cleaned, removed)


# --- FineWeb --------------------------------------------------------------------------------------


def fineweb_quality(text: str, language: str | None, c: QualityConfig) -> Finding | None:
    ls = lines(text)
    if not ls:
        return Finding("fineweb_empty", "no lines")
    punct = sum(1 for line in ls if line.endswith(TERMINAL_PUNCTUATION)) / len(ls)
    if punct < c.fineweb_min_line_punct_ratio:
        return _under("fineweb_line_punct_ratio", punct, c.fineweb_min_line_punct_ratio)
    short = sum(1 for line in ls if len(line) <= c.fineweb_short_line_length) / len(ls)
    if short > c.fineweb_max_short_line_ratio:
        return _over("fineweb_short_lines", short, c.fineweb_max_short_line_ratio)
    _, dup_chars = _duplicates(ls)
    total = sum(len(line) for line in ls)
    if total and dup_chars / total > c.fineweb_max_dup_line_char_ratio:
        return _over("fineweb_char_dup_ratio", dup_chars / total, c.fineweb_max_dup_line_char_ratio)
    n_words = len(words(text))
    ratio = text.count("\n") / max(1, n_words)
    if ratio > c.fineweb_max_newline_word_ratio:
        return _over("fineweb_list_ratio", ratio, c.fineweb_max_newline_word_ratio)
    return None


# --- all of them ----------------------------------------------------------------------------------


def check_quality(
    text: str, language: str | None, c: QualityConfig, stop_words: dict[str, frozenset[str]] | None = None
) -> Cleaned:
    """The enabled rule sets in FineWeb's order: Gopher repetition, Gopher quality, C4 (whose line
    cleaning changes the text the later rules see), FineWeb. The first finding drops the document."""
    if c.gopher_repetition and (f := gopher_repetition(text, language, c)):
        return Cleaned(text, 0, f)
    if c.gopher_quality and (f := gopher_quality(text, language, c, stop_words)):
        return Cleaned(text, 0, f)
    removed = 0
    if c.c4:
        cleaned = c4_clean(text, language, c)
        if cleaned.finding:
            return cleaned
        text, removed = cleaned.text, cleaned.lines_removed
    if c.fineweb and (f := fineweb_quality(text, language, c)):
        return Cleaned(text, removed, f)
    return Cleaned(text, removed)
