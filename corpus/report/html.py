"""The report as one self-contained HTML file: inline CSS and SVG, no script, no request to
anything outside the file. Every piece of run data is HTML-escaped (documents are web pages:
a sample may well contain ``<script>``)."""

from __future__ import annotations

from html import escape
from typing import Any

from corpus.report import plots
from corpus.report.facts import (
    IO_HEADERS,
    LENGTH_EDGES,
    TRAINING_HEADERS,
    VAL_PART_HEADERS,
    format_value,
    io_rows,
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d232a;background:#fbfbf9}
header{background:#1f3b4d;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}nav{padding:8px 28px;background:#e9eef0;font-size:13px}
nav a{margin-right:14px;color:#1f3b4d}main{padding:8px 28px 40px;max-width:1100px}
section{margin-top:26px}h2{border-bottom:2px solid #d5dde0;padding-bottom:4px;font-size:18px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{padding:3px 10px;border-bottom:1px solid #e3e6e8;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border:1px solid #dde3e6;border-radius:6px;
padding:10px 14px;min-width:150px}.card b{display:block;font-size:20px}.plot{margin:10px 0}
.plot svg{max-width:100%;height:auto}pre{white-space:pre-wrap;background:#fff;border:1px solid #e3e6e8;
padding:8px;max-height:260px;overflow:auto;font-size:12px}details{margin:6px 0}summary{cursor:pointer}
.cols{display:flex;gap:30px;flex-wrap:wrap}.muted{color:#66727a}.plus{color:#2f7d4f}.minus{color:#b5452f}
"""


def _n(value: Any) -> str:
    return escape(format_value(value))


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric if numeric is not None else set(range(1, len(headers)))
    head = "".join(
        f'<th class="{"n" if i in numeric else ""}">{escape(h)}</th>' for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"n" if i in numeric else ""}">{_n(v)}</td>' for i, v in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _plot(svg: str, name: str) -> str:
    return f'<div class="plot" data-plot="{escape(name)}">{svg}</div>'


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def render(facts: dict[str, Any], comparison: dict[str, Any] | None = None) -> str:
    sections = [
        ("overview", "Overview", _overview(facts)),
        ("funnel", "Funnel", _funnel(facts)),
        ("rejections", "Rejections", _rejections(facts)),
        ("languages", "Languages", _languages(facts)),
        ("lengths", "Lengths", _lengths(facts)),
        ("quality", "Values against thresholds", _thresholds(facts)),
        ("duplicates", "Duplicates", _duplicates(facts)),
        ("domains", "Domains", _domains(facts)),
        ("shards", "Shards", _shards(facts)),
        ("io", "Bytes read and written", _io(facts)),
        ("samples", "Samples", _samples(facts)),
    ]
    if "crawl" in facts:
        sections.append(("crawl", "Crawl", _crawl(facts["crawl"])))
    if "train" in facts:
        sections.append(("training", "Training", _training(facts["train"])))
    if comparison is not None:
        sections.append(("compare", "Compared with another run", _compare(comparison)))
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title, _ in sections)
    body = "".join(
        f'<section id="{key}"><h2>{escape(title)}</h2>{html}</section>' for key, title, html in sections
    )
    docs = facts["summary"]["documents"]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        # No request may leave the file: this policy makes the browser refuse any that would.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Corpus report: {escape(facts['name'])}</title><style>{CSS}</style></head><body>"
        f"<header><h1>Corpus report: {escape(facts['name'])}</h1>"
        f"<p>{escape(facts['run'])} · {_n(docs['in'])} documents in, {_n(docs['kept'])} kept, "
        f"{_n(docs['rejected'])} rejected</p></header><nav>{nav}</nav><main>{body}</main></body></html>\n"
    )


def _overview(f: dict) -> str:
    docs = f["summary"]["documents"]
    splits = f["shards"]["splits"]
    tokens = sum(s["tokens"] for s in splits.values())
    cards = [
        ("documents in", _n(docs["in"])),
        ("kept", f"{_n(docs['kept'])} ({_share(docs['kept'], docs['in'])})"),
        ("rejected", _n(docs["rejected"])),
        ("tokens", _n(tokens)),
        ("bytes per token", f"{f['bytes_per_token']:.2f}" if f.get("bytes_per_token") else "—"),
        ("vocabulary", _n(f["tokenizer"]["vocab_size"])),
    ]
    stats = f.get("run_stats") or {}
    if stats.get("wall_seconds"):
        cards.append(("wall time", f"{stats['wall_seconds']:.1f} s ({escape(str(stats.get('engine')))})"))
    html = '<div class="cards">' + "".join(f'<div class="card">{escape(k)}<b>{v}</b></div>' for k, v in cards)
    html += "</div>"
    html += _table(
        ["split", "shards", "documents", "tokens"],
        [[k, v["shards"], v["documents"], v["tokens"]] for k, v in splits.items()],
    )
    version = f.get("created_by", {})
    html += (
        f'<p class="muted">Written by {escape(str(version.get("package", "")))} '
        f"{escape(str(version.get('version', '')))}; tokenizer sha256 "
        f"{escape(str(f['tokenizer']['sha256']))}.</p>"
    )
    return html


def _io(f: dict) -> str:
    rows = io_rows(f.get("run_stats"))
    if not rows:
        return '<p class="muted">No byte counts in run_stats.json.</p>'
    return _table(IO_HEADERS, rows) + (
        '<p class="muted">Counted where the job reads and writes files (pipelines/files.py). Read '
        "amplification: bytes the dedup tasks read of the key tables ÷ the tables' size (1 = each "
        "byte once; below 1 where ids are read only for the kept copies).</p>"
    )


def _funnel(f: dict) -> str:
    rows = [
        [
            r["stage"],
            r["in"],
            r["kept"],
            r["rejected"],
            r["bytes_rejected"],
            r["bytes_after"],
            r["tokens_after_estimate"],
        ]
        for r in f["funnel"]
    ]
    return (
        _plot(plots.funnel(f["funnel"]), "funnel")
        + _table(["stage", "in", "kept", "rejected", "bytes rejected", "bytes left", "≈ tokens left"], rows)
        + '<p class="muted">Tokens are counted for kept documents only; ≈ tokens left is the bytes of '
        "text left divided by the kept corpus's bytes per token.</p>"
    )


def _rejections(f: dict) -> str:
    reasons = f["rejected"]["reasons"]
    if not reasons:
        return "<p>No document was rejected.</p>"
    total_in = f["summary"]["documents"]["in"]
    bpt = f.get("bytes_per_token")
    rows = [
        [
            r["stage"],
            r["reason"],
            r["documents"],
            _share(r["documents"], total_in),
            r["bytes"],
            round(r["bytes"] / bpt) if bpt else None,
        ]
        for r in reasons.values()
    ]
    labels = [f"{r['stage']}: {r['reason']}" for r in reasons.values()]
    return _plot(
        plots.horizontal_bars(
            labels, [r["documents"] for r in reasons.values()], "Rejections by reason", "documents"
        ),
        "reasons",
    ) + _table(
        ["stage", "reason", "documents", "share of input", "bytes", "≈ tokens lost"], rows, {2, 3, 4, 5}
    )


def _languages(f: dict) -> str:
    langs = f["kept"]["languages"]
    total = sum(v["documents"] for v in langs.values())
    rows = [[k, v["documents"], _share(v["documents"], total), v["bytes"]] for k, v in langs.items()]
    threshold = f.get("config", {}).get("language", {}).get("min_score")
    by_language = {r["language"]: r for r in f["shards"].get("by_language", [])}
    for row in rows:
        row.append(by_language.get(row[0], {}).get("tokens"))
    html = _plot(
        plots.horizontal_bars(
            list(langs)[:25],
            [v["documents"] for v in langs.values()][:25],
            "Kept documents by language",
            "documents",
            plots.KEPT,
        ),
        "languages",
    )
    html += _table(["language", "documents", "share", "bytes", "tokens"], rows)
    if sum(f["kept"]["language_scores"]):
        html += _plot(plots.score_histogram(f["kept"]["language_scores"], threshold), "language_scores")
    return html


def _lengths(f: dict) -> str:
    return _plot(
        plots.length_histograms(
            LENGTH_EDGES, f["kept"]["length_histogram"], f["rejected"]["length_histogram"]
        ),
        "lengths",
    )


def _thresholds(f: dict) -> str:
    parts = []
    for r in f["rejected"]["reasons"].values():
        if r["values"] and r["threshold"] is not None:
            title = f"{r['stage']}: {r['reason']} ({len(r['values']):,} measured)"
            parts.append(
                _plot(
                    plots.values_against_threshold(r["values"], r["threshold"], r["comparison"], title),
                    f"values-{r['reason']}",
                )
            )
    if not parts:
        return "<p>No rejection recorded a measured value.</p>"
    return (
        '<p class="muted">The measured value of each rejected document (from its rejection detail) '
        "against the threshold that rejected it: a crowd just past the line is where a threshold "
        "choice matters most.</p>" + "".join(parts)
    )


def _duplicates(f: dict) -> str:
    c = f["clusters"]
    near = f["summary"].get("near_dedup", {})
    html = _table(
        ["clusters", "documents in clusters", "groups decided", "similarities computed", "kept undecided"],
        [[c["clusters"], c["documents"], near.get("groups"), near.get("checks"), near.get("kept_undecided")]],
        set(range(5)),
    )
    if c["size_distribution"]:
        html += _plot(plots.cluster_sizes(c["size_distribution"]), "cluster_sizes")
        html += "<h3>Largest clusters</h3>" + _table(
            ["cluster id (its kept document)", "size", "removed"],
            [[r["cluster_id"], r["size"], r["removed"]] for r in c["largest"]],
        )
        html += '<p class="muted">See one: <code>corpus cluster RUN CLUSTER_ID</code>.</p>'
    return html


def _domains(f: dict) -> str:
    kept = list(f["kept"]["domains"].items())[:15]
    rejected = list(f["rejected"]["domains"].items())[:15]
    return (
        f'<p class="muted">{_n(f["kept"]["domain_count"])} hosts among the kept documents.</p>'
        '<div class="cols">'
        + "<div><h3>Kept</h3>"
        + _table(["host", "documents"], [list(x) for x in kept])
        + "</div>"
        + "<div><h3>Rejected</h3>"
        + _table(["host", "documents"], [list(x) for x in rejected])
        + "</div></div>"
    )


def _shards(f: dict) -> str:
    s = f["shards"]
    names = [x["name"] for x in s["shards"]]
    html = _plot(plots.tokens_per_shard(names, [x["tokens"] for x in s["shards"]]), "tokens_per_shard")
    html += _table(
        ["shard", "split", "documents", "tokens"],
        [[x["name"], x["split"], x["documents"], x["tokens"]] for x in s["shards"][:50]],
        {2, 3},
    )
    if s.get("by_source"):
        html += "<h3>Tokens per source</h3>" + _table(
            ["source", "documents", "tokens"],
            [[r["source"], r["documents"], r["tokens"]] for r in s["by_source"][:30]],
        )
    q = s.get("document_tokens") or {}
    if q:
        html += (
            f'<p class="muted">Tokens per document: mean {q["mean"]}, median {q["p50"]:.0f}, '
            f"p90 {q['p90']:.0f}, p99 {q['p99']:.0f}, max {q['max']:,}.</p>"
        )
    return html


def _doc(d: dict) -> str:
    head = escape(d["id"]) + (f" · {escape(d['url'])}" if d.get("url") else "")
    if d.get("detail"):
        head += f" · <i>{escape(d['detail'])}</i>"
    return f"<details><summary>{head}</summary><pre>{escape(d['text'])}</pre></details>"


def _samples(f: dict) -> str:
    html = (
        '<p class="muted">Chosen by the smallest hash of their id, so the same run shows the same '
        "documents.</p>"
    )
    html += "<h3>Kept</h3>" + "".join(_doc(d) for d in f["kept"]["samples"])
    for r in f["rejected"]["reasons"].values():
        html += f"<h3>Rejected: {escape(r['stage'])} / {escape(r['reason'])}</h3>"
        html += "".join(_doc(d) for d in r["samples"])
    return html


def _crawl(c: dict) -> str:
    html = (
        f'<p class="muted">{escape(c["folder"])}: {_n(c.get("rounds"))} rounds, {_n(c.get("urls"))} URLs '
        f"known, {_n(c.get('fetched'))} pages fetched.</p>"
    )
    html += '<div class="cols">'
    html += (
        "<div><h3>URLs by status</h3>"
        + _table(["status", "URLs"], [list(x) for x in c.get("by_status", {}).items()])
        + "</div>"
    )
    html += (
        "<div><h3>HTTP status</h3>"
        + _table(["status", "responses"], [list(x) for x in c.get("by_http_status", {}).items()])
        + "</div></div>"
    )
    rows = [
        [status, reason, n]
        for status, reasons in c.get("by_reason", {}).items()
        for reason, n in reasons.items()
    ]
    if rows:
        html += "<h3>Outcomes by reason</h3>" + _table(["status", "reason", "URLs"], rows, {2})
    return html


def _training(t: dict) -> str:
    html = _plot(plots.training_curves(t["train"], t["val"]), "training")
    html += _table(TRAINING_HEADERS, [t["last"]], {1, 2, 3, 4})
    if t.get("val_parts"):
        html += _table(VAL_PART_HEADERS, t["val_parts"], {2, 3, 4})
    return html


def _compare(c: dict) -> str:
    def change(v: int) -> str:
        cls = "plus" if v > 0 else "minus" if v < 0 else "muted"
        return f'<span class="{cls}">{v:+,}</span>'

    html = (
        f"<p>This run against <code>{escape(c['other'])}</code>: kept documents {_n(c['documents']['this'])} "
        f"vs {_n(c['documents']['other'])}, tokens {_n(c['tokens']['this'])} vs "
        f"{_n(c['tokens']['other'])}.</p>"
    )
    rows = "".join(
        f"<tr><td>{escape(r['stage'])}</td><td>{escape(r['what'])}</td><td class=n>{_n(r['this'])}</td>"
        f"<td class=n>{_n(r['other'])}</td><td class=n>{change(r['change'])}</td></tr>"
        for r in c["stages"]
    )
    head = "<th class=n>this</th><th class=n>other</th><th class=n>change</th></tr>"
    html += f"<h3>Per stage</h3><table><tr><th>stage</th><th></th>{head}{rows}</table>"
    rows = "".join(
        f"<tr><td>{escape(r['reason'])}</td><td class=n>{_n(r['this'])}</td><td class=n>{_n(r['other'])}</td>"
        f"<td class=n>{change(r['change'])}</td></tr>"
        for r in c["reasons"]
    )
    html += f"<h3>Per reason</h3><table><tr><th>stage/reason</th>{head}{rows}</table>"
    return html
