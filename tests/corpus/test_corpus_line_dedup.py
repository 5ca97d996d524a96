"""corpus/dedup/lines.py: boilerplate lines and paragraphs cut out of all but their first document,
on the sample's pages extracted whole (main_content off, so repeated headings and notes stay in),
checked against a brute-force count over the same pages."""

from __future__ import annotations

import random
from collections import defaultdict
from urllib.parse import urlsplit

import numpy as np
import pytest
from corpus_helpers import SAMPLE_WARC

from corpus.config import ExtractConfig
from corpus.dedup import lines
from corpus.dedup.lines import LineDedupConfig, LineDedupConfigError
from corpus.extract import extract_document
from corpus.readers.warc import read_warc
from corpus.records import Document


@pytest.fixture(scope="module")
def whole_pages() -> list[tuple[str, str]]:
    """(host, text) of every sample page, whole (main_content off), in file order."""
    with open(SAMPLE_WARC, "rb") as f:
        raws = list(read_warc(f, str(SAMPLE_WARC)))
    docs = [extract_document(r, ExtractConfig(main_content=False)) for r in raws]
    return [(urlsplit(d.url).hostname, d.text) for d in docs if isinstance(d, Document)]


def run(docs: list[tuple[str, str]], config: LineDedupConfig, per_unit: int = 50) -> list[lines.Cut]:
    """The library as a job runs it: units of ``per_unit`` documents give rows, one task groups
    all rows, each unit applies its cuts."""
    units = [docs[i : i + per_unit] for i in range(0, len(docs), per_unit)]
    rows = np.concatenate(
        [lines.unit_rows(((p, t, h) for p, (h, t) in enumerate(u)), n, config) for n, u in enumerate(units)]
    )
    cuts = lines.task_cuts(rows)
    out = []
    for n, u in enumerate(units):
        mine = lines.cuts_by_document(cuts, n)
        out += [lines.apply_cuts(t, h, mine.get(p, set()), config) for p, (h, t) in enumerate(u)]
    return out


def brute_force(docs: list[tuple[str, str]], config: LineDedupConfig) -> list[str]:
    """Every line counted by the documents of its host that hold it; a line held by at least
    min_documents_host of them is removed from all but the first."""
    holders: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, (host, text) in enumerate(docs):
        for norm in {lines.normalise(x) for x in text.split("\n")} - {""}:
            holders[(host, norm)].append(i)
    out = []
    for i, (host, text) in enumerate(docs):
        kept = []
        for x in [text[a:b] for a, b in lines.spans(text, "line")]:
            who = holders.get((host, lines.normalise(x)), [])
            if len(who) >= config.min_documents_host and who[0] != i:
                continue
            kept.append(x)
        out.append("".join(kept))
    return out


def test_cuts_equal_a_brute_force_count_on_real_pages(whole_pages) -> None:
    config = LineDedupConfig(enabled=True)
    cuts = run(whole_pages, config)
    assert [c.text for c in cuts] == brute_force(whole_pages, config)
    removed = sum(c.removed_bytes for c in cuts)
    total = sum(len(t.encode("utf-8")) for _, t in whole_pages)
    # The sample's 518 records are sections of 73 chapter pages whose texts overlap, and its
    # admonition headings ("Note", "Tip", "Astuce", ...) repeat on every page: 14% of the bytes
    # repeat within the host, far from BFF's 98%.
    assert 0.05 * total < removed < 0.25 * total
    removed_lines = {lines.normalise(r) for c in cuts for r in c.removed}
    assert {"note", "tip", "astuce"} <= removed_lines
    assert sum(c.removed_units > 0 for c in cuts) > 50


def test_the_first_document_keeps_every_occurrence(whole_pages) -> None:
    config = LineDedupConfig(enabled=True)
    cuts = run(whole_pages, config)
    first = next(i for i, (_, t) in enumerate(whole_pages) if "\nNote\n" in f"\n{t}\n")
    assert cuts[first].text.count("Note") == whole_pages[first][1].count("Note")
    later = [i for i, (_, t) in enumerate(whole_pages) if i > first and "\nNote\n" in f"\n{t}\n"]
    assert later and all("\nNote\n" not in f"\n{cuts[i].text}\n" for i in later)


def test_kept_text_is_whole_units_of_the_original_in_order(whole_pages) -> None:
    # Never a cut inside a line (or a word): the kept text is a subsequence of the original's
    # units, byte for byte, for lines and for paragraphs.
    for unit in ("line", "paragraph"):
        config = LineDedupConfig(enabled=True, unit=unit, min_documents_host=2)
        cut_some = 0
        for (_host, text), cut in zip(whole_pages, run(whole_pages, config), strict=True):
            units = [text[a:b] for a, b in lines.spans(text, unit)]
            assert "".join(units) == text
            remaining = iter(units)  # each kept unit is one of the original's, after the one before
            for a, b in lines.spans(cut.text, unit):
                assert cut.text[a:b] in remaining
            assert len(text.encode("utf-8")) - cut.removed_bytes == len(cut.text.encode("utf-8"))
            cut_some += cut.removed_units > 0
        assert cut_some > 20


def test_a_document_counts_once_however_often_it_repeats_a_line(whole_pages) -> None:
    # BFF's trap: the count filled twice per document. One page repeating its own line five
    # times does not make the line boilerplate; three pages holding it once each do.
    config = LineDedupConfig(enabled=True)
    host, text = whole_pages[0]
    line = next(x for x in text.split("\n") if len(x) > 40)
    others = [(host, t) for _, t in whole_pages[1:4] if line not in t]
    repeated = [(host, text + ("\n" + line) * 5), *others]
    assert run(repeated, config)[0].text == repeated[0][1]
    spread = [(host, text), *[(h, t + "\n" + line) for h, t in others[:2]]]
    out = run(spread, config)
    assert out[0].text == text and all(line not in c.text for c in out[1:])


def test_decisions_do_not_depend_on_how_rows_arrive(whole_pages) -> None:
    config = LineDedupConfig(enabled=True, scope="corpus", min_documents_corpus=3)
    units = [whole_pages[i : i + 40] for i in range(0, 200, 40)]
    rows = np.concatenate(
        [lines.unit_rows(((p, t, h) for p, (h, t) in enumerate(u)), n, config) for n, u in enumerate(units)]
    )
    expected = lines.task_cuts(rows)
    shuffled = rows[random.Random(7).sample(range(len(rows)), len(rows))]
    np.testing.assert_array_equal(lines.task_cuts(shuffled), expected)
    # Any split of the key space into tasks gives the same cuts (a key's rows stay together).
    parts = [lines.task_cuts(rows[(rows[:, 0] & 3) == k]) for k in range(4)]
    got = np.concatenate(parts)
    got = got[np.lexsort((got[:, 2], got[:, 1], got[:, 0]))]
    want = expected[np.lexsort((expected[:, 2], expected[:, 1], expected[:, 0]))]
    np.testing.assert_array_equal(got, want)


def test_corpus_scope_judges_short_lines_by_host(whole_pages) -> None:
    # The same pages under two hosts: a long repeated line is boilerplate across hosts; "Note"
    # (shorter than min_chars) only where one host has enough documents holding it.
    config = LineDedupConfig(enabled=True, scope="corpus", min_documents_corpus=3, min_documents_host=3,
                             min_chars=30)  # fmt: skip
    notes = [t for _, t in whole_pages if "\nNote\n" in f"\n{t}\n"][:4]
    docs = [
        ("a.example", notes[0]),
        ("a.example", notes[1]),
        ("b.example", notes[2]),
        ("b.example", notes[3]),
    ]
    out = run(docs, config)
    assert all("\nNote\n" in f"\n{c.text}\n" for c in out)  # two per host: below 3 in each
    long_line = next(x for x in notes[0].split("\n") if len(x) > 60)
    docs = [(h, t + "\n" + long_line) for h, t in docs]
    out = run(docs, config)
    assert long_line in out[0].text and all(long_line not in c.text for c in out[1:])


def test_normalise_folds_case_spaces_and_digits() -> None:
    assert lines.normalise("  Page 3 of 12 \t") == lines.normalise("page 4 OF 7") == "page 0 of 0"
    assert lines.normalise("Ｎｏｔｅ") == "note"  # NFKC: full-width letters
    assert lines.normalise(" \n ") == ""


def test_blank_units_are_never_cut() -> None:
    config = LineDedupConfig(enabled=True, unit="paragraph")
    assert [s for s in lines.unit_keys("\n\n\n", "h", config)] == []
    assert lines.spans("a\n\nb\n", "paragraph") == [(0, 3), (3, 5)]
    assert lines.spans("a\nb", "line") == [(0, 2), (2, 3)]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("unit", "sentence", "line_dedup.unit: 'sentence' is not one of line, paragraph"),
        ("scope", "site", "line_dedup.scope: 'site' is not one of host, corpus"),
        ("min_documents_host", 1, "line_dedup.min_documents_host: 1 must be at least 2"),
        ("min_chars", -1, "line_dedup.min_chars: -1 must be at least 0"),
    ],
)
def test_bad_settings_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(LineDedupConfigError, match="^" + message.replace("(", r"\(") + "$"):
        LineDedupConfig(**{field: value})
