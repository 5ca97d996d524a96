"""normalize_text on real text: Python's LICENSE.txt and titles of the sample's pages."""

from __future__ import annotations

import re
import unicodedata

import pytest
from corpus_helpers import STDLIB

from corpus.normalize import normalize_text


@pytest.fixture(scope="module")
def license_text() -> str:
    return (STDLIB / "LICENSE.txt").read_text("utf-8")


def between(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end)]


def title(html: bytes) -> str:
    return re.search(r"<title>(.*?)</title>", html.decode("utf-8"), re.S).group(1)


def test_column_layout_collapses_to_single_spaces(license_text: str) -> None:
    table = between(license_text, "    Release ", "    1.6             1.5.2")
    assert normalize_text(table) == (
        "Release Derived Year Owner GPL-\n"
        "from compatible? (1)\n"
        "\n"
        "0.9.0 thru 1.2 1991-1995 CWI yes\n"
        "1.3 thru 1.5.2 1.2 1995-1999 CNRI yes"
    )


def test_runs_of_blank_lines_become_one(license_text: str) -> None:
    # LICENSE.txt separates its parts with two blank lines.
    part = between(license_text, "Thanks to the many outside volunteers", "Starting with Python 3.8.6")
    assert "\n\n\n" in part
    assert normalize_text(part) == (
        "Thanks to the many outside volunteers who have worked under Guido's\n"
        "direction to make these releases possible.\n"
        "\n"
        "B. TERMS AND CONDITIONS FOR ACCESSING OR OTHERWISE USING PYTHON\n"
        "===============================================================\n"
        "\n"
        "Python software and documentation are licensed under the\n"
        "Python Software Foundation License Version 2."
    )


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_crlf_and_cr_line_ends_become_lf(license_text: str, newline: str) -> None:
    footnotes = between(license_text, "Footnotes:", "Thanks to the many")
    assert normalize_text(footnotes.replace("\n", newline)) == normalize_text(footnotes)
    assert normalize_text(footnotes.replace("\n", newline)).startswith(
        "Footnotes:\n\n(1) GPL-compatible doesn't mean that we're distributing Python under\nthe GPL. All"
    )


def test_no_break_space_of_a_real_title_becomes_a_space(pages) -> None:
    raw = title(pages["ch01.en.html#_console_basics"].html)
    assert raw == "1.1.\xa0Console basics — Chapter&nbsp;1.&nbsp;GNU/Linux tutorials"
    assert normalize_text(raw) == "1.1. Console basics — Chapter&nbsp;1.&nbsp;GNU/Linux tutorials"


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("ch10.ja.html#_interactive_merge", "10.5. Git — 第10章 データー管理"),
        ("ch01.de.html#_console_basics", "1.1. Grundlagen für die Konsole — Kapitel 1. GNU/Linux-Lehrstunde"),
    ],
)
def test_decomposed_text_is_composed_nfc(pages, page: str, expected: str) -> None:
    decomposed = unicodedata.normalize("NFD", title(pages[page].html))
    assert decomposed != expected  # デ and ü really decompose
    assert normalize_text(decomposed) == expected


def test_control_characters_are_removed_tab_becomes_space() -> None:
    # A line of the English page with the bytes a broken converter leaves behind.
    damaged = "Upon starting\x00 the system,\x07 you are\tpresented\x0c with the\x1b character based login"
    assert (
        normalize_text(damaged)
        == "Upon starting the system, you are presented\nwith the character based login"
    )


def test_line_separating_controls_become_newlines_not_glue() -> None:
    # NEL, vertical tab and form feed separate lines: words on each side must not run together.
    assert normalize_text("Debian\x85Reference\x0bchapter\x0cone") == "Debian\nReference\nchapter\none"


def test_leading_and_trailing_blank_lines_are_stripped(license_text: str) -> None:
    head = license_text[: license_text.index("Python was created")]
    assert (
        normalize_text("\n\n  \n" + head + "\n \n")
        == "A. HISTORY OF THE SOFTWARE\n=========================="
    )


def test_idempotent_on_real_pages(page_text) -> None:
    for page in ("ch01.fr.html#_console_basics", "ch10.ja.html#_interactive_merge"):
        text = page_text(page)
        assert normalize_text(text) == text
