"""Normalised words for matching evaluation items: the same rule on both sides, so formatting
(case, punctuation, digits, accents, line breaks, full-width forms) cannot hide a copy.

The rule, per code point of the original text (a table built once for every code point):

- *folded*: NFKD, without the optional diacritics listed below, case-folded, when that gives one
  character (``É`` -> ``e``, ``Ａ`` -> ``a``, ``²`` -> ``2``, ``ς`` -> ``σ``); otherwise the
  character's own case fold or lower case (Hangul syllables and kana with dakuten stay whole:
  their marks are not optional);
- *ignored* (transparent, inside or outside words): combining diacritics (U+0300-036F and the
  other "combining diacritical marks" blocks), Hebrew points, Arabic harakat, the soft hyphen,
  zero-width joiners and variation selectors. ``café`` written with a combining accent is
  ``cafe``; ``decon\\u00adtamination`` is one word. Other combining marks (Devanagari vowel signs,
  ...) are part of their word: they change its meaning;
- a *word* is a maximal run of letters, marks and non-decimal numbers (Unicode L, M, Nl, No);
- a *number* is a maximal run of decimal digits (Nd, any script), with ``.`` ``,`` and thin or
  narrow spaces between two digits inside it; every number is the one word ``0`` (digit runs
  folded: "3.14" and "2,718" and "1999" are alike) and is a word of its own, so "GPT-3" and
  "GPT3" both read ``gpt 0``;
- Chinese and Japanese are written without spaces, so each Han, Hiragana or Katakana character
  is a word on its own (as in ``corpus.dedup.shingles``): a 13-gram there is 13 characters, a
  clause rather than a sentence. Korean (Hangul) is written with spaces and splits like Latin
  text; Thai, Lao, Khmer and Myanmar split at spaces only (a phrase is one word);
- everything else (spaces, punctuation, symbols, line breaks) separates words.

Each word keeps its span in the original text (``start``, ``end``: Python string indices), so
a match maps back to the exact characters to cut. Words get two independent 64-bit hashes
(polynomial hashes of the folded code points, computed for a whole batch of texts at once with
numpy prefix sums, no Python loop over words); ``corpus.decontaminate.ngrams`` combines them
into 128-bit n-gram keys.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from corpus.dedup.shingles import token_spans

SEPARATOR, WORD, NUMBER, SINGLE, IGNORED = 0, 1, 2, 3, 4
NUMBER_WORD = "0"
"""What every number reads as."""

_U64 = np.uint64
_BASES = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F)
_SALTS = (0x165667B19E3779F9, 0x27D4EB2F165667C5)
# Both lanes of a number's hash: a constant no letter sequence is built to reach.
_NUMBER_HASH = (0x61C8864680B583EB, 0x94D049BB133111EB)
_INNER_NUMBER = {ord(c) for c in ".,\u066b\u066c\u2009\u202f"}
_IGNORED_RANGES = (
    (0x0300, 0x036F),  # combining diacritical marks
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
    (0x0591, 0x05C7),  # Hebrew points and accents (category Mn only, below)
    (0x0610, 0x061A),  # Arabic marks and harakat
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x06D6, 0x06ED),
    (0xFE00, 0xFE0F),  # variation selectors
    (0xE0100, 0xE01EF),
)
_IGNORED_FORMAT = {0x00AD, 0x200C, 0x200D, 0x2060, 0xFEFF}
# Code points worth a table entry: planes 0-3 and the variation selectors of plane 14; the rest
# is unassigned or private use (separators).
_TABLE_RANGES = ((0, 0x32400), (0xE0100, 0xE01F0))


def _is_single(cp: int) -> bool:
    return (
        0x3040 <= cp <= 0x30FF  # Hiragana, Katakana
        or 0x31F0 <= cp <= 0x31FF  # Katakana phonetic extensions
        or 0x3400 <= cp <= 0x4DBF  # CJK Extension A
        or 0x4E00 <= cp <= 0x9FFF  # CJK Unified Ideographs
        or 0xF900 <= cp <= 0xFAFF  # CJK Compatibility Ideographs
        or 0xFF66 <= cp <= 0xFF9F  # half-width Katakana
        or 0x20000 <= cp <= 0x323AF  # CJK Extensions B and later
    )


def _is_ignored(cp: int) -> bool:
    if cp in _IGNORED_FORMAT:
        return True
    return unicodedata.category(chr(cp)) == "Mn" and any(lo <= cp <= hi for lo, hi in _IGNORED_RANGES)


def _fold(ch: str) -> str:
    decomposed = unicodedata.normalize("NFKD", ch)
    folded = "".join(c for c in decomposed if not _is_ignored(ord(c))).casefold()
    if len(folded) == 1:
        return folded
    own = ch.casefold()
    return own if len(own) == 1 else ch.lower() if len(ch.lower()) == 1 else ch


def _class(cp: int, folded: str) -> int:
    if _is_ignored(cp):
        return IGNORED
    category = unicodedata.category(folded)
    if category == "Nd":
        return NUMBER
    if category[0] in "LMN":
        return SINGLE if _is_single(ord(folded)) else WORD
    return SEPARATOR


@lru_cache(maxsize=1)
def tables() -> tuple[np.ndarray, np.ndarray]:
    """(folded code point, class) of every code point, built once per process (about 0.5 s)."""
    folded = np.arange(0x110000, dtype=np.uint32)
    classes = np.zeros(0x110000, dtype=np.uint8)
    for lo, hi in _TABLE_RANGES:
        for cp in range(lo, hi):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            f = _fold(chr(cp))
            folded[cp] = ord(f)
            classes[cp] = _class(cp, f)
    return folded, classes


@lru_cache(maxsize=4)
def _powers(size: int, lane: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE^i and BASE^-i mod 2^64 for i < size (numpy's uint64 arithmetic wraps: the modulo)."""
    base = _BASES[lane]
    pw = np.full(size, base, dtype=_U64)
    inv = np.full(size, pow(base, -1, 1 << 64), dtype=_U64)
    pw[0] = inv[0] = 1
    return np.cumprod(pw, dtype=_U64), np.cumprod(inv, dtype=_U64)


def _powers_for(n: int, lane: int) -> tuple[np.ndarray, np.ndarray]:
    size = 1 << max(16, (n - 1).bit_length())
    pw, inv = _powers(size, lane)
    return pw[:n], inv[:n]


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads the bits of a polynomial hash."""
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


@dataclass(frozen=True)
class Words:
    """The words of a batch of texts: word ``j`` of text ``i`` is index ``offsets[i] + j``.

    ``start``/``end`` are the word's span in its own original text; ``lo``/``hi`` its two 64-bit
    hashes. ``word(k)`` is the normalised word itself (for verifying a match and for tests)."""

    start: np.ndarray
    end: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    offsets: np.ndarray
    folded: np.ndarray
    """The batch's folded code points without the ignored ones (``compact_start`` indexes it)."""
    compact_start: np.ndarray
    compact_end: np.ndarray
    number: np.ndarray
    """Whether word k is a number (reads ``0``)."""

    def __len__(self) -> int:
        return len(self.start)

    def count(self, text: int) -> int:
        return int(self.offsets[text + 1] - self.offsets[text])

    def word(self, k: int) -> str:
        if self.number[k]:
            return NUMBER_WORD
        return self.folded[self.compact_start[k] : self.compact_end[k]].tobytes().decode("utf-32-le")

    def words(self, text: int) -> list[str]:
        return [self.word(k) for k in range(int(self.offsets[text]), int(self.offsets[text + 1]))]


def words(texts: Sequence[str]) -> Words:
    """The normalised words of every text, in one vectorised pass over the whole batch."""
    folded_table, class_table = tables()
    # Texts joined by a newline (a separator), so no word spans two texts.
    joined = "\n".join(texts) + "\n"
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=len(texts))
    text_start = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=text_start[1:])

    cls = class_table[cps]
    kept = np.flatnonzero(cls != IGNORED)
    cls = cls[kept]
    original = cps[kept]
    folded = folded_table[original]
    # A "." or "," (or a thin space) between two digits belongs to the number.
    inner = np.isin(original[1:-1], list(_INNER_NUMBER)) & (cls[:-2] == NUMBER) & (cls[2:] == NUMBER)
    cls[1:-1][inner] = NUMBER
    n = len(cls)

    # A word is a run of letters or of digits (a class change ends it), a Han or kana character alone.
    cs, ce = token_spans(cls, (cls == WORD) | (cls == NUMBER), cls == SINGLE)
    number = cls[cs] == NUMBER

    lanes = []
    values = folded.astype(_U64) + _U64(1)
    for lane in (0, 1):
        pw, inv = _powers_for(n + 1, lane)
        prefix = np.zeros(n + 1, dtype=_U64)
        np.cumsum(values * pw[:n], out=prefix[1:])
        raw = (prefix[ce] - prefix[cs]) * inv[cs]
        raw[number] = _U64(_NUMBER_HASH[lane])
        lanes.append(fmix64(raw ^ _U64(_SALTS[lane])))

    # Back to original positions: a word starts at its first kept character and ends where the
    # next kept character is (so ignored marks right after the word belong to it).
    next_kept = np.append(kept, len(cps))
    start_joined = kept[cs]
    end_joined = next_kept[ce]
    text_of = np.searchsorted(text_start, start_joined, side="right") - 1
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(text_of, minlength=len(texts)), out=offsets[1:])
    return Words(
        start=start_joined - text_start[text_of],
        end=np.minimum(end_joined, text_start[text_of + 1] - 1) - text_start[text_of],
        lo=lanes[0],
        hi=lanes[1],
        offsets=offsets,
        folded=folded,
        compact_start=cs,
        compact_end=ce,
        number=number,
    )


def normalized_words(text: str) -> list[str]:
    """The normalised words of one text, as strings."""
    return words([text]).words(0)


def _in_word(text: str, i: int) -> bool:
    """Whether a cut at string index ``i`` would split a word (or tear a mark from its base)."""
    if i <= 0 or i >= len(text):
        return False
    _folded, class_table = tables()
    after = int(class_table[ord(text[i])])
    if after == IGNORED or unicodedata.category(text[i])[0] == "M":
        return True
    if after == SEPARATOR:
        return False
    j = i - 1
    while j >= 0 and class_table[ord(text[j])] == IGNORED:
        j -= 1
    before = int(class_table[ord(text[j])]) if j >= 0 else SEPARATOR
    if before == SEPARATOR:
        return False
    # Between two Han or kana characters is a word boundary; between letters or digits is not.
    return not (before == SINGLE or after == SINGLE)


def word_boundary_before(text: str, i: int) -> int:
    """The nearest word boundary at or before string index ``i``."""
    while _in_word(text, i):
        i -= 1
    return i


def word_boundary_after(text: str, i: int) -> int:
    """The nearest word boundary at or after string index ``i``."""
    while _in_word(text, i):
        i += 1
    return i
