"""Per-stage accounting: every document that enters is kept or rejected with a reason.

``StageCounts`` are plain dicts so Beam can sum them across workers; ``build_summary`` checks
that they add up (in = kept + rejected within a stage, kept of one stage = in of the next).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from corpus.errors import InputError
from corpus.records import Rejection

STAGES = (
    "read",
    "extract",
    "language",
    "safety",
    "quality",
    "pii",
    "url_dedup",
    "exact_dedup",
    "near_dedup",
    "shard",
)
"""In the order documents pass them: the filters first, then dedup among what they kept, so a
duplicate is only removed in favour of a document that is in the corpus."""

StageCounts = dict[str, dict[str, Any]]
"""{stage: {"in": int, "kept": int, "rejected": {reason: int}}}, plus "_skipped": {kind: int}."""


def count(counts: StageCounts, stage: str, kept: int = 0, rejected: Iterable[Rejection] = ()) -> None:
    entry = counts.setdefault(stage, {"in": 0, "kept": 0, "rejected": {}})
    reasons = Counter(r.reason for r in rejected)
    entry["kept"] += kept
    entry["in"] += kept + sum(reasons.values())
    for reason, n in reasons.items():
        entry["rejected"][reason] = entry["rejected"].get(reason, 0) + n


def modify(counts: StageCounts, stage: str, changes: dict[str, int]) -> None:
    """Count changes a stage made to documents it kept (e.g. lines removed by C4 cleaning)."""
    entry = counts.setdefault(stage, {"in": 0, "kept": 0, "rejected": {}})
    into = entry.setdefault("modified", {})
    for name, n in changes.items():
        into[name] = into.get(name, 0) + n


def merge(parts: Iterable[StageCounts]) -> StageCounts:
    total: StageCounts = {}
    for part in parts:
        for stage, entry in part.items():
            into = total.setdefault(stage, {"in": 0, "kept": 0, "rejected": {}})
            into["in"] += entry["in"]
            into["kept"] += entry["kept"]
            for reason, n in entry["rejected"].items():
                into["rejected"][reason] = into["rejected"].get(reason, 0) + n
            if "modified" in entry:
                modify(total, stage, entry["modified"])
    return total


class SummaryError(InputError):
    """The counts do not add up: a document was lost or counted twice."""


def build_summary(counts: StageCounts, skipped: dict[str, int], extra: dict[str, Any]) -> dict[str, Any]:
    stages = []
    previous_kept: int | None = None
    for stage in STAGES:
        entry = counts.get(stage, {"in": 0, "kept": 0, "rejected": {}})
        rejected = sum(entry["rejected"].values())
        if entry["in"] != entry["kept"] + rejected:
            raise SummaryError(f"{stage}: in {entry['in']} != kept {entry['kept']} + rejected {rejected}")
        if previous_kept is not None and entry["in"] != previous_kept:
            raise SummaryError(f"{stage}: in {entry['in']} != kept {previous_kept} of the stage before")
        previous_kept = entry["kept"]
        stages.append(
            {
                "stage": stage,
                "in": entry["in"],
                "kept": entry["kept"],
                "rejected": rejected,
                "rejected_by_reason": dict(sorted(entry["rejected"].items())),
                **({"modified": dict(sorted(entry["modified"].items()))} if entry.get("modified") else {}),
            }
        )
    total_in = stages[0]["in"]
    total_rejected = sum(s["rejected"] for s in stages)
    return {
        "documents": {"in": total_in, "kept": previous_kept or 0, "rejected": total_rejected},
        "stages": stages,
        "records_skipped": dict(sorted(skipped.items())),
        **extra,
    }
