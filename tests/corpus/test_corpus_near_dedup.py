"""corpus/dedup/{shingles,minhash,near,index}.py on real text from the bundled sample.

Near-duplicates are planted by tests/support/families.py (edited copies of real pages); the truth is
the brute-force exact Jaccard of every pair within a family, independent of the vectorised code.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.config import NearDedupConfig, PipelineConfig
from corpus.dedup import minhash, near
from corpus.dedup.index import NearDuplicateIndex
from corpus.dedup.shingles import reference_shingles, shingle_hashes, unique_per_document
from corpus.dedup.survivors import KEPT, choose_survivors
from corpus.extract import extract_document
from corpus.hashing import id_hash
from corpus.records import Document
from tests.support.components import components_removed
from tests.support.families import chain, plant, plant_hard, score, true_clusters, witness_score


@pytest.fixture(scope="module")
def texts(sample_raw) -> list[str]:
    """Distinct extracted texts of the sample's first 150 HTML pages (six languages)."""
    out: list[str] = []
    for raw in sample_raw:
        doc = extract_document(raw, PipelineConfig().extract)
        if isinstance(doc, Document) and doc.text not in out:
            out.append(doc.text)
        if len(out) == 150:
            break
    return out


@pytest.fixture(scope="module")
def planted(texts):
    return plant(texts[:80], copies=3, seed=7)


# --- shingles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "n"), [("word", 5), ("word", 1), ("word", 3), ("char", 9), ("char", 1)])
def test_vectorised_shingles_match_the_plain_python_definition(texts, kind: str, n: int) -> None:
    hashes, offsets = shingle_hashes(texts, n, kind)
    for i, text in enumerate(texts):
        got = hashes[offsets[i] : offsets[i + 1]]
        assert len(np.unique(got)) == len(reference_shingles(text, n, kind)), i


def test_one_text_alone_hashes_as_in_a_batch(texts) -> None:
    hashes, offsets = shingle_hashes(texts[:20])
    for i in (0, 7, 19):
        alone, _ = shingle_hashes([texts[i]])
        assert alone.tolist() == hashes[offsets[i] : offsets[i + 1]].tolist()


def test_japanese_words_are_single_characters(paragraphs) -> None:
    ja = paragraphs["ja"]
    words = reference_shingles(ja, 1)
    assert ("<short>", "プ") not in words  # more than one word, so no "short" shingle
    assert ("プ",) in words and ("ロ",) in words  # Katakana: one character per word
    assert ("login",) in words  # Latin runs inside Japanese text stay whole words


def test_short_empty_and_punctuation_only_texts() -> None:
    texts = ["Debian GNU/Linux", "", "… — !!", "Debian gnu linux"]
    hashes, offsets = shingle_hashes(texts, 5)
    counts = np.diff(offsets).tolist()
    assert counts == [1, 0, 0, 1]  # shorter than one shingle: one shingle of all its words
    assert hashes[offsets[0]] == hashes[offsets[3]]  # case and punctuation do not matter
    sigs = minhash.signatures(hashes, offsets, 16, 1)
    assert (sigs[1] == minhash.EMPTY).all() and (sigs[2] == minhash.EMPTY).all()


def test_shingle_size_is_checked() -> None:
    with pytest.raises(ValueError, match="ngram must be within"):
        shingle_hashes(["text"], 0)
    with pytest.raises(ValueError, match="shingle kind must be"):
        shingle_hashes(["text"], 5, "sentence")


# --- signatures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (64, 42)])
def test_signatures_equal_datasketch_minhash(texts, num_perm: int, seed: int) -> None:
    hashes, offsets = shingle_hashes(texts)
    sigs = minhash.signatures(hashes, offsets, num_perm, seed)
    for i in range(0, len(texts), 7):
        m = MinHash(num_perm=num_perm, seed=seed, hashfunc=minhash.low32, scheme="affine32")
        for h in hashes[offsets[i] : offsets[i + 1]].tolist():
            m.update(h)
        assert m.hashvalues.dtype == np.uint32
        assert m.hashvalues.tolist() == sigs[i].tolist(), i


def test_signatures_index_in_datasketch_lsh(planted) -> None:
    hashes, offsets = shingle_hashes(planted.texts)
    sigs = minhash.signatures(hashes, offsets, 128, 1)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    for i, s in enumerate(sigs):
        lsh.insert(i, LeanMinHash(seed=1, hashvalues=s, scheme="affine32"))
    # Each planted copy finds its original among the candidates, when they are truly similar.
    x, y = reference_shingles(planted.texts[0]), reference_shingles(planted.texts[1])
    assert planted.family[0] == planted.family[1] and len(x & y) / len(x | y) > 0.9
    assert {0, 1} <= set(lsh.query(LeanMinHash(seed=1, hashvalues=sigs[1], scheme="affine32")))


def test_lsh_parameters_are_datasketchs() -> None:
    for threshold in (0.5, 0.7, 0.8, 0.9):
        lsh = MinHashLSH(threshold=threshold, num_perm=128)
        assert minhash.lsh_parameters(threshold, 128) == (lsh.b, lsh.r)
    assert NearDedupConfig().lsh_shape() == (14, 9)  # tuned for candidate_threshold 0.7
    assert NearDedupConfig(bands=20, rows=5).lsh_shape() == (20, 5)


def test_band_keys_agree_exactly_where_bands_agree() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**32, size=(1, 20), dtype=np.uint32)
    b = a.copy()
    b[0, 7] ^= 1  # differs in band 1 (rows 5-9) only
    keys = minhash.band_keys(np.concatenate([a, b]), 4, 5)
    assert (keys[0] == keys[1]).tolist() == [True, False, True, True]
    assert len(set(minhash.band_keys(np.repeat(a, 4, axis=1)[:, :20], 4, 5)[0].tolist())) == 4  # salted


def test_exact_and_estimated_jaccard(texts) -> None:
    hashes, offsets = shingle_hashes(texts[:2])
    sets, so = unique_per_document(hashes, offsets)
    x, y = sets[so[0] : so[1]], sets[so[1] : so[2]]
    rx, ry = reference_shingles(texts[0]), reference_shingles(texts[1])
    assert minhash.exact_jaccard(x, y) == pytest.approx(len(rx & ry) / len(rx | ry))
    assert minhash.exact_jaccard(x, x) == 1.0


# --- clusters -----------------------------------------------------------------------------------


def _random_graph(rng: random.Random, nodes: int, edges: int) -> list[near.Edge]:
    def node(i: int) -> near.Node:
        return (0, i * 7919 % 1000003, f"d{i}", 0, i)

    return [(node(rng.randrange(nodes)), node(rng.randrange(nodes))) for _ in range(edges)]


def test_star_rounds_agree_with_union_find() -> None:
    rng = random.Random(3)
    for nodes, edges in [(50, 40), (300, 250), (1000, 1500)]:
        graph = [e for e in _random_graph(rng, nodes, edges) if e[0] != e[1]]
        assert near.components_by_rounds(graph, 12) == near.union_find(graph)


def test_a_long_chain_converges_and_too_few_rounds_fail_loudly() -> None:
    chain = [((0, i, f"d{i}", 0, i), (0, i + 1, f"d{i + 1}", 0, i + 1)) for i in range(2000)]
    random.Random(1).shuffle(chain)
    roots = near.components_by_rounds(chain, 12)
    assert set(roots.values()) == {(0, 0, "d0", 0, 0)} and len(roots) == 2001
    with pytest.raises(near.NotConverged, match="raise near_dedup.max_rounds"):
        near.components_by_rounds(chain, 2)


def test_bucket_edges_are_a_star_from_the_smallest() -> None:
    members = [(0, h, f"d{h}", 0, h) for h in (5, 3, 9, 3)]
    assert near.bucket_edges(members) == [(members[1], members[0]), (members[1], members[2])]


def test_keep_preferences() -> None:
    assert near.preference("min_id_hash", "abc", None) == 0
    assert near.preference("longest", "abcd", None) < near.preference("longest", "abc", None)
    assert near.preference("newest", "", "2024-05-01T00:00:00Z") < near.preference("newest", "", "2023-01-01")
    assert near.preference("newest", "", None) == near.preference("newest", "", "not a date") == 0


# --- the single-worker path on planted near-duplicates of real pages ----------------------------


def test_planted_near_duplicates_precision_and_recall(planted) -> None:
    clusters = true_clusters(planted, 0.8)
    result = near.find_near_duplicates(planted.texts, NearDedupConfig())
    s = score(result.removed(), clusters, len(planted.texts))
    assert s["clusters"] >= 30 and s["should_remove"] >= 50
    assert s["precision"] == 1.0 and s["recall"] == 1.0  # exact verification on the same definition
    assert s["clusters_all_removed"] == 0 and s["unique_removed"] == 0
    assert s["clusters_one_survivor"] == s["clusters"]


def test_estimated_verification_is_close(planted) -> None:
    clusters = true_clusters(planted, 0.8)
    result = near.find_near_duplicates(planted.texts, NearDedupConfig(verify="estimate"))
    s = score(result.removed(), clusters, len(planted.texts))
    assert s["precision"] >= 0.95 and s["recall"] >= 0.95 and s["clusters_all_removed"] == 0


def test_kept_set_is_independent_of_input_order(planted) -> None:
    ids = [f"doc-{i}" for i in range(len(planted.texts))]

    def kept_ids(order: list[int]) -> set[str]:
        texts = [planted.texts[i] for i in order]
        result = near.find_near_duplicates(
            texts, NearDedupConfig(), order=lambda j: (id_hash(ids[order[j]]),), batch_size=64
        )
        return {ids[order[j]] for j in range(len(order)) if j not in result.removed()}

    forward = list(range(len(ids)))
    shuffled = forward[:]
    random.Random(5).shuffle(shuffled)
    assert kept_ids(forward) == kept_ids(shuffled)


def test_thousands_of_copies_keep_exactly_one(texts) -> None:
    copies = [texts[3]] * 1000 + [texts[4]]
    result = near.find_near_duplicates(copies, NearDedupConfig())
    removed = result.removed()
    assert len(removed) == 999 and 1000 not in removed
    assert set(removed.values()) == {0}  # the smallest-ranked copy is kept
    assert result.candidate_pairs == 999  # a star per bucket: linear, not quadratic


def test_documents_without_shingles_are_never_candidates(texts) -> None:
    result = near.find_near_duplicates(["", "— … —", texts[0], ""], NearDedupConfig())
    assert result.no_shingles == 3 and result.removed() == {}


# --- the index (datasketch MinHashLSH) -----------------------------------------------------------


def test_index_dedups_a_new_batch_against_the_corpus(planted, tmp_path) -> None:
    originals = [i for i, e in enumerate(planted.edits) if e == "original"]
    copies = [i for i, e in enumerate(planted.edits) if e != "original"]
    index = NearDuplicateIndex(NearDedupConfig(candidate_threshold=0.8))
    index.add([f"o{i}" for i in originals], [planted.texts[i] for i in originals])
    index.save(tmp_path / "corpus.lsh")
    loaded = NearDuplicateIndex.load(tmp_path / "corpus.lsh")
    assert len(loaded) == len(originals)
    kept, removed = loaded.deduplicate([f"c{i}" for i in copies], [planted.texts[i] for i in copies])
    assert len(kept) + len(removed) == len(copies)
    # A removed copy always matches a document of its own family.
    assert all(planted.family[int(k[1:])] == planted.family[int(v[1:])] for k, v in removed.items())
    assert len(removed) >= 0.8 * len(copies)
    assert loaded.query(planted.texts[originals[0]])[0] == (f"o{originals[0]}", 1.0)
    with pytest.raises(ValueError, match="already in the index"):
        loaded.add([f"o{originals[0]}"], ["text"])


# --- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"shingle": "sentence"}, "near_dedup.shingle"),
        ({"bands": 10}, "near_dedup.bands: give bands and rows"),
        ({"bands": 20, "rows": 10}, "exceeds num_perm 128"),
        ({"candidate_threshold": 0.9}, "near_dedup.candidate_threshold"),
        ({"verify": "none"}, "near_dedup.verify"),
        ({"keep": "oldest"}, "near_dedup.keep"),
        ({"ngram": 0}, "near_dedup.ngram"),
    ],
)
def test_near_dedup_config_errors_name_the_field(section: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PipelineConfig.from_dict({"near_dedup": section})


def test_combinations_of_shingle_sizes_keep_signatures_distinct(texts) -> None:
    sizes = {n: shingle_hashes(texts[:3], n)[0][:5].tolist() for n in (2, 3, 5)}
    for a, b in itertools.combinations(sizes.values(), 2):
        assert a != b


def test_re_shingling_path_gives_the_same_clusters(planted, monkeypatch) -> None:
    cached = near.find_near_duplicates(planted.texts, NearDedupConfig())
    monkeypatch.setattr(near, "SET_CACHE", 0)  # as for a corpus too big to keep its sets
    pass1 = near.band_keys_of(planted.texts, NearDedupConfig())
    assert pass1.sets is None
    again = near.find_near_duplicates(planted.texts, NearDedupConfig(), batch_size=64)
    assert again.witness == cached.witness and again.checks == cached.checks


def test_newest_reads_dates_without_an_offset_as_utc(monkeypatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert near.preference("newest", "", "2024-01-01") == -1704067200
        assert near.preference("newest", "", "2024-01-01T00:00:00+09:00") == -1704034800
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_index_remembers_keys_of_documents_without_words() -> None:
    index = NearDuplicateIndex(NearDedupConfig())
    index.add(["empty"], ["— … —"])
    assert len(index) == 1
    with pytest.raises(ValueError, match="already in the index"):
        index.deduplicate(["empty"], [""])


# --- survivors: a kept witness for every removal --------------------------------------------------


def jaccard(a: str, b: str) -> float:
    x, y = reference_shingles(a, 5), reference_shingles(b, 5)
    return len(x & y) / len(x | y)


@pytest.fixture(scope="module")
def revisions(texts) -> list[str]:
    """Three successive revisions of a long real page: A~B and B~C, but A and C unlike."""
    base = max(texts, key=len)
    links = chain(base, texts[:20], 2, 0.02, random.Random(3))
    a, b, c = links
    assert jaccard(a, b) >= 0.8 and jaccard(b, c) >= 0.8 and jaccard(a, c) < 0.8  # the premise
    return links


def test_a_chain_keeps_its_far_end(revisions) -> None:
    # Connected components would keep A alone and remove C, which nothing kept resembles.
    result = near.find_near_duplicates(revisions, NearDedupConfig())
    assert result.removed() == {1: 0}
    witness, similarity = result.witness[1]
    assert similarity == pytest.approx(jaccard(revisions[1], revisions[0]), abs=0.01)
    assert result.components == 1 and result.by_centres == 0


def test_the_most_preferred_similar_member_is_the_witness(revisions) -> None:
    # Order B, A, C: B stays first, then A and C both duplicate it.
    order = {0: 1, 1: 0, 2: 2}
    result = near.find_near_duplicates(revisions, NearDedupConfig(), order=lambda i: (order[i],))
    assert result.removed() == {0: 1, 2: 1}


def test_spent_checks_decide_the_rest_against_centres(revisions, texts) -> None:
    # With room for 1 check, A stays and B is checked against A and goes; C is then compared only
    # with its centres (kept members it shares a bucket with, and A as the heaviest witness): it
    # is unlike A, so it stays, decided rather than left undecided.
    result = near.find_near_duplicates(revisions, NearDedupConfig(max_checks=1))
    assert result.removed() == {1: 0} and result.by_centres == 1 and result.checks == 2


def test_spent_checks_still_remove_copies_with_a_kept_witness(texts) -> None:
    # The hard families with no room for checks at all: every member is decided against its
    # centres, and still nothing unique goes, no family loses all its members, every witness stays.
    planted = plant_hard(texts[:80], seed=11, chains=10, copies_of_one=300)
    result = near.find_near_duplicates(planted.texts, NearDedupConfig(max_checks=1))
    removed = result.removed()
    assert result.by_centres > 0 and not set(removed.values()) & set(removed)
    ours = witness_score(planted, removed, 0.8)
    assert ours["precision"] == 1.0 and ours["groups_lost"] == 0 and ours["unique_removed"] == 0
    assert ours["removed"] >= 300


@given(
    st.lists(st.lists(st.floats(0, 1), min_size=12, max_size=12), min_size=12, max_size=12),
    st.floats(0.05, 1.0),
)
@settings(max_examples=200, deadline=None)
def test_survivors_have_witnesses_and_are_pairwise_unlike(matrix, threshold) -> None:
    n = len(matrix)
    sim = [[1.0 if i == k else max(matrix[i][k], matrix[k][i]) for k in range(n)] for i in range(n)]
    chosen = choose_survivors(list(range(n)), lambda i, k: sim[i][k], threshold, max_checks=10_000)
    kept = [i for i, w in enumerate(chosen.witness) if w == KEPT]
    assert kept[0] == 0  # the most preferred always stays
    for i, w in enumerate(chosen.witness):
        if w != KEPT:
            assert w in kept and w < i and sim[i][w] >= threshold
            assert chosen.similarity[i] == sim[i][w]
            # the witness is the most preferred kept member similar to it
            assert all(sim[i][k] < threshold for k in kept if k < w)
    assert all(sim[i][k] < threshold for i, k in itertools.combinations(kept, 2))
    assert chosen.checks <= n * (n - 1) // 2


def test_hard_families_lose_nothing_and_remove_only_with_a_witness(texts) -> None:
    # Edited copies, revision chains and a page copied 300 times, in six languages; truth by
    # brute-force exact Jaccard. One survivor per connected component gets the chains wrong.
    planted = plant_hard(texts[:80], seed=11, chains=10, copies_of_one=300)
    assert sum(e.startswith("chain") for e in planted.edits) >= 30
    ours = witness_score(planted, near.find_near_duplicates(planted.texts, NearDedupConfig()).removed(), 0.8)
    assert ours["precision"] == 1.0 and ours["groups_lost"] == 0 and ours["unique_removed"] == 0
    assert ours["pair_recall"] >= 0.99 and ours["removed"] >= 300
    before = witness_score(planted, components_removed(planted.texts, NearDedupConfig()), 0.8)
    assert before["precision"] < 1.0 and before["pair_recall"] >= ours["pair_recall"]
