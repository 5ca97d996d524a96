"""One real page copied many times with a different word changed in each: a giant near-duplicate
cluster (any two copies far above the threshold), generated on demand so that a million copies
cost no memory until they are read."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from typing import overload


class OneWordCopies(Sequence[str]):
    """``n`` copies of ``page``: copy j has its word at position ``j % words`` replaced by the
    ``j // words``-th word of ``vocabulary`` that differs from it, so every copy is distinct."""

    def __init__(self, page: str, vocabulary: Sequence[str], n: int) -> None:
        self.words = page.split(" ")
        self.vocabulary = sorted(set(vocabulary))
        if n > len(self.words) * (len(self.vocabulary) - 1):
            raise ValueError(f"{n} distinct copies need more words or a larger vocabulary")
        self.n = n

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, j: int) -> str: ...
    @overload
    def __getitem__(self, j: slice) -> list[str]: ...
    def __getitem__(self, j):
        if isinstance(j, slice):
            return [self[i] for i in range(*j.indices(self.n))]
        if not -self.n <= j < self.n:
            raise IndexError(j)
        j %= self.n
        position, k = j % len(self.words), j // len(self.words)
        original = self.words[position]
        at = bisect.bisect_left(self.vocabulary, original)
        if at < len(self.vocabulary) and self.vocabulary[at] == original and k >= at:
            k += 1  # skip the word itself: the k-th vocabulary word other than the original
        words = list(self.words)
        words[position] = self.vocabulary[k]
        return " ".join(words)


def vocabulary_of(texts: Sequence[str]) -> list[str]:
    """Lower-case words of four letters or more in ``texts`` (replacement words for the copies)."""
    return sorted({w for t in texts for w in re.findall(r"[a-z]{4,}", t)})


class Concatenated(Sequence[str]):
    """``first`` then ``second`` as one sequence, without copying either."""

    def __init__(self, first: Sequence[str], second: Sequence[str]) -> None:
        self.first, self.second = first, second

    def __len__(self) -> int:
        return len(self.first) + len(self.second)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return self.first[i] if i < len(self.first) else self.second[i - len(self.first)]
