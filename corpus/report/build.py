"""Write ``report.html`` and ``report.md`` for a run (atomically: a reader never sees half)."""

from __future__ import annotations

import os
from pathlib import Path

from corpus.report import html, markdown
from corpus.report.compare import compare as compare_runs
from corpus.report.facts import gather


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


def write_report(
    run: str | os.PathLike,
    out: str | os.PathLike | None = None,
    train: str | None = None,
    crawl: str | None = None,
    compare: str | None = None,
    samples: int = 3,
) -> tuple[Path, Path]:
    facts = gather(run, samples=samples, train=train, crawl=crawl)
    comparison = compare_runs(facts, gather(compare, samples=0)) if compare else None
    folder = Path(out) if out else Path(run)
    folder.mkdir(parents=True, exist_ok=True)
    html_path, md_path = folder / "report.html", folder / "report.md"
    _write(html_path, html.render(facts, comparison))
    _write(md_path, markdown.render(facts, comparison))
    return html_path, md_path
