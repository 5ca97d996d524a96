"""BENCHMARKS.md is written by several benches: each owns a section between ``<!-- NAME:begin -->``
and ``<!-- NAME:end -->`` that the others keep when they rewrite the file."""

from __future__ import annotations

import re
from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def sections(text: str) -> list[str]:
    """Every marked section of a report, in order, markers included."""
    return [m.group(0) for m in re.finditer(r"<!-- ([\w-]+):begin -->.*?<!-- \1:end -->", text, flags=re.S)]


def write_section(report: Path, name: str, body: str) -> None:
    """Put ``body`` between the section's markers, replacing the section or appending it."""
    begin, end = markers(name)
    section = f"{begin}\n{body}\n{end}"
    text = report.read_text("utf-8") if report.exists() else ""
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _m: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    report.write_text(text, "utf-8")
