"""URL word lists, the RefinedWeb way: drop a page when its URL names adult content.

Three lists, one entry per line (``#`` starts a comment, so ``#word`` is a disabled entry),
matched against the lower-cased, percent-decoded URL:

- ``banned_words.txt``: any one of them as a whole URL token (tokens are runs of ``a-z0-9``)
  drops the page, reason ``url_banned_word``.
- ``soft_banned_words.txt``: words that are fine alone ("sex", "nude", "escort"); a URL with at
  least ``min_soft_banned_words`` different ones is dropped, reason ``url_soft_banned_words``.
- ``banned_subwords.txt``: phrases matched anywhere in the URL with everything but ``a-z0-9``
  removed ("big tits" also finds ``bigtitsxyz``), reason ``url_banned_subword``.

The lists shipped in ``data/url_words/`` are those of datatrove's URL filter, unmodified (see
``data/url_words/PROVENANCE.md``); ``safety.url_words_dir`` replaces them with a folder of the same
three files. Subwords are found with one regular expression built as a trie, so a URL costs one
scan whatever the list's length.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from corpus.errors import InputError
from corpus.filters.quality import Finding

DEFAULT_DIR = Path(__file__).parent / "data" / "url_words"
FILES = ("banned_words.txt", "soft_banned_words.txt", "banned_subwords.txt")

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def _normalise(entry: str) -> str:
    return _NOT_ALNUM.sub("", entry.lower())


def read_list(path: Path) -> frozenset[str]:
    """Entries of one list, normalised to ``a-z0-9``; ``#`` starts a comment."""
    if not path.is_file():
        raise InputError(f"{path}: URL word list not found (safety.url_words_dir needs {', '.join(FILES)})")
    try:
        lines = path.read_text("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: URL word list is not UTF-8 ({e.reason} at byte {e.start})") from None
    entries = (_normalise(line.split("#", 1)[0]) for line in lines)
    return frozenset(e for e in entries if e)


def trie_pattern(words: frozenset[str]) -> re.Pattern[str] | None:
    """One regex for all ``words`` with shared prefixes factored out, so matching at a position
    follows one branch per character instead of trying every word."""
    if not words:
        return None
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return re.compile(emit(trie))


class UrlWords:
    def __init__(
        self, banned: frozenset[str], soft: frozenset[str], subwords: frozenset[str], min_soft: int = 2
    ) -> None:
        self.banned, self.soft, self.subwords, self.min_soft = banned, soft, subwords, min_soft
        self.subword_re = trie_pattern(subwords)

    @classmethod
    def load(cls, folder: str = "", min_soft: int = 2) -> UrlWords:
        """The lists in ``folder``, or the shipped ones when it is empty."""
        base = Path(folder) if folder else DEFAULT_DIR
        if folder and not base.is_dir():
            raise InputError(f"{folder}: safety.url_words_dir is not a folder")
        banned, soft, subwords = (read_list(base / name) for name in FILES)
        return cls(banned, soft, subwords, min_soft)

    def __len__(self) -> int:
        return len(self.banned) + len(self.soft) + len(self.subwords)

    def check(self, url: str | None) -> Finding | None:
        """Why ``url`` names adult content, or None."""
        if not url:
            return None
        lowered = unquote(url).lower()
        tokens = set(_NOT_ALNUM.split(lowered))
        hard = tokens & self.banned
        if hard:
            return Finding("url_banned_word", min(hard))
        soft = tokens & self.soft
        if len(soft) >= self.min_soft:
            return Finding(
                "url_soft_banned_words", f"{', '.join(sorted(soft))}: {len(soft)} >= {self.min_soft}"
            )
        if self.subword_re is not None:
            found = self.subword_re.search(_NOT_ALNUM.sub("", lowered))
            if found:
                return Finding("url_banned_subword", found.group())
        return None
