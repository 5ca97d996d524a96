"""Two runs side by side: documents per stage and per rejection reason, and what changed."""

from __future__ import annotations

from typing import Any


def compare(this: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Rows of (name, this run's count, the other's, this minus other) per stage and reason."""
    stages_a = {s["stage"]: s for s in this["summary"]["stages"]}
    stages_b = {s["stage"]: s for s in other["summary"]["stages"]}
    stage_rows = []
    for stage in list(stages_a) + [s for s in stages_b if s not in stages_a]:
        a, b = stages_a.get(stage, {}), stages_b.get(stage, {})
        for what in ("kept", "rejected"):
            x, y = a.get(what, 0), b.get(what, 0)
            stage_rows.append({"stage": stage, "what": what, "this": x, "other": y, "change": x - y})
    reasons_a, reasons_b = this["rejected"]["reasons"], other["rejected"]["reasons"]
    reason_rows = []
    for key in sorted(set(reasons_a) | set(reasons_b)):
        x = reasons_a.get(key, {}).get("documents", 0)
        y = reasons_b.get(key, {}).get("documents", 0)
        reason_rows.append({"reason": key, "this": x, "other": y, "change": x - y})
    reason_rows.sort(key=lambda r: (-abs(r["change"]), r["reason"]))
    tokens_a = sum(s["tokens"] for s in this["shards"]["shards"])
    tokens_b = sum(s["tokens"] for s in other["shards"]["shards"])
    return {
        "other": other["run"],
        "documents": {
            "this": this["summary"]["documents"]["kept"],
            "other": other["summary"]["documents"]["kept"],
        },
        "tokens": {"this": tokens_a, "other": tokens_b},
        "stages": stage_rows,
        "reasons": reason_rows,
    }
