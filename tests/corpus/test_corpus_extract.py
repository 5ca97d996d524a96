"""corpus/extract.py on the sample's real pages, and on copies re-encoded, emptied or mislabelled."""

from __future__ import annotations

import re
import textwrap
from dataclasses import replace

import pytest

from corpus.config import ExtractConfig
from corpus.extract import decode_html, extract_document
from corpus.hashing import text_hash
from corpus.records import Document, RawDocument, Rejection

DEFAULT = ExtractConfig()
META_UTF8 = '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">'


def rejection(result: Document | Rejection) -> tuple[str, str | None]:
    assert isinstance(result, Rejection), result
    assert result.stage == "extract"
    return result.reason, result.detail


def latin1(raw: RawDocument, meta_charset: str) -> bytes:
    """The page in ISO-8859-1; characters outside it as numeric references (as a server would)."""
    html = raw.html.decode("utf-8").replace("charset=UTF-8", f"charset={meta_charset}")
    return html.encode("latin-1", "xmlcharrefreplace")


def test_real_page_gives_its_heading_and_first_paragraph(pages) -> None:
    raw = pages["ch01.de.html#_console_basics"]
    doc = extract_document(raw, DEFAULT)
    assert isinstance(doc, Document)
    assert doc.text.startswith(
        "Kapitel 1. GNU/Linux-Lehrstunde\n\n1.1. Grundlagen für die Konsole\n\n"
        "Nach dem Starten des Systems sehen Sie einen textbasierten Anmeldebildschirm, wenn Sie keine "
        "grafische Oberfläche (GUI) wie GNOME oder KDE installiert haben. Wenn wir davon ausgehen, dass Ihr "
        "Rechnername foo lautet, dann sieht Ihr Anmeldebildschirm wie folgt aus:\n\n"
    )
    assert "<" not in doc.text and "&nbsp;" not in doc.text and "\xa0" not in doc.text
    assert (doc.id, doc.url, doc.source, doc.date) == (raw.id, raw.url, raw.source, raw.date)
    assert doc.text_hash == text_hash(doc.text)
    assert (doc.language, doc.language_score) == (None, None)


def test_japanese_page_text(page_text) -> None:
    assert page_text("ch10.ja.html#_interactive_merge").startswith(
        "第10章 データー管理\n\n10.5. Git\n\n"
        "Git is the tool of choice these days for the version control system (VCS)"
    )


def test_main_content_false_keeps_more_of_the_page(pages, page_text) -> None:
    full = extract_document(pages["ch01.de.html#_console_basics"], ExtractConfig(main_content=False))
    main = page_text("ch01.de.html#_console_basics")
    assert "1.1.1. Die Shell-Eingabeaufforderung (Shell-Prompt)" in full.text
    assert len(full.text) > len(main)


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("index.html", ("http_status_301", None)),
        ("debian-reference.css", ("not_html", "content type 'text/css'")),
        ("images/caution.png", ("not_html", "content type 'image/png'")),
    ],
)
def test_sample_records_that_are_not_pages(pages, page: str, expected) -> None:
    assert rejection(extract_document(pages[page], DEFAULT)) == expected


def test_page_without_content_type_is_not_html(pages) -> None:
    raw = replace(pages["ch01.es.html#_console_basics"], content_type=None, charset=None)
    assert rejection(extract_document(raw, DEFAULT)) == ("not_html", "content type None")


def test_xhtml_content_type_is_html(pages, page_text) -> None:
    raw = replace(pages["ch01.es.html#_console_basics"], content_type="application/xhtml+xml")
    assert extract_document(raw, DEFAULT).text == page_text("ch01.es.html#_console_basics")


def test_page_with_an_empty_body_is_empty_text(pages) -> None:
    raw = pages["ch01.it.html#_console_basics"]
    emptied = re.sub(rb"<body>.*</body>", b"<body>\n</body>", raw.html, flags=re.S)
    assert b"<title>" in emptied and len(emptied) < 1000
    assert rejection(extract_document(replace(raw, html=emptied), DEFAULT)) == ("empty_text", None)


def test_empty_payload_is_empty_text(pages) -> None:
    assert rejection(extract_document(replace(pages["ch01.it.html#_console_basics"], html=b""), DEFAULT)) == (
        "empty_text",
        None,
    )


def test_iso_8859_1_page_with_its_charset_gives_the_same_text(pages, page_text) -> None:
    raw = pages["ch01.fr.html#_console_basics"]
    encoded = latin1(raw, "ISO-8859-1")
    assert b"\xe9" in encoded  # é as one Latin-1 byte, so UTF-8 decoding would fail
    expected = page_text("ch01.fr.html#_console_basics")
    assert extract_document(replace(raw, html=encoded, charset="iso-8859-1"), DEFAULT).text == expected
    # Declared only by the page's <meta>, not by HTTP:
    assert extract_document(replace(raw, html=encoded, charset=None), DEFAULT).text == expected


def test_page_without_any_declaration_is_detected(pages, page_text) -> None:
    raw = pages["ch01.de.html#_console_basics"]
    html = raw.html.replace(META_UTF8.encode(), b"")
    assert b"charset" not in html
    doc = extract_document(replace(raw, html=html, charset=None), DEFAULT)
    assert doc.text == page_text("ch01.de.html#_console_basics")


def test_bogus_charset_with_latin1_bytes_is_unknown_charset(pages) -> None:
    raw = pages["ch01.fr.html#_console_basics"]
    result = extract_document(replace(raw, html=latin1(raw, "x-bogus"), charset="x-bogus"), DEFAULT)
    assert rejection(result) == ("unknown_charset", "no text codec for charset 'x-bogus'")
    assert (result.id, result.url) == (raw.id, raw.url)


def test_bogus_charset_with_utf8_bytes_falls_back_to_utf8(pages, page_text) -> None:
    raw = pages["ch01.fr.html#_console_basics"]
    doc = extract_document(replace(raw, charset="x-bogus"), DEFAULT)
    assert doc.text == page_text("ch01.fr.html#_console_basics")


def test_shift_jis_bytes_declared_utf8_are_undecodable(pages) -> None:
    raw = pages["ch01.ja.html#_console_basics"]
    sjis = raw.html.decode("utf-8").encode("shift_jis", "xmlcharrefreplace")
    assert rejection(extract_document(replace(raw, html=sjis), DEFAULT)) == (
        "undecodable_bytes",
        "3988 of 8492 characters undecodable",
    )


def test_replacement_ratio_is_configurable(pages) -> None:
    raw = pages["ch01.ja.html#_console_basics"]
    sjis = raw.html.decode("utf-8").encode("shift_jis", "xmlcharrefreplace")
    assert decode_html(sjis, "utf-8", ExtractConfig(max_replacement_ratio=0.2)).text.count("\ufffd") == 4953


def test_literal_replacement_characters_are_not_counted_as_undecodable(pages) -> None:
    # A page that really contains U+FFFD (encoded in UTF-8) is not damaged.
    raw = pages["ch01.en.html#_unix_like_filesystem"]
    html = raw.html.replace(b"<body>", b"<body>" + "\ufffd".encode() * 2000, 1)
    result = decode_html(html, "utf-8", DEFAULT)
    assert (result.reason, result.text.count("\ufffd")) == (None, 2000)


def test_latin1_french_page_declared_utf8_is_undecodable(pages) -> None:
    raw = pages["ch01.fr.html#_console_basics"]
    result = extract_document(replace(raw, html=latin1(raw, "UTF-8"), charset="utf-8"), DEFAULT)
    assert isinstance(result, Rejection), result.text.count("\ufffd")
    assert result.reason == "undecodable_bytes"


@pytest.mark.parametrize("charset", ["base64", "utf-8\x00"])
def test_charset_that_is_no_text_encoding_is_unknown_charset(pages, charset: str) -> None:
    raw = pages["ch01.fr.html#_console_basics"]
    bad = replace(raw, html=latin1(raw, "x-bogus"), charset=charset)
    assert rejection(extract_document(bad, DEFAULT))[0] == "unknown_charset"


def test_html_too_large(pages) -> None:
    raw = pages["ch01.en.html#_unix_like_filesystem"]
    assert len(raw.html) == 77758
    assert rejection(extract_document(raw, ExtractConfig(max_html_bytes=77757))) == (
        "html_too_large",
        "77758 bytes > max_html_bytes 77757",
    )
    assert isinstance(extract_document(raw, ExtractConfig(max_html_bytes=77758)), Document)


def test_text_too_long_and_too_short(pages, page_text) -> None:
    raw = pages["ch01.en.html#_unix_like_filesystem"]
    n = len(page_text("ch01.en.html#_unix_like_filesystem"))
    assert rejection(extract_document(raw, ExtractConfig(max_chars=n - 1))) == (
        "text_too_long",
        f"{n} characters > max_chars {n - 1}",
    )
    assert rejection(extract_document(raw, ExtractConfig(min_chars=n + 1))) == (
        "text_too_short",
        f"{n} characters < min_chars {n + 1}",
    )
    assert isinstance(extract_document(raw, ExtractConfig(min_chars=n, max_chars=n)), Document)


def test_plain_text_documents_are_normalised_not_parsed() -> None:
    raw = RawDocument("tw", None, "docs.jsonl", text=textwrap.__doc__.replace("\n", "\r\n") + "\r\n\r\n\r\n")
    doc = extract_document(raw, DEFAULT)
    assert doc.text == textwrap.__doc__.strip()
    # Markup in a plain-text source is text, not HTML to strip.
    html_like = RawDocument("h", None, "docs.jsonl", text="<p>Nach dem Starten</p>")
    assert extract_document(html_like, DEFAULT).text == "<p>Nach dem Starten</p>"
    assert rejection(extract_document(RawDocument("e", None, "docs.jsonl", text=" \r\n\t\n"), DEFAULT)) == (
        "empty_text",
        None,
    )
