"""Exact dedup: among documents with the same normalised-text hash, keep the one whose id hashes
lowest (a choice independent of arrival order), drop the others as ``exact_duplicate``.

Only keys take part, never text, so the grouping can run in a shuffle. A member is
``(id_hash, id, file_index, position)``: the occurrence, not just the id, so that two copies of
the same record (a file read twice, a JSONL line repeated) are still one kept and one dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

STAGE = "exact_dedup"
REASON = "exact_duplicate"

Member = tuple[int, str, int, int]


def choose_keeper(members: Iterable[Member]) -> tuple[Member, list[Member]]:
    """(kept member, dropped members) among the members sharing one text hash."""
    ranked = sorted(members)
    return ranked[0], ranked[1:]
