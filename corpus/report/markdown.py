"""The report's Markdown summary: the numbers of the HTML report, without plots or samples."""

from __future__ import annotations

from typing import Any

from corpus.report.facts import IO_HEADERS, TRAINING_HEADERS, VAL_PART_HEADERS, format_value, io_rows


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _cell(value: Any) -> str:
    return format_value(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    return [_row(headers), "| " + " | ".join("---" for _ in headers) + " |", *(_row(r) for r in rows), ""]


def render(facts: dict[str, Any], comparison: dict[str, Any] | None = None) -> str:
    docs = facts["summary"]["documents"]
    splits = facts["shards"]["splits"]
    lines = [
        f"# Corpus report: {facts['name']}",
        "",
        f"{facts['run']}: {docs['in']:,} documents in, {docs['kept']:,} kept, {docs['rejected']:,} rejected; "
        + ", ".join(f"{k} {v['tokens']:,} tokens in {v['shards']} shard(s)" for k, v in splits.items())
        + (f"; {facts['bytes_per_token']:.2f} bytes per token." if facts.get("bytes_per_token") else "."),
        "",
        "## Funnel",
        "",
    ]
    lines += _table(
        ["stage", "in", "kept", "rejected", "bytes left", "≈ tokens left"],
        [
            [r["stage"], r["in"], r["kept"], r["rejected"], r["bytes_after"], r["tokens_after_estimate"]]
            for r in facts["funnel"]
        ],
    )
    reasons = facts["rejected"]["reasons"]
    if reasons:
        lines += ["## Rejections", ""]
        bpt = facts.get("bytes_per_token")
        lines += _table(
            ["stage", "reason", "documents", "share of input", "≈ tokens lost"],
            [
                [
                    r["stage"],
                    r["reason"],
                    r["documents"],
                    f"{100 * r['documents'] / docs['in']:.1f}%",
                    round(r["bytes"] / bpt) if bpt else None,
                ]
                for r in reasons.values()
            ],
        )
    lines += ["## Languages (kept)", ""]
    lines += _table(
        ["language", "documents", "bytes"],
        [[k, v["documents"], v["bytes"]] for k, v in facts["kept"]["languages"].items()],
    )
    c = facts["clusters"]
    lines += [
        "## Duplicates",
        "",
        f"{c['clusters']:,} near-duplicate clusters holding {c['documents']:,} documents.",
        "",
    ]
    io = io_rows(facts.get("run_stats"))
    if io:
        lines += ["## Bytes read and written", ""]
        lines += _table(IO_HEADERS, io)
    if "crawl" in facts:
        crawl = facts["crawl"]
        lines += [
            "## Crawl",
            "",
            f"{crawl['folder']}: {crawl.get('fetched', 0):,} pages fetched in "
            f"{crawl.get('rounds', 0)} rounds, {crawl.get('urls', 0):,} URLs known.",
            "",
        ]
        lines += _table(["status", "URLs"], [list(x) for x in crawl.get("by_status", {}).items()])
    if "train" in facts:
        lines += ["## Training", ""]
        lines += _table(TRAINING_HEADERS, [facts["train"]["last"]])
        if facts["train"].get("val_parts"):
            lines += _table(VAL_PART_HEADERS, facts["train"]["val_parts"])
    if comparison is not None:
        lines += [f"## Compared with {comparison['other']}", ""]
        lines += _table(
            ["stage", "", "this", "other", "change"],
            [
                [r["stage"], r["what"], r["this"], r["other"], f"{r['change']:+,}"]
                for r in comparison["stages"]
            ],
        )
        lines += _table(
            ["stage/reason", "this", "other", "change"],
            [[r["reason"], r["this"], r["other"], f"{r['change']:+,}"] for r in comparison["reasons"]],
        )
    return "\n".join(lines).rstrip() + "\n"
