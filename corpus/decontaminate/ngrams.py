"""Word n-grams as 128-bit keys, for a whole batch of texts at once.

An n-gram is ``n`` consecutive normalised words of one text (``corpus.decontaminate.normalize``);
its key is two 64-bit lanes, each a weighted sum of the words' hashes of that lane with
position weights, spread by MurmurHash3's finaliser; the second lane also takes the first, so
the 128 bits are one key. Keys are deterministic (no seed, no process state) and sort and travel
as 16 bytes (``key_bytes``: big-endian lane 1 then lane 2), the only thing about an n-gram that
goes through a shuffle.

A key is a hash, not the n-gram: ``corpus.decontaminate.index`` verifies every hit word for
word, so a collision can never make a match; 128 bits keep the corpus-wide counts of matched
keys exact in practice (a collision among a billion distinct n-grams has odds near 2^-68).
"""

from __future__ import annotations

import numpy as np

from corpus.decontaminate.config import MAX_NGRAM, MIN_NGRAM
from corpus.decontaminate.normalize import Words, fmix64

KEY_BYTES = 16

_U64 = np.uint64


def _splitmix(state: int, count: int) -> list[int]:
    out = []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) % (1 << 64)
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % (1 << 64)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % (1 << 64)
        out.append((z ^ (z >> 31)) | 1)  # odd: multiplication by it is a bijection mod 2^64
    return out


_WEIGHTS = (
    np.array(_splitmix(0x5EED0001, MAX_NGRAM), dtype=_U64),
    np.array(_splitmix(0x5EED0002, MAX_NGRAM), dtype=_U64),
)
_TIE = _U64(0xD6E8FEB86659FD93)


def _combine(lo: np.ndarray, hi: np.ndarray, starts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The two key lanes of the n-grams starting at word indices ``starts``."""
    acc1 = np.zeros(len(starts), dtype=_U64)
    acc2 = np.zeros(len(starts), dtype=_U64)
    for t in range(n):
        acc1 += lo[starts + t] * _WEIGHTS[0][t]
        acc2 += hi[starts + t] * _WEIGHTS[1][t]
    k1 = fmix64(acc1 ^ _U64(n))
    return k1, fmix64(acc2 + k1 * _TIE)


def check_ngram(n: int) -> None:
    if not MIN_NGRAM <= n <= MAX_NGRAM:
        raise ValueError(f"ngram must be within [{MIN_NGRAM}, {MAX_NGRAM}], got {n}")


def window_keys(words: Words, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lane 1, lane 2, first word) of every n-gram of every text of ``words``, in text order;
    ``first word`` indexes ``words`` (its text is ``searchsorted(words.offsets, k, 'right') - 1``)."""
    check_ngram(n)
    counts = np.diff(words.offsets)
    m = len(words) - n + 1
    if m <= 0:
        empty = np.zeros(0, dtype=_U64)
        return empty, empty, np.zeros(0, dtype=np.int64)
    text_of = np.repeat(np.arange(len(counts)), counts)
    starts = np.flatnonzero(text_of[:m] == text_of[n - 1 :])
    k1, k2 = _combine(words.lo, words.hi, starts, n)
    return k1, k2, starts


def sequence_keys(
    lo: np.ndarray, hi: np.ndarray, n: int, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The keys of the n-grams starting at ``starts`` of one sequence of word hashes (for
    n-grams across two texts: a question's last words and its answer's first)."""
    check_ngram(n)
    return _combine(lo, hi, np.asarray(starts, dtype=np.int64), n)


def straddling_starts(question_words: int, answer_words: int, n: int) -> np.ndarray:
    """Starts, in the question's words followed by the answer's, of the n-grams that hold at
    least one word of each."""
    first = max(0, question_words - n + 1)
    last = min(question_words - 1, question_words + answer_words - n)
    return np.arange(first, last + 1, dtype=np.int64)


def key_bytes(k1: np.ndarray, k2: np.ndarray) -> list[bytes]:
    """Each key as 16 bytes (lane 1 then lane 2, big-endian): sorts like the pair of lanes."""
    packed = np.empty((len(k1), 2), dtype=">u8")
    packed[:, 0] = k1
    packed[:, 1] = k2
    data = packed.tobytes()
    return [data[i : i + KEY_BYTES] for i in range(0, len(data), KEY_BYTES)]


def key_lanes(key: bytes) -> tuple[int, int]:
    """The two lanes of a 16-byte key."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"a key is {KEY_BYTES} bytes, got {len(key)}")
    return int.from_bytes(key[:8], "big"), int.from_bytes(key[8:], "big")
