"""corpus/decontaminate: evaluation items from every supported format, normalised n-gram matching,
drop and excise, the ignore set of frequent n-grams and the removed-share stop, on real text:
question/answer rows made of Python's own docstrings, the sample's pages (English, German,
Japanese) as the corpus, the GPL's clauses against Debian's copyright files."""

from __future__ import annotations

import functools
import inspect
import json
import pickle
import re
import shutil
import subprocess
import textwrap
import unicodedata
from collections import Counter
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from corpus.decontaminate import index as index_module
from corpus.decontaminate import ngrams
from corpus.decontaminate.config import ConfigError, DecontaminateConfig
from corpus.decontaminate.decide import (
    DROP,
    EXCISE,
    KEEP,
    Tally,
    check_removed_share,
    cut,
    decide,
    frequent_keys,
    kept_spans,
)
from corpus.decontaminate.index import EvalIndex, keys_of
from corpus.decontaminate.normalize import normalized_words, word_boundary_after, word_boundary_before, words
from corpus.decontaminate.sources import EvalItem, load_items
from corpus.errors import InputError

N = 13
CONSOLE = "ch01.html#_console_basics"
# Functions whose docstrings have a summary paragraph (the question) and more (the answer).
QA_FUNCTIONS = (
    json.loads,
    json.dumps,
    json.dump,
    textwrap.TextWrapper,
    shutil.copytree,
    shutil.move,
    subprocess.run,
)


def qa_row(function) -> dict[str, str]:
    paragraphs = inspect.getdoc(function).split("\n\n")
    return {
        "id": f"{function.__module__}.{function.__qualname__}",
        "question": paragraphs[0],
        "answer": "\n\n".join(paragraphs[1:]),
    }


QA_ROWS = [qa_row(f) for f in QA_FUNCTIONS]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return path


def first_words(text: str, count: int) -> str:
    """The original characters of the first ``count`` normalised words of ``text``."""
    w = words([text])
    assert len(w) >= count
    return text[w.start[0] : w.end[count - 1]]


def one_line(text: str) -> str:
    return " ".join(text.split())


def reformat(text: str) -> str:
    """A copy that formatting alone tells apart: upper case, other numbers, other punctuation,
    other line breaks."""
    text = re.sub(r"\d+", lambda m: str(int(m.group()) * 7 + 3), text)
    text = re.sub(r"(?<!\d)[,.;:]|[,.;:](?!\d)", " -- ", text.upper()).replace("``", '"')
    return textwrap.fill(text, 31, break_on_hyphens=False)


def digit_paragraph() -> tuple[int, str]:
    """(row, paragraph) of the first answer paragraph with a number and at least 20 words that
    shares no 13-gram with another row."""
    for row, r in enumerate(QA_ROWS):
        others = set().union(*(windows(o["answer"]) for o in QA_ROWS if o is not r))
        for p in r["answer"].split("\n\n"):
            if re.search(r"\d", p) and len(normalized_words(p)) >= 20 and not windows(p) & others:
                return row, p
    raise AssertionError("no answer paragraph with a number")


def windows(text: str, n: int = N) -> set[tuple[str, ...]]:
    ws = normalized_words(text)
    return {tuple(ws[i : i + n]) for i in range(len(ws) - n + 1)}


def host_page(page_text, name: str = CONSOLE) -> list[str]:
    return page_text(name).split("\n\n")


def embed(paragraphs: list[str], inserts: list[str]) -> str:
    """The page's paragraphs with each insert placed between them, spread evenly."""
    out = list(paragraphs)
    for k, insert in enumerate(inserts):
        out.insert((k + 1) * len(paragraphs) // (len(inserts) + 1) + k, insert)
    return "\n\n".join(out)


@pytest.fixture(scope="module")
def qa_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("evals") / "qa.jsonl", QA_ROWS)


@pytest.fixture(scope="module")
def qa_index(qa_file: Path) -> EvalIndex:
    return EvalIndex.load([str(qa_file)], ngram=N)


# --- normalised words -------------------------------------------------------------------------


def test_words_fold_case_punctuation_numbers_accents_and_width(paragraphs) -> None:
    assert normalized_words("GPT-3 costs $1,234.56; gpt3 cost 1999.") == [
        "gpt",
        "0",
        "costs",
        "0",
        "gpt",
        "0",
        "cost",
        "0",
    ]
    fr = paragraphs["fr"]
    assert normalized_words(fr.upper()) == normalized_words(fr) == normalized_words(fr.replace(" ", "\n"))
    # Accents, combining or precomposed, and full-width letters fold away; a soft hyphen joins.
    assert normalized_words("À l’INVITE d\u2019identification") == ["a", "l", "invite", "d", "identification"]
    assert normalized_words("A\u0300 l'invite ｄ’ｉｄｅｎｔｉｆｉｃａｔｉｏｎ") == [
        "a",
        "l",
        "invite",
        "d",
        "identification",
    ]
    assert normalized_words("identi\u00adfication") == ["identification"]


def test_word_spans_point_into_the_original_text(paragraphs) -> None:
    for text in paragraphs.values():
        w = words([text])
        spans = [text[s:e] for s, e in zip(w.start, w.end, strict=True)]
        assert [normalized_words(s) for s in spans] == [[x] for x in w.words(0)]


def test_ascii_words_equal_an_independent_regex(page_text) -> None:
    text = re.sub(r"[^\x00-\x7f]", " ", page_text(CONSOLE))
    expected = [
        "0" if t[0].isdigit() else t for t in re.findall(r"[a-z]+|[0-9]+(?:[.,][0-9]+)*", text.lower())
    ]
    assert normalized_words(text) == expected
    assert len(expected) > 1000


def test_han_and_kana_characters_are_words(paragraphs) -> None:
    ja = paragraphs["ja"]
    got = normalized_words(ja)
    cjk = [
        c
        for c in ja
        if ("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff") and unicodedata.category(c)[0] == "L"
    ]
    assert len(cjk) > 50
    assert [x for x in got if not x.isascii()] == cjk
    assert "login" in got


def test_cuts_move_only_to_word_boundaries(paragraphs) -> None:
    """Every position of a French paragraph with decomposed accents and of a Japanese one moves
    out to the nearest boundary, never past one, never between a letter and its accent."""

    def cjk(c: str) -> bool:
        return "\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff"

    def inside(t: str, k: int) -> bool:
        if not 0 < k < len(t):
            return False
        if unicodedata.category(t[k])[0] == "M":
            return True
        wordish = t[k - 1].isalnum() or unicodedata.category(t[k - 1])[0] == "M"
        return wordish and t[k].isalnum() and not (cjk(t[k - 1]) or cjk(t[k]))

    fr = unicodedata.normalize("NFD", paragraphs["fr"])
    assert len(fr) > len(paragraphs["fr"])
    for text in (fr, paragraphs["ja"]):
        for i in range(len(text) + 1):
            before, after = word_boundary_before(text, i), word_boundary_after(text, i)
            assert not inside(text, before) and not inside(text, after)
            assert all(inside(text, k) for k in range(before + 1, i + 1))
            assert all(inside(text, k) for k in range(i, after))


# --- evaluation sources -----------------------------------------------------------------------


def test_every_format_gives_the_same_items(tmp_path: Path, qa_file: Path) -> None:
    pq.write_table(pa.Table.from_pylist(QA_ROWS), tmp_path / "qa.parquet")
    datasets.Dataset.from_list(QA_ROWS).save_to_disk(str(tmp_path / "qa_saved"))
    from_jsonl = load_items([str(qa_file)])
    from_parquet = load_items([str(tmp_path / "qa.parquet")])
    from_saved = load_items([str(tmp_path / "qa_saved")])
    fields = [(i.row, i.fields) for i in from_jsonl]
    assert fields == [(i.row, i.fields) for i in from_parquet] == [(i.row, i.fields) for i in from_saved]
    assert fields[1] == (
        1,
        (("id", "json.dumps"), ("question", QA_ROWS[1]["question"]), ("answer", QA_ROWS[1]["answer"])),
    )
    assert {i.source for i in from_saved} == {str(tmp_path / "qa_saved")}
    # The rows datasets itself reads back from the folder, row for row.
    loaded = datasets.load_from_disk(str(tmp_path / "qa_saved"))
    assert [tuple(loaded[i.row][name] for name, _ in i.fields) for i in from_saved] == [
        tuple(t for _, t in i.fields) for i in from_saved
    ]
    only = load_items([str(tmp_path / "qa.parquet")], fields=["answer"])
    assert [i.fields for i in only] == [(("answer", r["answer"]),) for r in QA_ROWS]


def test_text_files_are_one_item_a_line_and_dataset_dicts_one_source_a_split(tmp_path: Path) -> None:
    lines = [one_line(r["answer"]) for r in QA_ROWS]
    (tmp_path / "answers.txt").write_text("\n".join([lines[0], "", *lines[1:]]) + "\n", "utf-8")
    items = load_items([str(tmp_path / "*.txt")])
    assert [(i.row, i.fields) for i in items] == [(0, (("text", lines[0]),))] + [
        (k + 2, (("text", line),)) for k, line in enumerate(lines[1:])
    ]
    data = datasets.Dataset.from_list(QA_ROWS)
    datasets.DatasetDict({"validation": data.select([0, 1]), "test": data.select([2, 3, 4])}).save_to_disk(
        str(tmp_path / "dd")
    )
    items = load_items([str(tmp_path / "dd")], fields=["answer"])
    assert sorted({i.source for i in items}) == [
        str(tmp_path / "dd" / "test"),
        str(tmp_path / "dd" / "validation"),
    ]
    assert [(i.source.rsplit("/", 1)[1], i.row, i.fields[0][1]) for i in items] == [
        ("test", 0, QA_ROWS[2]["answer"]),
        ("test", 1, QA_ROWS[3]["answer"]),
        ("test", 2, QA_ROWS[4]["answer"]),
        ("validation", 0, QA_ROWS[0]["answer"]),
        ("validation", 1, QA_ROWS[1]["answer"]),
    ]


def test_nested_fields_and_lists_of_strings(tmp_path: Path) -> None:
    doc = inspect.getdoc(shutil.move).split("\n\n")
    row = {"question": doc[0], "answers": {"text": doc[1:3], "answer_start": [0, 1]}, "score": 0.5}
    (item,) = load_items([str(write_jsonl(tmp_path / "squad.jsonl", [row]))])
    assert item.fields == (("question", doc[0]), ("answers.text", doc[1]), ("answers.text", doc[2]))
    assert item.qa_pairs() == [(0, 1), (0, 2)]


def test_bad_sources_are_errors_naming_the_file(tmp_path: Path) -> None:
    def error(*patterns: str, fields: tuple[str, ...] = ()) -> str:
        with pytest.raises(InputError) as e:
            load_items(list(patterns), fields)
        return str(e.value)

    missing = tmp_path / "mmlu.jsonl"
    assert error(str(missing)) == f"decontaminate.sources: {missing}: no such file"
    assert (
        error(str(tmp_path / "none*.jsonl"))
        == f"decontaminate.sources: {tmp_path / 'none*.jsonl'}: no file matches"
    )
    (tmp_path / "empty.jsonl").write_text("\n\n", "utf-8")
    assert (
        error(str(tmp_path / "empty.jsonl"))
        == f"{tmp_path / 'empty.jsonl'}: no evaluation items (the file is empty)"
    )
    numbers = write_jsonl(tmp_path / "numbers.jsonl", [{"label": 3, "score": 0.25}, {"label": 1}])
    assert error(str(numbers)) == f"{numbers}: no string field in any of its 2 rows"
    qa = write_jsonl(tmp_path / "qa.jsonl", QA_ROWS[:2])
    assert error(str(qa), fields=("prompt", "completion")) == (
        f"{qa}: no row has a non-empty field among prompt, completion "
        "(its string fields: answer, id, question)"
    )
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(QA_ROWS[0]) + "\n" + json.dumps(QA_ROWS[1])[:-9] + "\n", "utf-8")
    assert error(str(broken)).startswith(f"{broken} line 2: not valid JSON")
    listed = tmp_path / "listed.jsonl"
    listed.write_text(json.dumps([QA_ROWS[0]["answer"]]) + "\n", "utf-8")
    assert error(str(listed)) == f"{listed} line 1: expected a JSON object, got list"
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("À l’invite d’identification".encode("utf-16"))
    assert error(str(utf16)).startswith(f"{utf16}: not UTF-8 text")
    pq.write_table(pa.Table.from_pylist(QA_ROWS), tmp_path / "qa.parquet")
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes((tmp_path / "qa.parquet").read_bytes()[:300])
    assert error(str(truncated)).startswith(f"{truncated}: not a readable Parquet file")
    (tmp_path / "folder").mkdir()
    assert error(str(tmp_path / "folder")).startswith(
        f"{tmp_path / 'folder'}: a folder, but not one written by"
    )
    (tmp_path / "qa.csv").write_text("question,answer\n", "utf-8")
    assert error(str(tmp_path / "qa.csv")).startswith(f"{tmp_path / 'qa.csv'}: unknown evaluation set format")


def test_config_validation_names_the_field() -> None:
    assert DecontaminateConfig(enabled=True, sources=["evals/*.jsonl"]).sources == ("evals/*.jsonl",)
    bad = {
        "sources": {"enabled": True},
        "ngram": {"ngram": 4},
        "mode": {"mode": "mask"},
        "min_chars": {"min_chars": -1},
        "max_cuts": {"max_cuts": 0},
        "max_corpus_frequency": {"max_corpus_frequency": 0},
        "max_removed_share": {"max_removed_share": 0.0},
        "fields": {"fields": "answer"},
    }
    for name, kwargs in bad.items():
        with pytest.raises(ConfigError, match=rf"^decontaminate\.{name}: "):
            DecontaminateConfig(**kwargs)
    assert issubclass(ConfigError, InputError)


# --- matching ---------------------------------------------------------------------------------


def test_a_reformatted_copy_matches_and_drop_names_file_row_and_ngram(
    qa_file: Path, qa_index, page_text
) -> None:
    row, paragraph = digit_paragraph()
    copy = reformat(paragraph)
    assert (
        copy.count("\n") > 3
        and copy.upper() == copy
        and re.findall(r"\d+", copy) != re.findall(r"\d+", paragraph)
    )
    assert normalized_words(copy) == normalized_words(paragraph)
    doc = embed(host_page(page_text), [copy])
    matches = qa_index.find(doc)
    windows = len(normalized_words(paragraph)) - N + 1
    assert len(matches) == windows
    alnum = [i for i, c in enumerate(copy) if c.isalnum()]
    start = doc.index(copy)
    assert (matches[0].start, matches[-1].end) == (start + alnum[0], start + alnum[-1] + 1)
    assert {m.origin.source for m in matches} == {str(qa_file)} and {m.items for m in matches} == {(row,)}
    decision = decide(doc, matches, DecontaminateConfig(enabled=True, sources=(str(qa_file),)))
    assert (decision.action, decision.reason, decision.text) == (DROP, "contaminated", doc)
    ngram = one_line(first_words(paragraph, N))
    assert (
        decision.detail == f'{qa_file} row {row} (answer): "{ngram}" ({windows} matched n-grams from 1 item)'
    )
    assert decision.bytes_removed == len(doc.encode("utf-8"))


def test_numbers_fold_but_words_do_not(qa_index) -> None:
    _row, paragraph = digit_paragraph()
    assert qa_index.find(re.sub(r"\d+", "2024", paragraph))
    other_word = re.sub(r"\bthe\b", "a", paragraph, count=1)
    assert other_word != paragraph
    assert len(qa_index.find(other_word)) < len(qa_index.find(paragraph))


def test_twelve_shared_words_do_not_match_thirteen_do(qa_index, page_text) -> None:
    paragraphs = host_page(page_text)
    answer = QA_ROWS[6]["answer"]
    twelve, thirteen = first_words(answer, N - 1), first_words(answer, N)
    assert qa_index.find(embed(paragraphs, [twelve])) == []
    (match,) = qa_index.find(embed(paragraphs, [thirteen]))
    assert match.origin.field == "answer" and match.origin.ngram == one_line(thirteen)
    assert qa_index.find(page_text(CONSOLE)) == []


def test_matches_equal_a_brute_force_over_the_english_pages(pages, page_text, monkeypatch) -> None:
    """Eval items: every paragraph of two English pages; corpus: every English page. Each match
    is a window of 13 normalised words that is an item's, counted by plain Python."""
    english = sorted(n for n in pages if ".en.html" in n)
    assert len(english) == 86
    items = [
        EvalItem(name, k, (("text", p),))
        for name in (english[3], english[40])
        for k, p in enumerate(page_text(name).split("\n\n"))
    ]
    index = EvalIndex(items, N)
    evals = set()
    for item in items:
        ws = normalized_words(item.fields[0][1])
        evals |= {tuple(ws[i : i + N]) for i in range(len(ws) - N + 1)}
    texts = [page_text(n) for n in english]
    found = index.find_batch(texts)
    hit = 0
    for text, matches in zip(texts, found, strict=True):
        ws = normalized_words(text)
        expected = Counter(t for t in (tuple(ws[i : i + N]) for i in range(len(ws) - N + 1)) if t in evals)
        got = Counter(tuple(normalized_words(text[m.start : m.end])) for m in matches)
        assert got == expected
        hit += bool(matches)
    assert 2 <= hit < len(texts)
    assert found == [index.find(t) for t in texts]
    assert pickle.loads(pickle.dumps(index)).find_batch(texts) == found
    # Passes of a few pages at a time (bounded memory) give the same index and matches.
    monkeypatch.setattr(index_module, "BATCH_CHARS", 3000)
    small = EvalIndex(items, N)
    assert (len(small), small.stats) == (len(index), index.stats)
    assert small.find_batch(texts) == found


def test_question_answer_straddling_ngrams(tmp_path: Path, page_text) -> None:
    question, answer = inspect.getdoc(str.strip).split("\n\n")
    assert len(normalized_words(question)) < N and len(normalized_words(answer)) < N
    index = EvalIndex.load(
        [str(write_jsonl(tmp_path / "strip.jsonl", [{"question": question, "answer": answer}]))]
    )
    paragraphs = host_page(page_text)
    assert index.find(embed(paragraphs, [question])) == [] and index.find(embed(paragraphs, [answer])) == []
    matches = index.find(embed(paragraphs, [question + "\n" + answer]))
    straddling = len(normalized_words(question)) + len(normalized_words(answer)) - N + 1
    assert len(matches) == straddling
    assert {m.origin.field for m in matches} == {"question+answer"}
    assert index.stats[str(tmp_path / "strip.jsonl")].short_texts == 2


def test_an_ngram_of_several_items_names_them_all(qa_index) -> None:
    shared = set(QA_ROWS[1]["answer"].split("\n\n")) & set(QA_ROWS[2]["answer"].split("\n\n"))
    paragraph = max(shared, key=len)
    matches = qa_index.find(paragraph)
    assert matches and {m.items for m in matches} == {(1, 2)}
    assert {m.origin.row for m in matches} == {1}
    assert [o.row for o in qa_index.origins(matches[0].key)] == [1, 2]


def test_japanese_copy_matches_across_line_breaks_and_width(tmp_path: Path, paragraphs, page_text) -> None:
    ja = paragraphs["ja"]
    index = EvalIndex.load([str(write_jsonl(tmp_path / "ja.jsonl", [{"text": ja}]))])
    wide = ja.replace("login", "ｌｏｇｉｎ")
    broken = "".join(
        c + ("\n" if k % 17 == 16 and "\u3040" <= c <= "\u9fff" else "") for k, c in enumerate(wide)
    )
    host = host_page(page_text, "ch01.de.html#_console_basics")
    matches = index.find(embed(host, [broken]))
    assert len(matches) == len(normalized_words(ja)) - N + 1
    assert index.find(embed(host, [first_words(ja, N - 1)])) == []
    assert len(index.find(embed(host, [first_words(ja, N)]))) == 1


@given(st.lists(st.sampled_from([" ", "\n", "  ", " -- ", ", ", "\n\n"]), min_size=60, max_size=60))
def test_separators_never_change_the_matched_keys(separators: list[str]) -> None:
    paragraph = QA_ROWS[0]["answer"].split("\n\n")[0]
    ws = paragraph.split()
    assert len(ws) <= len(separators) + 1
    respaced = ws[0] + "".join(sep + w for sep, w in zip(separators, ws[1:], strict=False))
    index = answers_index()
    assert keys_of(index.find(respaced)) == keys_of(index.find(paragraph)) != []


@functools.cache
def answers_index() -> EvalIndex:
    return EvalIndex([EvalItem("qa", k, (("answer", r["answer"]),)) for k, r in enumerate(QA_ROWS)], N)


def test_keys_are_deterministic_16_byte_values(qa_index) -> None:
    paragraph = QA_ROWS[0]["answer"].split("\n\n")[0]
    keys = keys_of(qa_index.find(paragraph))
    w = words([paragraph])
    k1, k2, _ = ngrams.window_keys(w, N)
    assert sorted(ngrams.key_bytes(k1, k2)) == keys == sorted(set(keys)) and {len(k) for k in keys} == {16}
    assert keys_of(EvalIndex(qa_index.items, N).find(paragraph)) == keys
    assert [ngrams.key_lanes(k) for k in keys] == sorted(zip(k1.tolist(), k2.tolist(), strict=True))


# --- decisions --------------------------------------------------------------------------------


def expected_cut(doc: str, start: int, end: int, margin: int = 200) -> tuple[int, int]:
    """The GPT-3 cut with str methods: margin each side, outward to whole words, then over the
    whitespace at its edges."""
    s, e = max(0, start - margin), min(len(doc), end + margin)
    while 0 < s and doc[s - 1].isalnum() and doc[s].isalnum():
        s -= 1
    while e < len(doc) and doc[e - 1].isalnum() and doc[e].isalnum():
        e += 1
    while s > 0 and doc[s - 1].isspace():
        s -= 1
    while e < len(doc) and doc[e].isspace():
        e += 1
    return s, e


def test_excise_cuts_the_match_and_200_characters_each_side_on_word_boundaries(qa_index, page_text) -> None:
    row, paragraph = digit_paragraph()
    copy = reformat(paragraph)
    doc = embed(host_page(page_text), [copy])
    matches = qa_index.find(doc)
    config = DecontaminateConfig(enabled=True, sources=("qa.jsonl",), mode="excise")
    decision = decide(doc, matches, config)
    assert decision.action == EXCISE
    s, e = expected_cut(doc, matches[0].start, matches[-1].end)
    assert decision.cuts == ((s, e),)
    assert s < matches[0].start - 200 and e > matches[-1].end + 200
    assert decision.text == doc[:s] + "\n" + doc[e:]
    assert not doc[s - 1].isspace() and not doc[e].isspace()
    assert decision.bytes_removed == len(doc.encode()) - len(decision.text.encode())
    assert qa_index.find(decision.text) == []
    assert decision.detail.startswith(f"{qa_index.items[row].source} row {row} (answer): ")


def test_excise_drops_documents_cut_too_often_or_left_too_short(qa_index, page_text) -> None:
    answers = [QA_ROWS[row]["answer"].split("\n\n")[0] for row in (0, 3, 6)]
    assert len(set(answers)) == 3
    doc = embed(host_page(page_text), answers)
    matches = qa_index.find(doc)
    excise = DecontaminateConfig(enabled=True, sources=("qa.jsonl",), mode="excise", max_cuts=2)
    decision = decide(doc, matches, excise)
    assert (decision.action, decision.reason) == (DROP, "contaminated")
    assert decision.detail.startswith("needs 3 cuts (max_cuts 2); ")
    three = decide(doc, matches, DecontaminateConfig(mode="excise", max_cuts=3))
    assert three.action == EXCISE and len(three.cuts) == 3
    assert three.text == "\n".join(doc[s:e] for s, e in kept_spans(doc, three.cuts)) == cut(doc, three.cuts)

    page = page_text(CONSOLE)
    short = page[:150].rsplit(" ", 1)[0] + "\n\n" + answers[0] + "\n\n" + page[-150:].split(" ", 1)[1]
    gone = decide(short, qa_index.find(short), DecontaminateConfig(mode="excise"))
    assert gone.action == DROP
    assert re.match(r"0 characters left after 1 cut \(min_chars 200\); ", gone.detail)


def test_frequent_ngrams_are_not_evidence_and_a_broad_source_stops_the_run(tmp_path: Path) -> None:
    """The GPL's clauses as an evaluation set against Debian's copyright files: hundreds of
    documents share them, so they are the known false positive, ignored by frequency."""
    copyrights = sorted(Path("/usr/share/doc").glob("*/copyright"))
    texts = [p.read_text("utf-8", errors="replace") for p in copyrights if p.is_file()]
    if sum("WITHOUT ANY WARRANTY" in t for t in texts) < 60:
        pytest.skip("needs Debian copyright files under /usr/share/doc")
    gpl = Path("/usr/share/common-licenses/GPL-2").read_text("utf-8").split("\n\n")
    clauses = [one_line(p) for p in gpl if p.strip().startswith("This program is distributed in the hope")]
    assert len(clauses) == 1
    source = tmp_path / "licence.txt"
    source.write_text(clauses[0] + "\n", "utf-8")
    config = DecontaminateConfig(enabled=True, sources=(str(source),))
    index = EvalIndex.load(config.sources, ngram=config.ngram)

    per_document = [index.find(t) for t in texts]
    key_documents = Counter(k for matches in per_document for k in keys_of(matches))
    hit = sum(bool(m) for m in per_document)
    assert hit > 100 and max(key_documents.values()) <= hit
    ignore = frequent_keys(key_documents, config.max_corpus_frequency)
    assert ignore == {k for k, c in key_documents.items() if c > 50} and ignore

    strict, lenient = Tally(), Tally()
    for text, matches in zip(texts, per_document, strict=True):
        strict.add(text, decide(text, matches, config), index)
        lenient.add(text, decide(text, matches, config, ignore), index)
    assert strict.dropped == hit
    still = sum(bool(set(keys_of(m)) - ignore) for m in per_document)
    assert lenient.dropped == still < hit // 10
    with pytest.raises(InputError, match=rf"max_removed_share: .* most by {re.escape(str(source))} \("):
        check_removed_share(strict, config, index)
    summary = strict.as_dict(index)
    assert summary["sources"][str(source)]["documents"] == hit
    assert summary["sources"][str(source)]["items_matched"] == 1
    assert summary["top_ngrams"][0]["documents"] == max(key_documents.values())
    merged = Tally()
    for k in range(0, len(texts), 100):
        part = Tally()
        for text, matches in zip(texts[k : k + 100], per_document[k : k + 100], strict=True):
            part.add(text, decide(text, matches, config), index)
        merged.merge(part)
    assert merged.as_dict(index) == summary


def test_a_clean_document_is_kept_as_is(qa_index, page_text) -> None:
    text = page_text(CONSOLE)
    decision = decide(text, qa_index.find(text), DecontaminateConfig(mode="excise"))
    assert (decision.action, decision.text, decision.bytes_removed, decision.reason) == (KEEP, text, 0, None)
