"""Who stays in a group of near-duplicate candidates: a kept witness for every removal.

LSH proposes pairs, and pairs chain into components (A~B, B~C, while A and C differ). Keeping one
document per component, as connected-components dedup does, removes C although nothing that stays
resembles it. Here the members of a component are visited in keep-preference order: a member is
removed only when an already-kept member is verified similar to it (similarity >= threshold), the
most preferred such member being its *witness*; otherwise it stays. A decision is final when it
is made and a witness is always a kept member, so every member ends kept, or removed in favour of
a member that stays, whatever the size of the group.

Which kept members a member is compared with:

- While the group has computed at most ``max_checks`` similarities (counting the next member's
  worst case), *every* kept member, most preferred first. Pairs LSH did not propose are verified
  too, so no two kept members of such a group are above the threshold.
- After that (a group of many thousands of members), its *centres*: the kept members it shares an
  LSH bucket with (the same key in the same band), and the ``HEAVY`` kept members that have
  witnessed the most removals so far (a page copied a million times, whose copies need not all
  share a bucket with the copy that stays). Most preferred first, so the cost per member is
  bounded by its bucket-mates among the kept, not by the group.

Memory is what the kept members hold (their values and band keys), never the removed ones: the
members stream through ``Survivors.decide`` in keep order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

KEPT = -1
"""``Survivors.witness`` of a member that stays."""

HEAVY = 8
"""Kept members with the most removals that every member is compared with once ``max_checks``
is spent."""


@dataclass
class Survivors(Generic[T]):
    """Decides one group's members, fed one at a time in keep-preference order (``decide``)."""

    measure: Callable[[T, T], float]
    """Similarity of two members' values."""
    threshold: float
    max_checks: int
    witness: list[int] = field(default_factory=list)
    """Per member decided (in the order fed): the index of the kept member it duplicates, or ``KEPT``."""
    similarity: list[float] = field(default_factory=list)
    """Per member: its similarity to its witness (0.0 for a member that stays)."""
    checks: int = 0
    """Similarities computed."""
    by_centres: int = 0
    """Members decided against their centres only, once ``max_checks`` was spent."""
    _kept: list[int] = field(default_factory=list)
    _values: dict[int, T] = field(default_factory=dict)
    _buckets: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    _removals: dict[int, int] = field(default_factory=dict)
    _heavy: list[int] = field(default_factory=list)

    def decide(self, value: T, keys: Sequence[int] | None = None) -> tuple[int, float]:
        """(witness index or ``KEPT``, similarity) of the next member, given what ``measure``
        compares of it and its LSH band keys (one per band; None: it shares no bucket)."""
        i = len(self.witness)
        if self.checks + len(self._kept) <= self.max_checks and not self.by_centres:
            compared: Sequence[int] = self._kept
        else:
            self.by_centres += 1
            centres = set(self._heavy)
            for b, key in enumerate(keys if keys is not None else ()):
                centres.update(self._buckets.get((b, int(key)), ()))
            compared = sorted(centres)
        for k in compared:
            s = self.measure(value, self._values[k])
            self.checks += 1
            if s >= self.threshold:
                self.witness.append(k)
                self.similarity.append(s)
                self._count_removal(k)
                return k, s
        self.witness.append(KEPT)
        self.similarity.append(0.0)
        self._kept.append(i)
        self._values[i] = value
        self._removals[i] = 0
        for b, key in enumerate(keys if keys is not None else ()):
            self._buckets.setdefault((b, int(key)), []).append(i)
        return KEPT, 0.0

    def _count_removal(self, k: int) -> None:
        """Keep ``_heavy`` the ``HEAVY`` kept members with the most removals (ties: preferred)."""
        self._removals[k] += 1
        if k in self._heavy:
            return
        if len(self._heavy) < HEAVY:
            self._heavy.append(k)
            return
        weakest = min(self._heavy, key=lambda h: (self._removals[h], -h))
        if self._removals[k] > self._removals[weakest]:
            self._heavy[self._heavy.index(weakest)] = k


def choose_survivors(
    members: Sequence[T],
    similarity: Callable[[T, T], float],
    threshold: float,
    max_checks: int,
    keys: Sequence[Sequence[int]] | None = None,
) -> Survivors[T]:
    """Greedy survivors of a component, given what ``similarity`` compares of each member (a
    shingle set, a signature) in keep-preference order (the first is the most preferred), and
    optionally each member's LSH band keys."""
    out: Survivors[T] = Survivors(similarity, threshold, max_checks)
    for i, value in enumerate(members):
        out.decide(value, None if keys is None else keys[i])
    return out
