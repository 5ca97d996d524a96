"""Who stays in a group of near-duplicate candidates: a kept witness for every removal.

LSH proposes pairs, and pairs chain into components (A~B, B~C, while A and C differ). Keeping one
document per component, as connected-components dedup does, removes C although nothing that stays
resembles it. Here the members of a component are visited in keep-preference order: a member is
removed only when an already-kept member is verified similar to it (similarity >= threshold), the
most preferred such member being its *witness*; otherwise it stays. Every pair this needs is
verified, whether LSH proposed it or not, so no pair of kept members of a component is above the
threshold either.

The cost is at most one check per (member, kept member) pair. A component is bounded by
``max_checks``: once they are spent, the members not yet visited stay (no removal without a
witness) and are counted as undecided, so a pathological component costs bounded time and is
reported, not silently half-deduplicated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

KEPT = -1
"""``Survivors.witness`` of a member that stays."""


@dataclass
class Survivors:
    witness: list[int]
    """Per member (in the order given): the index of the kept member it duplicates, or ``KEPT``."""
    similarity: list[float]
    """Per member: its similarity to its witness (0.0 for a member that stays)."""
    checks: int = 0
    """Similarities computed."""
    undecided: int = 0
    """Members that stay because ``max_checks`` was spent before they could be checked."""


def choose_survivors(
    members: Sequence[T], similarity: Callable[[T, T], float], threshold: float, max_checks: int
) -> Survivors:
    """Greedy survivors of a component, given what ``similarity`` compares of each member (a
    shingle set, a signature), in keep-preference order: the first is the most preferred."""
    n = len(members)
    out = Survivors([KEPT] * n, [0.0] * n)
    kept: list[int] = []
    for i in range(n):
        if out.checks + len(kept) > max_checks:
            out.undecided = n - i
            break
        for k in kept:
            s = similarity(members[i], members[k])
            out.checks += 1
            if s >= threshold:
                out.witness[i], out.similarity[i] = k, s
                break
        else:
            kept.append(i)
    return out
