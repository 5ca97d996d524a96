"""corpus/filters/safety.py: URL blocklists and the bad-word ratio, on the sample's real pages and
URLs and on Python's own pty.py (whose 'master'/'slave' vocabulary is on better-profanity's list)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from corpus_helpers import BASE_URL, STDLIB

from corpus.config import PipelineConfig, SafetyConfig
from corpus.errors import InputError
from corpus.filters.quality import Finding
from corpus.filters.safety import SafetyChecker, UrlBlocklist, badword_count, load_badwords


def blocklist(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "blocklist.txt"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return str(path)


def test_domains_block_their_subdomains_and_entries_with_a_slash_block_substrings(tmp_path: Path) -> None:
    lists = UrlBlocklist([blocklist(tmp_path, "# domains", "debian.org", "/ch07.", "*casino*")])
    assert lists.match(BASE_URL + "ch01.en.html") == "debian.org"  # www.debian.org is a subdomain
    assert lists.match("https://DEBIAN.ORG./x") == "debian.org"
    assert lists.match("https://notdebian.org/") is None  # a suffix of the name is not a subdomain
    only_ch07 = UrlBlocklist([blocklist(tmp_path, "/ch07.")])
    assert only_ch07.match(BASE_URL + "ch07.fr.html#_gui_desktops") == "/ch07."
    assert only_ch07.match(BASE_URL + "ch01.fr.html") is None and only_ch07.match(None) is None
    with pytest.raises(InputError, match="safety.url_blocklists"):
        UrlBlocklist([str(tmp_path / "missing.txt")])


def test_host_path_entries_as_in_ut1_urls_files(tmp_path: Path) -> None:
    # UT1's "urls" files list host/path prefixes without a scheme.
    lists = UrlBlocklist([blocklist(tmp_path, "debian.org/doc/manuals/debian-reference/ch07")])
    assert lists.paths == {"debian.org": {"/doc/manuals/debian-reference/ch07"}}
    assert (
        lists.match(BASE_URL + "ch07.en.html#_gui_desktops") == "debian.org/doc/manuals/debian-reference/ch07"
    )
    assert lists.match(BASE_URL + "ch01.en.html") is None
    assert lists.match("https://debian.org/doc/other/debian-reference/ch07.html") is None  # a prefix only


def test_blocklisted_sample_page(tmp_path: Path, page_text) -> None:
    checker = SafetyChecker(SafetyConfig(url_blocklists=(blocklist(tmp_path, "/ch07."),)))
    url = BASE_URL + "ch07.en.html#_x_server_connection"
    assert checker.check(page_text("ch07.en.html#_x_server_connection"), url, "en") == Finding(
        "url_blocklisted", "/ch07."
    )


def test_badword_ratio_on_real_text(page_text) -> None:
    lists = load_badwords("", use_default=True)
    pty = (STDLIB / "pty.py").read_text("utf-8")
    found, n = badword_count(pty, "en", lists)
    assert found >= 20 and found / n > 0.005  # master/slave terminals, throughout
    checker = SafetyChecker(SafetyConfig())
    finding = checker.check(pty, None, "en")
    assert finding is not None and finding.reason == "badwords_ratio"
    assert finding.detail == f"{found} of {n} words, {found / n:.4f} > 0.005"
    # A Debian Reference page with a few hits ("FAT" file systems) stays under the ratio ...
    page = page_text("ch10.en.html#_sharing_copying_and_archiving")
    assert badword_count(page, "en", lists)[0] > 0 and checker.check(page, None, "en") is None
    # ... and goes at C4's rule: any bad word.
    assert (
        SafetyChecker(SafetyConfig(max_badword_ratio=0.0)).check(page, None, "en").reason == "badwords_ratio"
    )
    # The English list is not applied to German text.
    assert badword_count(pty, "de", lists)[0] == 0


def test_word_lists_from_files_per_language(tmp_path: Path, page_text) -> None:
    (tmp_path / "de.txt").write_text("Konsole\n", "utf-8")
    lists = load_badwords(str(tmp_path), use_default=False)
    assert set(lists) == {"de"}
    text = page_text("ch01.de.html#_console_basics")
    assert badword_count(text, "de", lists)[0] == sum(
        1 for w in text.split() if w.strip(".,:;()") == "Konsole"
    )
    assert badword_count(text, "fr", lists) == (0, 0)  # no French list: nothing counted
    with pytest.raises(InputError, match="safety.badwords_dir"):
        load_badwords(str(tmp_path / "missing"), use_default=False)
    (tmp_path / "fr.txt").write_bytes("console\n".encode("utf-16"))
    with pytest.raises(ValueError, match=r"fr.txt: bad-word list is not UTF-8"):
        load_badwords(str(tmp_path), use_default=False)


def test_classifier_specs_are_checked() -> None:
    with pytest.raises(ValueError, match="safety.classifiers: 'model.bin' is not 'path:label:threshold'"):
        PipelineConfig.from_dict({"safety": {"classifiers": ["model.bin"]}})
    with pytest.raises(ValueError, match="threshold must be within"):
        PipelineConfig.from_dict({"safety": {"classifiers": ["model.bin:nsfw:2"]}})
    with pytest.raises(InputError, match="safety.classifiers model not found"):
        SafetyChecker(SafetyConfig(classifiers=("missing.bin:nsfw:0.5",)))


def _code_chunks() -> list[str]:
    """Python's own source, 40 lines at a time: real text of the label ``code``."""
    chunks = []
    for path in sorted(STDLIB.glob("*.py"))[:80]:
        lines = path.read_text("utf-8").splitlines()
        for i in range(0, min(len(lines), 200), 40):
            chunk = "\n".join(lines[i : i + 40]).strip()
            if len(chunk) > 200:
                chunks.append(chunk)
    return chunks


def test_fasttext_classifier_trained_here_on_real_labelled_text(tmp_path: Path, sample_raw) -> None:
    from fasttext_model import save, train

    from corpus.extract import extract_document
    from corpus.records import Document

    prose = []
    for raw in sample_raw:
        if ".en.html" in (raw.url or ""):
            doc = extract_document(raw, PipelineConfig().extract)
            if isinstance(doc, Document) and len(doc.text) > 500:
                prose.append(doc.text)
    code = _code_chunks()
    assert len(code) >= 200 and len(prose) >= 80
    texts = [" ".join(t.split()) for t in code[:150] + prose[:50]]
    model = tmp_path / "code-vs-prose.bin"
    save(model, *train(texts, ["code"] * 150 + ["prose"] * 50))
    checker = SafetyChecker(SafetyConfig(badwords=False, classifiers=(f"{model}:code:0.5",)))
    held_out_code = [checker.check(t, None, "en") for t in code[150:200]]
    held_out_prose = [checker.check(t, None, "en") for t in prose[50:80]]
    dropped = [f for f in held_out_code if f is not None]
    assert len(dropped) >= 45 and {f.reason for f in dropped} == {"classifier_code"}
    assert sum(f is not None for f in held_out_prose) <= 2


def test_classifier_reasons_are_snake_case(tmp_path: Path) -> None:
    from fasttext_model import save, train

    model = tmp_path / "m.bin"
    save(model, *train(["some words here", "other words there"], ["Hate-Speech", "ok"], epochs=5))
    checker = SafetyChecker(SafetyConfig(badwords=False, classifiers=(f"{model}:Hate-Speech:0.0",)))
    finding = checker.check("some words here", None, "en")
    assert finding is not None and finding.reason == "classifier_hate_speech"


def test_www_in_blocklist_entries_is_ignored(tmp_path: Path) -> None:
    lists = UrlBlocklist([blocklist(tmp_path, "www.example.com/adult", "www.example.org")])
    assert lists.match("http://example.com/adult/1") == "example.com/adult"
    assert lists.match("https://sub.example.org/") == "example.org"


def test_blocklist_files_with_crlf_dots_and_several_prefixes_per_host(tmp_path: Path) -> None:
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(b".debian.org\r\nWWW.Example.com/Adult\r\nexample.com/adult/videos\r\n\r\n")
    lists = UrlBlocklist([str(crlf)])
    assert len(lists) == 3
    assert lists.match(BASE_URL + "ch01.en.html") == "debian.org"
    # Both prefixes match: the shortest is named, whatever the file's order.
    assert lists.match("http://example.com/adult/videos/1") == "example.com/adult"
    assert lists.match("http://example.com/adul") is None
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9.example\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt: safety.url_blocklists file is not UTF-8"):
        UrlBlocklist([str(latin1)])


def test_phrases_count_where_a_word_runs_on(tmp_path: Path, page_text) -> None:
    # words() keeps "management's" whole; the phrase must still count there, as a pattern does.
    (tmp_path / "en.txt").write_text("package management\n", "utf-8")
    lists = load_badwords(str(tmp_path), use_default=False)
    text = (
        page_text("ch02.en.html#_basic_package_management_operations") + " Debian package management's tools"
    )
    expected = len(re.findall(r"(?<!\w)package management(?!\w)", text.lower()))
    assert expected >= 2
    assert badword_count(text, "en", lists)[0] == expected


def test_blocklist_entries_with_indents_comments_and_odd_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text(
        "  www.example.com  # indented\n\t.example.org\nexample.net\x0bexample.info\xa0\n", "utf-8"
    )
    lists = UrlBlocklist([str(path)])
    assert lists.domains == {"example.com", "example.org", "example.net", "example.info"}
    assert lists.match("https://sub.example.com/") == "example.com"
    assert lists.match("example.info/page") == "example.info"  # no scheme
    assert lists.match("https://bücher.example.net/") == "example.net"


def test_internationalised_hosts_match_punycode_entries(tmp_path: Path) -> None:
    lists = UrlBlocklist([blocklist(tmp_path, "xn--bcher-kva.example")])
    assert lists.match("https://BÜCHER.example/x") == "xn--bcher-kva.example"
