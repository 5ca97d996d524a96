"""A near-duplicate cluster far bigger than ``max_checks``: one real page copied 250,000 times
with a different word changed in each, among the sample's real pages and Python's own sources."""

from __future__ import annotations

import pytest
from corpus_helpers import STDLIB

from corpus.config import NearDedupConfig, PipelineConfig
from corpus.dedup import near
from corpus.extract import extract_document
from corpus.records import Document
from tests.support.copies import Concatenated, OneWordCopies, vocabulary_of

pytestmark = pytest.mark.slow  # 250,000 copies of a page

COPIES = 250_000


@pytest.fixture(scope="module")
def real(sample_raw) -> list[str]:
    """About 2,000 real documents: the sample's distinct pages, then Python stdlib sources."""
    out: list[str] = []
    for raw in sample_raw:
        doc = extract_document(raw, PipelineConfig().extract)
        if isinstance(doc, Document) and doc.text not in out:
            out.append(doc.text)
    for path in sorted(STDLIB.glob("*/*.py"))[: 2000 - len(out)]:
        out.append(path.read_text("utf-8", errors="replace")[:4000])
    return out


def test_a_page_copied_250000_times_keeps_one_copy(real) -> None:
    at = next(i for i, t in enumerate(real) if 120 <= len(t.split(" ")) <= 160)  # cheap to copy
    copies = OneWordCopies(real[at], vocabulary_of(real[:100]), COPIES)
    texts = Concatenated(real, copies)
    config = NearDedupConfig()
    result = near.find_near_duplicates(texts, config)
    removed = result.removed()
    first = len(real)
    cluster = [at, *range(first, first + COPIES)]  # the page among the real ones, and its copies
    kept = [j for j in cluster if j not in removed]
    assert kept == [at]  # the old cap kept thousands of copies, undecided
    assert result.by_centres > 0  # the cluster went past max_checks and was still decided
    assert all(removed[j] == at for j in cluster[1:])
    assert not set(removed.values()) & set(removed)  # every witness stays
    # The real documents are decided as they are without the copies.
    alone = near.find_near_duplicates(real, config).removed()
    assert {i: w for i, w in removed.items() if i < first} == alone
