"""corpus/filters/url_words.py and scripts/fetch_ut1_blocklist.py.

Real URLs that pass: every URL of the sample WARC (Debian Reference pages). Real URLs that fail:
entries of UT1's adult ``urls`` list (Université Toulouse Capitole, CC BY-SA 4.0), each caught by
a different one of the shipped lists."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from corpus_helpers import BASE_URL, REPO

from corpus.config import PipelineConfig, SafetyConfig
from corpus.errors import InputError
from corpus.filters.quality import Finding
from corpus.filters.safety import SafetyChecker, UrlBlocklist
from corpus.filters.url_words import DEFAULT_DIR, FILES, UrlWords, trie_pattern

# From UT1's adult/urls (scheme added: UT1 lists host/path).
UT1_BANNED_WORD = "http://0nlythrowharrybeaux.tumblr.com/post/717858886608093184/7-smut"
UT1_SOFT_WORDS = "http://4tube69.com/fr/searchxxxporn/longxxxporn/nipple-anal-sex"
UT1_THREE_SOFT_WORDS = (
    "http://0558870717.sodaben.pl/x-gratuit-nu-coq-sexemodel-film-torcy-escort-girl-webcam-video-caen-"
    "vivastreet-avallon-sex"
)
UT1_SUBWORD = "http://100freesexcams.blogspot.com/2017"


@pytest.fixture(scope="module")
def url_words() -> UrlWords:
    return UrlWords.load()


def test_shipped_lists_are_the_ones_their_provenance_names() -> None:
    provenance = (DEFAULT_DIR / "PROVENANCE.md").read_text("utf-8")
    recorded = dict(re.findall(r"\| `([a-z_]+\.txt)` \| [^|]+ \| `([0-9a-f]{64})` \|", provenance))
    assert sorted(recorded) == sorted(FILES)
    for name, digest in recorded.items():
        assert hashlib.sha256((DEFAULT_DIR / name).read_bytes()).hexdigest() == digest, name


def test_every_sample_url_passes(url_words: UrlWords, sample_raw) -> None:
    urls = [raw.url for raw in sample_raw if raw.url]
    assert len(urls) > 500
    assert [(u, url_words.check(u)) for u in urls if url_words.check(u)] == []


def test_each_list_catches_a_real_ut1_url_with_its_reason(url_words: UrlWords) -> None:
    assert url_words.check(UT1_BANNED_WORD) == Finding("url_banned_word", "smut")
    assert url_words.check(UT1_SOFT_WORDS) == Finding("url_soft_banned_words", "nipple, sex: 2 >= 2")
    assert url_words.check(UT1_SUBWORD) == Finding("url_banned_subword", "freesex")


def test_soft_words_count_once_each_and_need_the_minimum() -> None:
    three = UrlWords.load(min_soft=3)
    assert three.check(UT1_SOFT_WORDS) is None
    assert three.check(UT1_THREE_SOFT_WORDS) == Finding(
        "url_soft_banned_words", "escort, sex, webcam: 3 >= 3"
    )
    # "sex" twice is still one word.
    assert three.check("http://example.org/sex/sex-webcam") is None


def test_case_and_percent_encoding_do_not_hide_words(url_words: UrlWords) -> None:
    assert url_words.check("http://0NLYTHROWHARRYBEAUX.tumblr.com/post/1/7-SMUT") == Finding(
        "url_banned_word", "smut"
    )
    assert url_words.check("http://example.org/free%20sex") == Finding("url_banned_subword", "freesex")


def test_disabled_entries_are_not_used(url_words: UrlWords) -> None:
    # banned_words.txt has "#xx" and "#ass"; "ass" stays a soft word.
    assert "xx" not in url_words.banned and "ass" not in url_words.banned and "ass" in url_words.soft
    assert url_words.check(BASE_URL + "xx/ass.html") is None


def test_trie_pattern_finds_what_a_plain_substring_scan_finds(url_words: UrlWords, sample_raw) -> None:
    pattern = trie_pattern(url_words.subwords)
    assert pattern is not None
    words = sorted(url_words.subwords)
    texts = [re.sub("[^a-z0-9]", "", (raw.url or "").lower()) for raw in sample_raw]
    # Each subword planted in a real URL, and its prefixes (which must not match unless listed).
    texts += [t[:20] + w + t[20:] for t, w in zip(texts, words * 5, strict=False)]
    texts += [w[:-1] for w in words]
    for text in texts:
        found = pattern.search(text)
        expected = any(w in text for w in words)
        assert bool(found) == expected, text
        if found:
            assert found.group() in url_words.subwords
    assert trie_pattern(frozenset()) is None


def test_safety_checker_uses_the_lists_and_can_turn_them_off(tmp_path: Path, page_text) -> None:
    text = page_text("ch01.en.html#_console_basics")
    assert SafetyChecker(SafetyConfig()).check(text, UT1_SUBWORD, "en") == Finding(
        "url_banned_subword", "freesex"
    )
    assert SafetyChecker(SafetyConfig(url_words=False, badwords=False)).check(text, UT1_SUBWORD, "en") is None
    strict = SafetyChecker(SafetyConfig(min_soft_banned_words=3, badwords=False))
    assert strict.check(text, UT1_SOFT_WORDS, "en") is None


def test_a_folder_of_lists_replaces_the_shipped_ones(tmp_path: Path) -> None:
    entries = ["reference  # a comment", "manual\nchapter\n# disabled\n#sex", "debianref"]
    for name, entry in zip(FILES, entries, strict=True):
        (tmp_path / name).write_text(entry + "\n", "utf-8")
    mine = UrlWords.load(str(tmp_path))
    assert (mine.banned, mine.soft) == ({"reference"}, {"manual", "chapter"})
    assert mine.check(BASE_URL + "ch01.en.html") == Finding("url_banned_word", "reference")
    assert mine.check(UT1_SUBWORD) is None
    config = PipelineConfig.from_dict({"safety": {"url_words_dir": str(tmp_path)}})
    assert SafetyChecker(config.safety).check("", "https://example.org/manual/chapter/1", None) == Finding(
        "url_soft_banned_words", "chapter, manual: 2 >= 2"
    )


def test_bad_list_folders_and_settings_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="safety.url_words_dir is not a folder"):
        UrlWords.load(str(tmp_path / "missing"))
    (tmp_path / "banned_words.txt").write_text("porn\n", "utf-8")
    with pytest.raises(InputError, match=r"soft_banned_words.txt: URL word list not found"):
        UrlWords.load(str(tmp_path))
    (tmp_path / "soft_banned_words.txt").write_bytes(b"\xff\xfe sex\n")
    with pytest.raises(ValueError, match=r"soft_banned_words.txt: URL word list is not UTF-8"):
        UrlWords.load(str(tmp_path))
    with pytest.raises(ValueError, match="safety.min_soft_banned_words must be >= 1"):
        PipelineConfig.from_dict({"safety": {"min_soft_banned_words": 0}})


# --- make blocklists (scripts/fetch_ut1_blocklist.py) on a tarball laid out like UT1's -------------

UT1_DOMAINS = ["brightkidsformula.com", "xvids101.blogspot.fr", "smuqtpoavufbqel.ru"]
UT1_URLS = ["tumblr.com/fuck-friend/186536541731/on-our-way-to-miami", "tumblr.com/gwc2ubnvk2"]


def ut1_tarball(lists: dict[str, list[str]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, entries in lists.items():
            body = "".join(e + "\n" for e in entries).encode()
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def fetch(tmp_path: Path, data: bytes, sha256: str) -> subprocess.CompletedProcess[str]:
    tarball = tmp_path / "blacklists.tar.gz"
    tarball.write_bytes(data)
    script = REPO / "scripts" / "fetch_ut1_blocklist.py"
    args = ["--tarball", str(tarball), "--sha256", sha256, "--out", str(tmp_path / "ut1")]
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)


def test_fetched_ut1_lists_load_as_blocklists(tmp_path: Path) -> None:
    data = ut1_tarball({"domains": UT1_DOMAINS, "urls": UT1_URLS})
    done = fetch(tmp_path, data, hashlib.sha256(data).hexdigest())
    assert done.returncode == 0, done.stderr
    assert "domains 3 entries, urls 2 entries" in done.stdout
    assert "CC BY-SA 4.0" in (tmp_path / "ut1" / "PROVENANCE.md").read_text("utf-8")
    blocklist = UrlBlocklist([str(tmp_path / "ut1" / "domains"), str(tmp_path / "ut1" / "urls")])
    assert len(blocklist) == 5
    assert blocklist.match("https://m.xvids101.blogspot.fr/2020/") == "xvids101.blogspot.fr"
    assert blocklist.match("https://www.tumblr.com/gwc2ubnvk2/post/1") == "tumblr.com/gwc2ubnvk2"
    assert blocklist.match("https://www.tumblr.com/staff") is None


def test_fetch_refuses_a_tarball_that_is_not_the_expected_one(tmp_path: Path) -> None:
    data = ut1_tarball({"domains": UT1_DOMAINS, "urls": UT1_URLS})
    done = fetch(tmp_path, data, "0" * 64)
    assert done.returncode != 0 and "is not the expected" in done.stderr
    only_domains = ut1_tarball({"domains": UT1_DOMAINS})
    done = fetch(tmp_path, only_domains, hashlib.sha256(only_domains).hexdigest())
    assert done.returncode != 0 and "the tarball has no 'urls' list" in done.stderr
    assert not (tmp_path / "ut1").exists()
