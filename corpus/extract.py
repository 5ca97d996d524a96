"""HTML to plain text: decode bytes, extract the main content (Resiliparse), normalise.

Resiliparse is the extraction library because it is a C++ DOM parser with main-content heuristics
and is one to two orders of magnitude faster than trafilatura, the default of datatrove.
"""

from __future__ import annotations

import codecs
import functools
from dataclasses import dataclass

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import detect_encoding
from resiliparse.parse.html import HTMLTree

from corpus.config import ExtractConfig
from corpus.hashing import text_hash
from corpus.normalize import normalize_text
from corpus.records import Document, RawDocument, Rejection

STAGE = "extract"
_HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class DecodeResult:
    text: str | None
    reason: str | None = None
    detail: str | None = None


def _meta_charset(html: bytes) -> str | None:
    head = html[:4096].lower()
    i = head.find(b"charset=")
    if i < 0:
        return None
    value = head[i + 8 : i + 48].lstrip(b"\"' ")
    end = 0
    while end < len(value) and value[end : end + 1] not in b"\"'; />":
        end += 1
    return value[:end].decode("ascii", "replace") or None


def decode_html(html: bytes, declared: str | None, config: ExtractConfig) -> DecodeResult:
    """Bytes to str with the declared charset (HTTP, then <meta>), else a detected one.

    A charset no codec knows, or more than ``max_replacement_ratio`` undecodable bytes, is a
    rejection: such text would train the model on mojibake.
    """
    charset = declared or _meta_charset(html)
    codec = _text_codec(charset) if charset else detect_encoding(html[:65536])
    if codec is None:
        try:
            return DecodeResult(html.decode("utf-8"))
        except UnicodeDecodeError:
            return DecodeResult(None, "unknown_charset", f"no text codec for charset {charset!r}")
    return DecodeResult(html.decode(codec, errors="replace"))


def _text_codec(charset: str) -> str | None:
    """The codec for a declared charset, or None where none decodes bytes to text."""
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError):  # ValueError: a NUL or other junk in the name
        return None
    # base64, hex, zlib ... are codecs too, but bytes-to-bytes: not a charset.
    return info.name if getattr(info, "_is_text_encoding", True) else None


@functools.cache
def _depth_selector(depth: int) -> str:
    return " > ".join(["*"] * depth)


def _deeper_than(tree: HTMLTree, depth: int) -> bool:
    """Whether any element sits more than ``depth`` levels deep (one CSS query, in C)."""
    return tree.document.query_selector(_depth_selector(depth + 1)) is not None


def extract_document(raw: RawDocument, config: ExtractConfig) -> Document | Rejection:
    """One raw record to a Document with normalised text, or a Rejection with its reason."""

    def reject(reason: str, detail: str | None = None) -> Rejection:
        return Rejection(raw.id, raw.url, raw.source, STAGE, reason, detail)

    if raw.text is not None:
        text = raw.text
    else:
        if raw.http_status is not None and raw.http_status != 200:
            return reject(f"http_status_{raw.http_status}")
        if raw.content_type not in _HTML_TYPES:
            return reject("not_html", f"content type {raw.content_type!r}")
        html = raw.html or b""
        if len(html) > config.max_html_bytes:
            return reject("html_too_large", f"{len(html)} bytes > max_html_bytes {config.max_html_bytes}")
        decoded = decode_html(html, raw.charset, config)
        if decoded.text is None:
            return reject(decoded.reason or "undecodable", decoded.detail)
        tree = HTMLTree.parse(decoded.text)
        if decoded.text.count("<") > config.max_html_depth and _deeper_than(tree, config.max_html_depth):
            # Main-content extraction takes time quadratic in the nesting depth (1 s at 8,000
            # levels, minutes at 200,000): a page nested this deep is no prose.
            return reject(
                "html_too_deep", f"elements nested deeper than max_html_depth {config.max_html_depth}"
            )
        text = extract_plain_text(
            tree,
            main_content=config.main_content,
            preserve_formatting=True,
            list_bullets=True,
            alt_texts=False,
            links=False,
        )
    text = normalize_text(text)
    if not text:
        return reject("empty_text")
    # Measured on the extracted text, not the HTML: markup would dilute the mojibake.
    bad = text.count("\ufffd")
    if bad and bad / len(text) > config.max_replacement_ratio:
        return reject("undecodable_bytes", f"{bad} of {len(text)} characters undecodable")
    if len(text) < config.min_chars:
        return reject("text_too_short", f"{len(text)} characters < min_chars {config.min_chars}")
    if len(text) > config.max_chars:
        return reject("text_too_long", f"{len(text)} characters > max_chars {config.max_chars}")
    return Document(raw.id, raw.url, raw.source, raw.date, text, text_hash(text))
