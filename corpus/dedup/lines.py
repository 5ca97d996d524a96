"""Line- and paragraph-level dedup: boilerplate (menus, footers, licence notices, cookie banners)
that repeats across documents is cut out of all but the first of them.

A document's text is split into *units* (lines, or paragraphs separated by blank lines); each
non-blank unit gets a 64-bit key, the hash of its normalised text (lower case, whitespace runs one
space, digit runs one ``0``: "Page 3 of 12" and "Page 4 of 12" are one line) and of its scope:

- ``scope = "host"``: the key includes the document's host, and a unit is boilerplate when at least
  ``min_documents_host`` documents of that host hold it;
- ``scope = "corpus"``: the key is the text alone, boilerplate from ``min_documents_corpus``
  documents anywhere; a unit shorter than ``min_chars`` ("Home", "Next") is still judged only
  inside its host, where a short line means something.

A document counts once per key however often it repeats the unit (filling a count twice per
document is how DCLM's BFF came to remove 98% of one user's data). The first document in the
corpus order (unit, then position) that holds a boilerplate unit keeps it, every occurrence in it
(C4 kept one copy of each repeated span); every later document loses each line of it. Cuts fall
only on unit boundaries: the kept text is the document's own units, in order, byte for byte,
never a word cut in two.

Only keys travel: a unit of work gives rows ``(key, threshold, unit, position)``, one per document
and key (``unit_rows``); rows are grouped by key anywhere (a task may take any slice of the key
space: a key's rows all fall in one slice), and ``task_cuts`` returns, for the keys that reach
their threshold, ``(unit, position, key)`` of every document but the first; ``apply_cuts`` takes
a document's cut keys and returns its text without those units.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import xxhash

from corpus.errors import InputError

STAGE = "line_dedup"
REASON = "boilerplate_only"
UNITS = ("line", "paragraph")
SCOPES = ("host", "corpus")

_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_LINE_BREAK = re.compile(r"\n")
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")


class LineDedupConfigError(InputError):
    """A line_dedup setting is out of range; the message names it."""


@dataclass(frozen=True)
class LineDedupConfig:
    enabled: bool = False
    unit: str = "line"
    """``line`` or ``paragraph`` (text between blank lines)."""
    scope: str = "host"
    """``host``: repeats within one host; ``corpus``: repeats anywhere (short units by host)."""
    min_documents_host: int = 3
    """A unit held by this many documents of one host is boilerplate."""
    min_documents_corpus: int = 10
    """With ``scope = "corpus"``: a unit held by this many documents anywhere is boilerplate."""
    min_chars: int = 30
    """With ``scope = "corpus"``: units shorter than this (normalised) are judged by host."""

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise LineDedupConfigError(f"line_dedup.unit: {self.unit!r} is not one of {', '.join(UNITS)}")
        if self.scope not in SCOPES:
            raise LineDedupConfigError(f"line_dedup.scope: {self.scope!r} is not one of {', '.join(SCOPES)}")
        for name in ("min_documents_host", "min_documents_corpus"):
            if getattr(self, name) < 2:
                raise LineDedupConfigError(f"line_dedup.{name}: {getattr(self, name)} must be at least 2")
        if self.min_chars < 0:
            raise LineDedupConfigError(f"line_dedup.min_chars: {self.min_chars} must be at least 0")


def spans(text: str, unit: str) -> list[tuple[int, int]]:
    """(start, end) of each unit of ``text``; a unit includes the line break(s) after it, so the
    spans tile the text and any subset of them joins into whole lines."""
    breaks = _PARAGRAPH_BREAK if unit == "paragraph" else _LINE_BREAK
    out, start = [], 0
    for m in breaks.finditer(text):
        out.append((start, m.end()))
        start = m.end()
    if start < len(text):
        out.append((start, len(text)))
    return out


def normalise(unit_text: str) -> str:
    """The text a unit's key is made of: NFKC, lower case, digit runs one ``0``, whitespace runs
    one space, stripped."""
    text = unicodedata.normalize("NFKC", unit_text).lower()
    return _SPACES.sub(" ", _DIGITS.sub("0", text)).strip()


def _key(scope_text: str, normalised: str) -> int:
    # int64 so keys sort and travel in the same arrays as the positions.
    return xxhash.xxh3_64_intdigest(f"{scope_text}\x00{normalised}".encode()) - 2**63


def unit_keys(text: str, host: str, config: LineDedupConfig) -> list[tuple[int, int, int, int]]:
    """(start, end, key, threshold) of each non-blank unit of a document."""
    out = []
    for start, end in spans(text, config.unit):
        norm = normalise(text[start:end])
        if not norm:
            continue
        by_host = config.scope == "host" or len(norm) < config.min_chars
        if by_host:
            out.append((start, end, _key("h:" + host.lower(), norm), config.min_documents_host))
        else:
            out.append((start, end, _key("c:", norm), config.min_documents_corpus))
    return out


def unit_rows(docs: Iterable[tuple[int, str, str]], unit: int, config: LineDedupConfig) -> np.ndarray:
    """Rows ``(key, threshold, unit, position)`` (int64) of a unit of work's documents, given as
    (position, text, host): one row per document and distinct key."""
    rows = []
    for position, text, host in docs:
        seen = {}
        for _s, _e, key, threshold in unit_keys(text, host, config):
            seen.setdefault(key, threshold)
        rows.extend((key, threshold, unit, position) for key, threshold in seen.items())
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def task_cuts(rows: np.ndarray) -> np.ndarray:
    """``(unit, position, key)`` (int64) for every document but the first (lowest unit, then
    position) of each key held by at least its threshold of documents. ``rows`` are every row of
    some set of keys (all of a key's rows, from every unit)."""
    if len(rows) == 0:
        return np.empty((0, 3), dtype=np.int64)
    order = np.lexsort((rows[:, 3], rows[:, 2], rows[:, 0]))
    rows = rows[order]
    keys = rows[:, 0]
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[first, len(rows)])
    boiler = sizes >= rows[first, 1]
    group = np.repeat(np.arange(len(first)), sizes)
    not_first = np.ones(len(rows), dtype=bool)
    not_first[first] = False
    take = not_first & boiler[group]
    return np.ascontiguousarray(rows[take][:, [2, 3, 0]])


def cuts_by_document(cuts: np.ndarray, unit: int) -> dict[int, set[int]]:
    """position -> keys to cut, for one unit of work's documents."""
    mine = cuts[cuts[:, 0] == unit]
    out: dict[int, set[int]] = {}
    for position, key in mine[:, 1:].tolist():
        out.setdefault(position, set()).add(key)
    return out


@dataclass(frozen=True)
class Cut:
    text: str
    removed_bytes: int
    removed_units: int
    removed: tuple[str, ...]
    """The removed units' text (for the report's top removed lines)."""


def apply_cuts(text: str, host: str, keys: set[int], config: LineDedupConfig) -> Cut:
    """``text`` without the units whose key is in ``keys`` (every occurrence in it)."""
    if not keys:
        return Cut(text, 0, 0, ())
    kept, removed = [], []
    last = 0
    for start, end, key, _t in unit_keys(text, host, config):
        if key in keys:
            kept.append(text[last:start])
            removed.append(text[start:end])
            last = end
    kept.append(text[last:])
    new = "".join(kept)
    return Cut(new, len(text.encode("utf-8")) - len(new.encode("utf-8")), len(removed), tuple(removed))
