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

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9d"
_WORD = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+(?:['’\-.][^\W_{_CJK}]+)*")

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
