"""corpus/dedup/exact.py and corpus/stage_steps.py (extract_step, filter_step, duplicate_decisions,
dedup_step, shard_step) on the sample's real pages."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from corpus_helpers import FILTER_COUNTS_OF_COPIES
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.config import LanguageConfig, PipelineConfig, ShardConfig, TokenizerConfig
from corpus.dedup.exact import REASON, STAGE, choose_keeper
from corpus.extract import extract_document
from corpus.filters.language import LanguageIdentifier
from corpus.hashing import content_id, id_hash, text_hash
from corpus.records import Document, Rejection
from corpus.shards.split import split_of
from corpus.stage_steps import (
    dedup_step,
    duplicate_decisions,
    extract_step,
    filter_step,
    shard_step,
    unit_drops,
)
from corpus.tokenize import DocumentEncoder, train_bpe

# The first English section, served three times in the sample: its own URL, ch01.html, a re-crawl.
COPIES = ["ch01.en.html#_console_basics", "ch01.html#_console_basics", "ch01.html#_console_basics?recrawl=1"]


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier()


@pytest.fixture(scope="module")
def copies(pages) -> list[Document]:
    return [extract_document(pages[name], PipelineConfig().extract) for name in COPIES]


def test_choose_keeper_lowest_id_hash_whatever_the_order() -> None:
    members = [(9, "c", 0, 2), (3, "a", 1, 0), (5, "b", 0, 7)]
    for perm in itertools.permutations(members):
        assert choose_keeper(perm) == ((3, "a", 1, 0), [(5, "b", 0, 7), (9, "c", 0, 2)])
    assert choose_keeper([(7, "z", 0, 0)]) == ((7, "z", 0, 0), [])


def test_the_three_copies_have_one_text(copies: list[Document]) -> None:
    # The re-crawl's changed footer is not main content, so all three texts are equal.
    assert len({d.text_hash for d in copies}) == 1
    assert [d.id for d in copies] == [
        "<urn:uuid:a06247a2-7c32-573d-a711-bfe01e768a66>",
        "<urn:uuid:79da2dd2-e82a-5d09-8130-9c98754f530b>",
        "<urn:uuid:dbc4f123-b8af-599f-97a2-9dd258aff202>",
    ]


def test_duplicate_decisions_independent_of_input_order(copies: list[Document]) -> None:
    keeper = "<urn:uuid:dbc4f123-b8af-599f-97a2-9dd258aff202>"  # lowest id hash of the three
    assert min(copies, key=lambda d: d.id_hash).id == keeper
    # (file index, (position, stage, kept id)) of the dropped copies
    expected = [(0, (0, STAGE, keeper)), (0, (1, STAGE, keeper))]
    members = [(d.id_hash, d.id, 0, i) for i, d in enumerate(copies)]
    for perm in itertools.permutations(members):
        assert sorted(duplicate_decisions(perm)) == expected


def test_extract_step_counts_read_and_extract(pages) -> None:
    damaged = Rejection("x.warc.gz@779878", None, "x.warc.gz", "read", "warc_corrupt_record", "zeroed")
    items = [
        pages["ch01.de.html#_console_basics"],
        damaged,
        pages["index.html"],
        pages["debian-reference.css"],
        pages["ch01.ja.html#_console_basics"],
    ]
    result = extract_step(items, PipelineConfig())
    assert [d.url.rsplit("/", 1)[1] for d in result.documents] == [
        "ch01.de.html#_console_basics",
        "ch01.ja.html#_console_basics",
    ]
    assert [r.reason for r in result.rejections] == ["warc_corrupt_record", "http_status_301", "not_html"]
    assert result.counts == {
        "read": {"in": 5, "kept": 4, "rejected": {"warc_corrupt_record": 1}},
        "extract": {"in": 4, "kept": 2, "rejected": {"http_status_301": 1, "not_html": 1}},
    }


def test_filter_step_identifies_languages_and_keeps_every_copy(
    copies: list[Document], pages, identifier: LanguageIdentifier
) -> None:
    mixed = extract_document(pages["ch10.ja.html#_interactive_merge"], PipelineConfig().extract)
    german = extract_document(pages["ch01.de.html#_console_basics"], PipelineConfig().extract)
    result = filter_step([*copies, mixed, german], identifier, PipelineConfig())
    # Filters come first: the three copies all pass, dedup later chooses among them.
    assert [(d.id, d.language) for d in result.documents] == [
        *((c.id, "en") for c in copies),
        (german.id, "de"),
    ]
    assert [(r.id, r.stage, r.reason, r.detail) for r in result.rejections] == [
        (mixed.id, "language", "lang_below_threshold", "en 0.407 < 0.5"),
    ]
    assert result.rejections[0].text == mixed.text  # kept for inspection in rejected/
    assert result.counts == FILTER_COUNTS_OF_COPIES


def decisions_of(docs: list[Document]) -> dict[int, tuple[str, str]]:
    members = ((d.id_hash, d.id, 0, i) for i, d in enumerate(docs))
    return unit_drops((drop for _, drop in duplicate_decisions(members)), PipelineConfig())


def test_dedup_step_drops_the_copies_in_favour_of_the_kept_one(copies: list[Document]) -> None:
    result = dedup_step(enumerate(copies), decisions_of(copies))
    assert [d.id for d in result.documents] == [copies[2].id]
    assert [(r.id, r.stage, r.reason, r.detail) for r in result.rejections] == [
        (copies[0].id, STAGE, REASON, f"duplicate of {copies[2].id}"),
        (copies[1].id, STAGE, REASON, f"duplicate of {copies[2].id}"),
    ]
    assert result.rejections[0].text == copies[0].text
    assert result.counts == {
        "url_dedup": {"in": 3, "kept": 3, "rejected": {}},
        "exact_dedup": {"in": 3, "kept": 1, "rejected": {"exact_duplicate": 2}},
        "near_dedup": {"in": 1, "kept": 1, "rejected": {}},
    }


def test_dedup_step_applies_near_dedup_drops_after_exact(copies: list[Document], pages) -> None:
    german = extract_document(pages["ch01.de.html#_console_basics"], PipelineConfig().extract)
    docs = [*copies, german]
    drops = [(0, STAGE, copies[2].id), (1, STAGE, copies[2].id), (3, "near_dedup", copies[2].id)]
    result = dedup_step(enumerate(docs), unit_drops(drops, PipelineConfig()))
    assert [d.id for d in result.documents] == [copies[2].id]
    assert [(r.id, r.stage, r.reason) for r in result.rejections] == [
        (copies[0].id, STAGE, REASON),
        (copies[1].id, STAGE, REASON),
        (german.id, "near_dedup", "minhash_duplicate"),
    ]
    assert result.counts["exact_dedup"] == {"in": 4, "kept": 2, "rejected": {"exact_duplicate": 2}}
    assert result.counts["near_dedup"] == {"in": 2, "kept": 1, "rejected": {"minhash_duplicate": 1}}


def test_exact_drops_are_ignored_when_exact_dedup_is_off(copies: list[Document]) -> None:
    members = ((d.id_hash, d.id, 0, i) for i, d in enumerate(copies))
    drops = [drop for _, drop in duplicate_decisions(members)]
    config = PipelineConfig.from_dict({"dedup": {"exact": False}})
    result = dedup_step(enumerate(copies), unit_drops(drops, config))
    assert len(result.documents) == 3
    assert result.counts["exact_dedup"] == {"in": 3, "kept": 3, "rejected": {}}


def test_same_text_twice_under_one_derived_id_keeps_one(paragraphs) -> None:
    text = paragraphs["fr"]
    doc_id = content_id(None, text)  # what the JSONL reader derives for both lines
    docs = [Document(doc_id, None, "a.jsonl", None, text, text_hash(text))] * 2
    result = dedup_step(enumerate(docs), decisions_of(docs))
    assert len(result.documents) == 1


@pytest.fixture(scope="module")
def encoder(page_text) -> DocumentEncoder:
    texts = [page_text("ch01.de.html#_console_basics"), page_text("ch01.ja.html#_console_basics")]
    return DocumentEncoder(train_bpe(texts, 400, "<|endoftext|>").to_str(), "<|endoftext|>")


def shard_docs(sample_raw, n: int) -> list[Document]:
    config = PipelineConfig()
    docs = []
    for raw in sample_raw:
        out = extract_document(raw, config.extract)
        if isinstance(out, Document):
            docs.append(out)
        if len(docs) == n:
            return docs
    raise AssertionError("sample too small")


def test_shard_step_orders_by_id_hash_and_splits(sample_raw, encoder: DocumentEncoder) -> None:
    docs = shard_docs(sample_raw, 40)
    config = PipelineConfig(
        tokenizer=TokenizerConfig(batch_size=7),
        shard=ShardConfig(val_fraction=0.25, max_tokens_per_shard=3_000),
        language=LanguageConfig(),
    )
    runs = shard_step(docs, encoder, config)
    by_id = {d.id: d for d in docs}
    assert sorted(i for s in runs for i in s.ids) == sorted(by_id)
    # One run per split, uncut whatever the shard size: shards are cut across units later.
    assert [s.split for s in runs] == ["train", "val"]
    for s in runs:
        assert s.ids == sorted(s.ids, key=id_hash)
        assert all(split_of(i, 0.25) == s.split for i in s.ids)
        assert s.urls == [by_id[i].url for i in s.ids]
        for doc_id, tokens in zip(s.ids, s.tokens, strict=True):
            assert tokens[0] == encoder.bos_id
            np.testing.assert_array_equal(tokens, encoder.encode([by_id[doc_id].text])[0])
    assert sum(len(t) for t in runs[0].tokens) > 3 * 3_000


def test_shard_step_independent_of_arrival_order(sample_raw, encoder: DocumentEncoder) -> None:
    docs = shard_docs(sample_raw, 12)
    config = PipelineConfig(shard=ShardConfig(val_fraction=0.3, max_tokens_per_shard=8000))
    forward = shard_step(docs, encoder, config)
    backward = shard_step(docs[::-1], encoder, config)
    assert [(s.split, s.ids) for s in forward] == [(s.split, s.ids) for s in backward]
    for a, b in zip(forward, backward, strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(a.tokens, b.tokens, strict=True))


def test_text_hash_equal_for_equal_text(copies: list[Document]) -> None:
    assert copies[0].text_hash == text_hash(copies[1].text)


def test_exact_drops_never_shadow_near_drops_when_exact_dedup_is_off(copies) -> None:
    # With exact dedup off, both stages may name the same position; the near decision holds
    # whatever order the drops arrive in.
    config = PipelineConfig.from_dict({"dedup": {"exact": False}})
    keeper = copies[2].id
    for drops in (
        [(0, "near_dedup", keeper), (0, STAGE, keeper)],
        [(0, STAGE, keeper), (0, "near_dedup", keeper)],
    ):
        result = dedup_step(enumerate(copies), unit_drops(drops, config))
        assert [(r.id, r.stage) for r in result.rejections] == [(copies[0].id, "near_dedup")]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 2)),  # (which text, which unit)
        min_size=1,
        max_size=40,
    )
)
def test_exact_dedup_by_arrays_decides_as_the_reference(docs) -> None:
    """corpus.dedup.exact.task_drops (sorted arrays, what the pipeline runs) drops the same
    occurrences with the same kept ids as duplicate_decisions (the shuffle's reference)."""
    import pyarrow as pa

    from corpus.dedup.exact import exact_table, task_drops, text_key
    from corpus.dedup.sorted_keys import reader_of

    texts = [f"text {i}" for i in range(5)]
    members, per_unit = [], {}
    for n, (t, unit) in enumerate(docs):
        doc_id = f"doc-{n}"
        position = len(per_unit.setdefault(unit, []))
        per_unit[unit].append((position, id_hash(doc_id), text_key(texts[t]), doc_id))
        members.append((text_hash(texts[t]), (id_hash(doc_id), doc_id, unit, position)))
    expected = sorted(d for key in {m[0] for m in members}
                      for d in duplicate_decisions([m[1] for m in members if m[0] == key]))  # fmt: skip
    written = {}
    for unit, rows in per_unit.items():
        table = pa.table({"position": [r[0] for r in rows], "id_hash": [r[1] for r in rows],
                          "text_hi": [r[2][0] for r in rows], "text_lo": [r[2][1] for r in rows],
                          "id": [r[3] for r in rows]})  # fmt: skip
        written[unit] = exact_table([table], set())
    units = [(u, layout) for u, (_, layout) in written.items()]
    read = reader_of({u: data for u, (data, _) in written.items()})
    for parts in (1, 4, 64):
        got = [d for part in range(parts) for d in task_drops(units, part, parts, read)]
        assert sorted(got) == expected
