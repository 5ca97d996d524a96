"""corpus/summary.py: per-stage counts add up, and build_summary refuses counts that do not."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from corpus_helpers import load_schema

from corpus.records import Rejection
from corpus.summary import STAGES, SummaryError, build_summary, count, merge


def rejections(reason: str, n: int, stage: str) -> list[Rejection]:
    return [Rejection(f"<urn:uuid:{i}>", None, "sample.warc.gz", stage, reason) for i in range(n)]


def sample_counts() -> dict:
    """The per-stage counts of the bundled sample, built the way the pipeline's steps build them."""
    counts: dict = {}
    count(counts, "read", 521)
    count(
        counts,
        "extract",
        518,
        rejections("not_html", 2, "extract") + rejections("http_status_301", 1, "extract"),
    )
    count(counts, "language", 510, rejections("lang_below_threshold", 8, "language"))
    count(counts, "safety", 510)
    count(
        counts,
        "quality",
        488,
        rejections("gopher_below_alpha_threshold", 12, "quality")
        + rejections("gopher_short_doc", 10, "quality"),
    )
    count(counts, "pii", 488)
    count(counts, "url_dedup", 488)
    count(counts, "exact_dedup", 486, rejections("exact_duplicate", 2, "exact_dedup"))
    count(counts, "near_dedup", 477, rejections("minhash_duplicate", 9, "near_dedup"))
    count(counts, "shard", 477)
    return counts


def test_count_accumulates() -> None:
    counts: dict = {}
    count(counts, "extract", 3, rejections("not_html", 1, "extract"))
    count(counts, "extract", 2, rejections("not_html", 1, "extract") + rejections("empty_text", 2, "extract"))
    assert counts == {"extract": {"in": 9, "kept": 5, "rejected": {"not_html": 2, "empty_text": 2}}}


def test_merge_sums_per_file_counts() -> None:
    a: dict = {}
    b: dict = {}
    count(a, "read", 10, rejections("warc_corrupt_record", 1, "read"))
    count(
        b,
        "read",
        5,
        rejections("warc_corrupt_record", 2, "read") + rejections("warc_truncated_record", 1, "read"),
    )
    count(b, "extract", 5)
    assert merge([a, b]) == {
        "read": {"in": 19, "kept": 15, "rejected": {"warc_corrupt_record": 3, "warc_truncated_record": 1}},
        "extract": {"in": 5, "kept": 5, "rejected": {}},
    }
    assert a["read"]["in"] == 11  # inputs are not modified


def test_build_summary_of_the_sample_counts() -> None:
    summary = build_summary(sample_counts(), {"warc_warcinfo": 1}, {"tokens": {}, "shards": 2})
    assert summary["documents"] == {"in": 521, "kept": 477, "rejected": 44}
    assert [s["stage"] for s in summary["stages"]] == list(STAGES)
    assert summary["stages"][1] == {
        "stage": "extract",
        "in": 521,
        "kept": 518,
        "rejected": 3,
        "rejected_by_reason": {"http_status_301": 1, "not_html": 2},
    }
    assert summary["records_skipped"] == {"warc_warcinfo": 1}
    assert summary["documents"]["in"] == summary["documents"]["kept"] + summary["documents"]["rejected"]
    jsonschema.Draft202012Validator(load_schema("summary")).validate(summary)


def test_stage_whose_counts_do_not_add_up() -> None:
    counts = sample_counts()
    counts["exact_dedup"]["in"] += 1  # a document counted in but neither kept nor rejected
    with pytest.raises(SummaryError, match=r"^exact_dedup: in 489 != kept 486 \+ rejected 2$"):
        build_summary(counts, {}, {})


def test_stage_input_differs_from_previous_kept() -> None:
    counts = sample_counts()
    counts["language"]["kept"] -= 1
    counts["language"]["rejected"]["lang_below_threshold"] += 1
    with pytest.raises(SummaryError, match=r"^safety: in 510 != kept 509 of the stage before$"):
        build_summary(counts, {}, {})


def test_missing_stage_is_caught() -> None:
    counts = copy.deepcopy(sample_counts())
    del counts["shard"]  # the shard results never arrived
    with pytest.raises(SummaryError, match=r"^shard: in 0 != kept 477 of the stage before$"):
        build_summary(counts, {}, {})
