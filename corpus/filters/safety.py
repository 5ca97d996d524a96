"""Safety filters: URL blocklists, a bad-word ratio, and fastText classifiers the user supplies.

- URL blocklist files (one entry per line, ``#`` comments): a bare domain (``example.com``)
  blocks the domain and its subdomains; an entry with ``/`` or ``*`` (``/adult/``,
  ``*casino*``) blocks URLs containing it. Reason ``url_blocklisted``, detail the entry.
- URL word lists (corpus/filters/url_words.py, on by default): RefinedWeb-style banned words,
  soft-banned words and banned subwords in the URL, shipped with their provenance.
- Bad words: per-language lists from ``<lang>.txt`` files in a folder; English defaults to the
  list shipped in the ``better-profanity`` package (MIT, github.com/snguyenthanh/better_profanity;
  916 words and phrases). Words are matched whole (phrases and scripts without spaces as
  substrings); a document whose share of bad words is above ``max_badword_ratio`` is dropped
  (``badwords_ratio``). C4 drops a page at the first bad word: that is ratio 0.
- Classifiers: fastText models (``.bin``/``.ftz``) given by path with a label and a threshold;
  a document whose probability for that label reaches the threshold is dropped
  (``classifier_<label>``).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from corpus.config import SafetyConfig
from corpus.errors import InputError
from corpus.filters.quality import Finding
from corpus.filters.text_units import UNSEGMENTED, words
from corpus.filters.url_words import UrlWords

STAGE = "safety"


_HOST_PATH = re.compile(r"^[a-z0-9.-]+\.[a-z0-9-]+/")


class UrlBlocklist:
    """Domains (with subdomains), ``host/path`` prefixes (UT1's ``urls`` files), and substrings.

    Domains and host/path entries are looked up by host, so millions of entries cost one set
    lookup per parent domain of a URL, and one per distinct prefix length listed for its host;
    only free substrings (with ``*`` or a leading ``/``) are searched one by one."""

    def __init__(self, files: tuple[str, ...] | list[str]) -> None:
        self.domains: set[str] = set()
        self.paths: dict[str, set[str]] = {}
        self.substrings: list[str] = []
        for name in files:
            self._add(*_entries(name))
        # Sorted, so the entry reported for a URL with several matching substrings is the same
        # on every run (the alphabetically first).
        self.substrings.sort()
        self.path_lengths = {host: sorted({len(p) for p in paths}) for host, paths in self.paths.items()}
        self.size = len(self.domains) + sum(len(p) for p in self.paths.values()) + len(self.substrings)

    def _add(self, entries: set[str], verbatim: bool, body: str) -> None:
        # Whole-set passes are skipped when the text shows they find nothing (possible when the
        # entries are the file's lines verbatim): UT1's 4.5 million domains then cost one split
        # and one set.
        special = {e for e in entries if "/" in e or "*" in e} if "/" in body or "*" in body else set()
        plain = entries - special if special else entries
        if not verbatim or "\nwww." in body or "\n." in body or body.startswith((".", "www.")):
            odd = {e for e in plain if e[0] == "." or e.startswith("www.")}
            plain = (plain - odd) | {e.lstrip(".").removeprefix("www.") for e in odd}
            plain.discard("")
        if self.domains:
            self.domains |= plain
        else:
            self.domains = plain
        for entry in special:
            if "*" not in entry and _HOST_PATH.match(entry):
                host, _, rest = entry.partition("/")
                self.paths.setdefault(host.removeprefix("www."), set()).add("/" + rest)
            else:
                self.substrings.append(entry.strip("*"))

    def __len__(self) -> int:
        return self.size

    def match(self, url: str | None) -> str | None:
        """The entry that blocks ``url`` (the shortest, for host/path prefixes), or None."""
        if not url or not self.size:
            return None
        lowered = url.lower()
        # "example.com/x" has no scheme, so urlsplit would take it all for a path.
        parts_of_url = urlsplit(lowered if "//" in lowered else "//" + lowered)
        host = (parts_of_url.hostname or "").rstrip(".")
        if not host.isascii():  # lists name internationalised domains in punycode
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                pass
        parts = host.split(".")
        for i in range(len(parts)):
            candidate = ".".join(parts[i:])
            if candidate in self.domains:
                return candidate
        bare = host.removeprefix("www.")
        prefixes = self.paths.get(bare)
        if prefixes:
            path = parts_of_url.path
            for n in self.path_lengths[bare]:
                if n > len(path):
                    break
                if path[:n] in prefixes:
                    return bare + path[:n]
        for s in self.substrings:
            if s in lowered:
                return s
        return None


# Characters that make a line differ from its entry (comments, surrounding white space) or that
# str.splitlines() treats as line breaks; files without them are split in C, verbatim.
_NOT_VERBATIM = re.compile(r"[# \t\x0b\x0c\r\x1c-\x1e]")  # and any non-ASCII text


def _entries(name: str) -> tuple[set[str], bool, str]:
    """A blocklist file's entries (lower-cased, without comments and blank lines), whether they
    are its lines verbatim, and its lower-cased text."""
    path = Path(name)
    if not path.is_file():
        raise InputError(f"{name}: safety.url_blocklists entry is not a file")
    try:
        body = path.read_text("utf-8").lower()
    except UnicodeDecodeError as e:
        raise InputError(
            f"{name}: safety.url_blocklists file is not UTF-8 ({e.reason} at byte {e.start})"
        ) from None
    verbatim = body.isascii() and not _NOT_VERBATIM.search(body)
    if verbatim:
        entries = set(body.split("\n"))
    else:
        entries = {line.split("#", 1)[0].strip() for line in body.splitlines()}
    entries.discard("")
    return entries, verbatim, body


def default_badwords_path() -> Path:
    spec = importlib.util.find_spec("better_profanity")
    if spec is None or spec.origin is None:
        raise RuntimeError("better-profanity is not installed; it ships the default English bad-word list")
    return Path(spec.origin).parent / "profanity_wordlist.txt"


_WORD_RUN = re.compile(r"\w+")


@dataclass(frozen=True)
class BadWords:
    words: frozenset[str]
    phrases: tuple[tuple[re.Pattern[str], frozenset[str]], ...]
    """Entries with a space or punctuation: a pattern matched in the lower-cased text, tried only
    when the text has all of the phrase's words."""


def load_badwords(folder: str, use_default: bool) -> dict[str, BadWords]:
    lists: dict[str, Path] = {}
    if use_default:
        lists["en"] = default_badwords_path()
    if folder:
        path = Path(folder)
        if not path.is_dir():
            raise InputError(f"{folder}: safety.badwords_dir is not a folder")
        lists.update({f.stem: f for f in sorted(path.glob("*.txt"))})
    out = {}
    for lang, file in lists.items():
        try:
            lines = file.read_text("utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise InputError(f"{file}: bad-word list is not UTF-8 ({e.reason} at byte {e.start})") from None
        entries = {e.strip().lower() for e in lines if e.strip()}
        single = frozenset(e for e in entries if words(e) == [e])
        phrases = tuple(
            (re.compile(rf"(?<!\w){re.escape(p)}(?!\w)"), frozenset(_WORD_RUN.findall(p)))
            for p in sorted(entries - single)
        )
        out[lang] = BadWords(single, phrases)
    return out


def badword_count(text: str, language: str | None, lists: dict[str, BadWords]) -> tuple[int, int]:
    """(bad words found, words in the text) for the text's language; (0, 0) if it has no list."""
    bad = lists.get(language or "")
    if bad is None:
        return 0, 0
    ws = words(text)
    if not ws:
        return 0, 0
    lowered = text.lower()
    if language in UNSEGMENTED:
        found = sum(lowered.count(w) for w in bad.words)
        present: set[str] | None = None
    else:
        found = sum(1 for w in ws if w.lower() in bad.words)
        # Runs of \w, the boundaries the phrase patterns use: every run of a phrase is a run of
        # any text the phrase occurs in ("blow job" in "blow job's"), which words() is not.
        present = set(_WORD_RUN.findall(lowered)) if bad.phrases else set()
    for pattern, needed in bad.phrases:
        if present is None or needed <= present:
            found += len(pattern.findall(lowered))
    return found, len(ws)


class Classifier:
    """A fastText model given by the user: drop documents it labels ``label`` with ``threshold``."""

    def __init__(self, spec: str) -> None:
        path, sep, rest = spec.rpartition(":")
        path, sep2, label = path.rpartition(":")
        if not (sep and sep2 and path and label):
            raise InputError(f"safety.classifiers: {spec!r} is not 'path:label:threshold'")
        try:
            self.threshold = float(rest)
        except ValueError:
            raise InputError(f"safety.classifiers: {spec!r}: threshold {rest!r} is not a number") from None
        if not Path(path).is_file():
            raise InputError(f"{path}: safety.classifiers model not found")
        import fasttext  # fasttext-predict

        self.model = fasttext.load_model(path)
        self.label = label if label.startswith("__label__") else f"__label__{label}"
        # The reason must be snake_case (summary.schema.json): "hate-speech" -> "hate_speech".
        self.name = re.sub(r"[^a-z0-9_]", "_", self.label.removeprefix("__label__").lower())

    def score(self, text: str) -> float:
        labels, probs = self.model.predict(" ".join(text.split()), k=-1)
        return next((float(p) for lab, p in zip(labels, probs, strict=True) if lab == self.label), 0.0)


class SafetyChecker:
    """Everything the safety stage needs, loaded once per worker."""

    def __init__(self, config: SafetyConfig) -> None:
        self.config = config
        self.blocklist = UrlBlocklist(config.url_blocklists)
        self.url_words = (
            UrlWords.load(config.url_words_dir, config.min_soft_banned_words) if config.url_words else None
        )
        self.badwords = load_badwords(config.badwords_dir, config.default_badwords) if config.badwords else {}
        self.classifiers = [Classifier(spec) for spec in config.classifiers]

    def check(self, text: str, url: str | None, language: str | None) -> Finding | None:
        entry = self.blocklist.match(url)
        if entry:
            return Finding("url_blocklisted", entry)
        if self.url_words is not None:
            finding = self.url_words.check(url)
            if finding:
                return finding
        if self.config.badwords:
            found, n = badword_count(text, language, self.badwords)
            if found and found / max(1, n) > self.config.max_badword_ratio:
                ratio = found / max(1, n)
                return Finding(
                    "badwords_ratio", f"{found} of {n} words, {ratio:.4f} > {self.config.max_badword_ratio}"
                )
        for c in self.classifiers:
            p = c.score(text)
            if p >= c.threshold:
                return Finding(f"classifier_{c.name}", f"{p:.3f} >= {c.threshold}")
        return None
