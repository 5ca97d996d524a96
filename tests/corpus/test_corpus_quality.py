"""corpus/filters/quality.py: every rule on real text that fails it, with the exact reason, and on
real text that passes.

Failing texts are pages of the bundled sample and files of Python's own standard library, found
by running the rules over both; where no real text crosses a rule's published threshold, the test
lowers the threshold on real text so the rule's measurement is still exercised.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from corpus_helpers import STDLIB

from corpus.config import PipelineConfig, QualityConfig
from corpus.errors import InputError
from corpus.filters import quality as q
from corpus.filters.text_units import words
from corpus.normalize import normalize_text

FINEWEB = PipelineConfig.from_dict({"quality": {"preset": "fineweb-like"}}).quality
C4 = PipelineConfig.from_dict({"quality": {"preset": "c4-like"}}).quality
PASSING_PAGE = "ch01.en.html#_console_basics"


def stdlib(name: str) -> str:
    return normalize_text((STDLIB / name).read_text("utf-8"))


def with_(**changes) -> QualityConfig:
    return PipelineConfig.from_dict({"quality": {"preset": "fineweb-like", **changes}}).quality


# --- a real page passes every rule set ----------------------------------------------------------


def test_an_ordinary_page_passes_every_rule(page_text) -> None:
    text = page_text(PASSING_PAGE)
    assert q.gopher_quality(text, "en", FINEWEB) is None
    assert q.gopher_repetition(text, "en", FINEWEB) is None
    assert q.fineweb_quality(text, "en", FINEWEB) is None
    cleaned = q.c4_clean(text, "en", FINEWEB)
    assert cleaned.finding is None and cleaned.text


# --- Gopher quality -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "reason", "detail"),
    [
        ("ch07.en.html#listofnotablesandrelatedpackages", "gopher_short_doc", "24 words < 50"),
        ("ch06.en.html#_other_network_application_clients", "gopher_below_alpha_threshold", "0.734 < 0.8"),
    ],
)
def test_gopher_quality_on_sample_pages(page_text, page: str, reason: str, detail: str) -> None:
    assert q.gopher_quality(page_text(page), "en", FINEWEB) == q.Finding(reason, detail)


@pytest.mark.parametrize(
    ("file", "reason", "detail"),
    [
        ("functools.py", "gopher_too_many_hashes", "0.353 > 0.1"),
        ("this.py", "gopher_few_stop_words", "0 stop words < 2"),
    ],
)
def test_gopher_quality_on_stdlib_files(file: str, reason: str, detail: str) -> None:
    assert q.gopher_quality(stdlib(file), "en", FINEWEB) == q.Finding(reason, detail)


@pytest.mark.parametrize(
    ("page", "changes", "reason"),
    [
        (PASSING_PAGE, {"gopher_max_words": 100}, "gopher_long_doc"),
        (PASSING_PAGE, {"gopher_min_mean_word_length": 6.0}, "gopher_below_avg_word_length"),
        (PASSING_PAGE, {"gopher_max_mean_word_length": 4.0}, "gopher_above_avg_word_length"),
        (
            "ch04.en.html#_normal_unix_authentication",
            {"gopher_max_symbol_word_ratio": 0.005},
            "gopher_too_many_ellipsis",
        ),
        (
            "ch01.en.html#_unix_like_filesystem",
            {"gopher_max_bullet_lines_ratio": 0.1},
            "gopher_too_many_bullets",
        ),
    ],
)
def test_gopher_quality_rules_below_their_published_threshold(page_text, page, changes, reason) -> None:
    finding = q.gopher_quality(page_text(page), "en", with_(**changes))
    assert finding is not None and finding.reason == reason
    assert q.gopher_quality(page_text(page), "en", FINEWEB) is None  # passes at the paper's values


def test_japanese_is_not_judged_by_word_length(page_text) -> None:
    text = page_text("ch01.ja.html#_console_basics")
    ws = words(text)
    assert sum(len(w) for w in ws) / len(ws) < 3  # one character per Japanese word
    assert q.gopher_quality(text, "ja", FINEWEB) is None
    assert q.gopher_quality(text, "en", FINEWEB).reason == "gopher_below_avg_word_length"


def test_stop_words_for_other_languages_come_from_files(page_text, tmp_path: Path) -> None:
    text = page_text("ch01.de.html#_console_basics")
    assert q.gopher_quality(text, "de", FINEWEB) is None  # no German list: the rule does not apply
    (tmp_path / "de.txt").write_text("der\ndie\nund\n", "utf-8")
    lists = q.load_stop_words(str(tmp_path))
    assert lists["de"] == frozenset({"der", "die", "und"}) and "en" in lists
    assert q.gopher_quality(text, "de", FINEWEB, lists) is None  # German text has German stop words
    assert q.gopher_quality(page_text(PASSING_PAGE), "de", FINEWEB, lists).reason == "gopher_few_stop_words"
    with pytest.raises(InputError, match="quality.stop_words_dir"):
        q.load_stop_words(str(tmp_path / "missing"))


# --- Gopher repetition --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "reason", "detail"),
    [
        ("bisect.py", "gopher_dup_line_fraction", "0.461 > 0.3"),
        ("queue.py", "gopher_dup_line_char_fraction", "0.204 > 0.2"),
        ("struct.py", "gopher_top_2_gram", "0.245 > 0.2"),
        ("importlib/readers.py", "gopher_top_3_gram", "0.316 > 0.18"),
        ("_weakrefset.py", "gopher_dup_5_gram", "0.221 > 0.15"),
    ],
)
def test_gopher_repetition_on_stdlib_files(file: str, reason: str, detail: str) -> None:
    assert q.gopher_repetition(stdlib(file), "en", FINEWEB) == q.Finding(reason, detail)


def test_gopher_repetition_on_a_sample_page(page_text) -> None:
    text = page_text("ch05.fr.html#_netfilter_infrastructure")
    assert q.gopher_repetition(text, "fr", FINEWEB) == q.Finding("gopher_dup_8_gram", "0.127 > 0.12")


def test_paragraph_repetition_below_its_published_threshold(page_text) -> None:
    text = page_text("ch01.en.html#_command_alias")
    changed = with_(gopher_max_dup_line_fraction=1.0, gopher_max_dup_line_char_fraction=1.0,
                    gopher_max_dup_para_fraction=0.01)  # fmt: skip
    assert q.gopher_repetition(text, "en", changed).reason == "gopher_dup_para_fraction"


def test_repeated_ngrams_of_japanese_characters_are_not_judged(page_text) -> None:
    text = page_text("ch01.ja.html#_console_basics")
    assert q.gopher_repetition(text, "en", FINEWEB).reason == "gopher_dup_5_gram"  # as if words
    assert q.gopher_repetition(text, "ja", FINEWEB) is None


# --- C4 -----------------------------------------------------------------------------------------


def test_c4_removes_lines_and_counts_them(page_text) -> None:
    text = page_text("ch02.en.html#_debian_package_management_internals")
    cleaned = q.c4_clean(text, "en", C4)
    assert cleaned.finding is None
    before = [line for line in text.split("\n") if line.strip()]
    after = [line for line in cleaned.text.split("\n") if line.strip()]
    assert cleaned.lines_removed == len(before) - len(after) > 0
    assert all(line.rstrip().endswith(q.TERMINAL_PUNCTUATION) for line in after)
    assert all(len(words(line)) >= 3 for line in after)
    assert set(after) <= set(before)  # lines are removed, never rewritten


@pytest.mark.parametrize(
    ("page", "reason", "detail"),
    [
        ("ch01.en.html#_command_alias", "c4_curly_bracket", "contains '{'"),
        ("ch03.ja.html#_the_kernel_message", "c4_few_sentences", "2 sentences < 5"),
    ],
)
def test_c4_drops_documents(page_text, page: str, reason: str, detail: str) -> None:
    lang = page.split(".")[1]
    assert q.c4_clean(page_text(page), lang, FINEWEB).finding == q.Finding(reason, detail)


def test_c4_lorem_ipsum_in_a_real_file() -> None:
    spec = importlib.util.find_spec("jinja2")
    assert spec is not None and spec.origin  # a torch dependency: always installed
    text = normalize_text(Path(spec.origin).with_name("constants.py").read_text("utf-8"))
    assert q.c4_clean(text, "en", C4).finding == q.Finding("c4_lorem_ipsum", "contains 'lorem ipsum'")


def test_c4_removes_lines_that_mention_javascript(page_text) -> None:
    text = page_text("ch12.en.html#_web")
    line = "For more, see the Common Gateway Interface, The Apache Software Foundation, and JavaScript."
    assert line in text.split("\n")
    assert line not in q.c4_clean(text, "en", C4).text.split("\n")
    kept = q.c4_clean(text, "en", with_(c4_javascript=False, c4_min_sentences=0))
    assert line in kept.text.split("\n")


def test_c4_policy_lines_in_real_text(page_text) -> None:
    # "uses cookies" is one of C4's policy phrases; this page's X cookie line contains "cookie"
    # but none of the phrases, so it stays.
    text = page_text("ch07.en.html#_x_server_connection")
    cookie_lines = [line for line in text.split("\n") if "cookie" in line.lower()]
    assert cookie_lines
    cleaned = q.c4_clean(text, "en", with_(c4_min_sentences=0)).text.split("\n")
    assert [line for line in cookie_lines if line in cleaned] == [
        line for line in cookie_lines if not any(p in line.lower() for p in q._POLICY)
    ]


# --- FineWeb ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "lang", "reason", "detail"),
    [
        ("ch03.en.html#_the_kernel_message", "en", "fineweb_line_punct_ratio", "0.067 < 0.12"),
        (
            "ch05.ja.html#_the_modern_network_configuration_without_gui",
            "ja",
            "fineweb_short_lines",
            "0.750 > 0.67",
        ),
        ("ch01.en.html#_command_alias", "en", "fineweb_char_dup_ratio", "0.048 > 0.01"),
    ],
)
def test_fineweb_on_sample_pages(page_text, page, lang, reason, detail) -> None:
    assert q.fineweb_quality(page_text(page), lang, FINEWEB) == q.Finding(reason, detail)


def test_fineweb_list_ratio_on_a_stdlib_file() -> None:
    assert q.fineweb_quality(stdlib("encodings/ascii.py"), "en", FINEWEB) == q.Finding(
        "fineweb_list_ratio", "0.400 > 0.3"
    )


# --- presets and the order of rule sets ---------------------------------------------------------


def test_presets_switch_rule_sets_and_fields_override_them() -> None:
    assert (FINEWEB.gopher_quality, FINEWEB.gopher_repetition, FINEWEB.c4, FINEWEB.fineweb) == (True,) * 4
    assert FINEWEB.c4_terminal_punctuation is False  # FineWeb kept lines without a full stop
    assert (C4.c4, C4.gopher_quality, C4.c4_terminal_punctuation) == (True, False, True)
    minimal = PipelineConfig().quality
    assert (minimal.gopher_quality, minimal.c4, minimal.fineweb) == (True, False, False)
    assert with_(gopher_min_words=10).gopher_min_words == 10
    with pytest.raises(ValueError, match="quality.preset: 'strict' is not one of"):
        PipelineConfig.from_dict({"quality": {"preset": "strict"}})
    with pytest.raises(ValueError, match="quality.gopher_dup_ngram_char_fractions: six values"):
        PipelineConfig.from_dict({"quality": {"gopher_dup_ngram_char_fractions": [0.1]}})


def test_check_quality_cleans_then_judges(page_text) -> None:
    text = page_text("ch02.en.html#_debian_package_management_internals")
    verdict = q.check_quality(text, "en", C4)
    assert verdict.finding is None and verdict.lines_removed > 0 and verdict.text != text
    # Gopher's rules pass this page; C4 (before FineWeb, which would also drop it) finds the brace.
    assert q.check_quality(page_text("ch01.en.html#_command_alias"), "en", FINEWEB).finding.reason == (
        "c4_curly_bracket"
    )


def test_words_keep_combining_marks() -> None:
    # Hindi and Tamil vowel signs are combining marks; a word must not be cut at them.
    assert words("हिन्दी भाषा") == ["हिन्दी", "भाषा"]
    assert words("தமிழ் மொழி") == ["தமிழ்", "மொழி"]


def test_presets_from_python() -> None:
    config = QualityConfig.from_preset("fineweb-like", gopher_min_words=10)
    assert (config.gopher_repetition, config.c4, config.fineweb, config.gopher_min_words) == (
        True,
        True,
        True,
        10,
    )
    with pytest.raises(ValueError, match="quality.c4_min_sentences: must not be negative"):
        QualityConfig.from_preset("c4-like", c4_min_sentences=-1)
