"""Exact dedup: among documents with the same normalised-text hash, keep the one whose id hashes
lowest (a choice independent of arrival order), drop the others as ``exact_duplicate``.

Only (text_hash, id_hash, id) keys take part, never text, so the grouping can run in a shuffle.
"""

from __future__ import annotations

from collections.abc import Iterable

STAGE = "exact_dedup"
REASON = "exact_duplicate"


def choose_keeper(members: Iterable[tuple[int, str]]) -> tuple[str, list[str]]:
    """(kept id, dropped ids) among the (id_hash, id) pairs sharing one text hash."""
    ranked = sorted(set(members))
    return ranked[0][1], [doc_id for _, doc_id in ranked[1:]]
