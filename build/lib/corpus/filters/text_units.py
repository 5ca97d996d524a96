"""Words, lines and paragraphs of a document, the units the quality rules count.

A word is a run of letters, digits and marks (``don't``, ``e-mail`` and ``3.14`` stay one word),
except that each Han, Hiragana or Katakana character is a word of its own: Chinese and Japanese are
written without spaces, and ``str.split()`` would see a whole sentence as one word. Punctuation is
not a word. The same definition serves every language, so a rule's thresholds mean the same
thing everywhere; rules that only make sense with space-separated words (mean word length) are
skipped for languages written without spaces (``UNSEGMENTED``).
"""

from __future__ import annotations

import re
import unicodedata

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9d"


def _bmp_marks() -> str:
    """Combining marks (Unicode M*) of the Basic Multilingual Plane as a regex class body.

    Python's ``\\w`` leaves marks out, which would cut Hindi or Tamil words at every vowel sign.
    (Marks of scripts beyond the BMP, such as Brahmi, still split words.)"""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x10000):
        if unicodedata.category(chr(cp)).startswith("M"):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


_MARKS = _bmp_marks()
# A run of word characters (letters, digits, marks, and also _ and CJK, split below); a positive
# class keeps the regex engine on its fast path.
_RUN = re.compile(rf"[\w{_MARKS}]+(?:['’\-.][\w{_MARKS}]+)*")
_SPECIAL = re.compile(rf"[_{_CJK}]")
_SPLIT = re.compile(rf"[{_CJK}]|[^_{_CJK}]+")


UNSEGMENTED = frozenset({"ja", "zh", "th", "lo", "km", "my", "bo", "wuu", "yue"})
"""Languages written without spaces between words (lid.176 codes)."""

TERMINAL_PUNCTUATION = (".", "!", "?", '"', "”", "’", "'", "。", "！", "？", "…", "»", ":", ";", ")")
"""Line endings that close a sentence (C4 and FineWeb count lines that end in one)."""

BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "·", "‣", "⁃", "◦")


def words(text: str) -> list[str]:
    runs = _RUN.findall(text)
    if not _SPECIAL.search(text):
        return runs
    out: list[str] = []
    for run in runs:
        if not _SPECIAL.search(run):
            out.append(run)
            continue
        for part in _SPLIT.findall(run):
            part = part.strip("'’-.")
            if part:
                out.append(part)
    return out


def lines(text: str) -> list[str]:
    """Non-empty lines, stripped."""
    return [s for s in (line.strip() for line in text.split("\n")) if s]


def paragraphs(text: str) -> list[str]:
    """Blocks separated by a blank line, stripped."""
    return [s for s in (p.strip() for p in re.split(r"\n\s*\n", text)) if s]
