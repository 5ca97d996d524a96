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


def _mark_ranges() -> str:
    """Combining marks (Unicode M*) as a regex class body: Python's ``\\w`` leaves them out, which
    would cut Hindi, Tamil or vowelled Arabic words at every vowel sign."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x110000):
        if unicodedata.category(chr(cp)).startswith("M"):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in ranges)


_MARKS = _mark_ranges()
_LETTER = rf"(?:[^\W_{_CJK}]|[{_MARKS}])"
_WORD = re.compile(rf"[{_CJK}]|{_LETTER}+(?:['’\-.]{_LETTER}+)*")

UNSEGMENTED = frozenset({"ja", "zh", "th", "lo", "km", "my", "bo", "wuu", "yue"})
"""Languages written without spaces between words (lid.176 codes)."""

TERMINAL_PUNCTUATION = (".", "!", "?", '"', "”", "’", "'", "。", "！", "？", "…", "»", ":", ";", ")")
"""Line endings that close a sentence (C4 and FineWeb count lines that end in one)."""

BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "·", "‣", "⁃", "◦")


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def lines(text: str) -> list[str]:
    """Non-empty lines, stripped."""
    return [s for s in (line.strip() for line in text.split("\n")) if s]


def paragraphs(text: str) -> list[str]:
    """Blocks separated by a blank line, stripped."""
    return [s for s in (p.strip() for p in re.split(r"\n\s*\n", text)) if s]
