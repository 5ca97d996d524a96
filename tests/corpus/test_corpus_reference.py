"""corpus/dedup/reference.py: the join of a run's keys with a reference's keys by slices of the
key space, on real text (Python's stdlib sources: a reference of modules, and a run with the same
URLs, exact copies, edited copies and other modules). The truth is brute force."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from corpus_helpers import STDLIB

from corpus.config import PipelineConfig
from corpus.dedup import near, reference
from corpus.dedup.keys import dedup_keys, payload_of
from corpus.dedup.shingles import reference_shingles
from corpus.hashing import text_hash
from corpus.records import Document

CONFIG = PipelineConfig()


def doc(doc_id: str, url: str, text: str) -> Document:
    return Document(doc_id, url, "stdlib", None, text, text_hash(text))


def edited(text: str, rng: random.Random, share: float = 0.005) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, int(len(words) * share))):
        words[i] = words[rng.randrange(len(words))]
    return " ".join(words)


@pytest.fixture(scope="module")
def corpora() -> dict:
    paths = sorted(p for p in (STDLIB / "email").glob("*.py") if p.stat().st_size > 4000)
    paths += sorted(p for p in (STDLIB / "json").glob("*.py") if p.stat().st_size > 4000)
    texts = [p.read_text("utf-8") for p in paths]
    assert len(texts) >= 14
    ref = [
        doc(f"ref-{i}", f"https://docs.example/{p.stem}", t)
        for i, (p, t) in enumerate(zip(paths, texts, strict=True))
    ]
    rng = random.Random(7)
    other = sorted(p for p in (STDLIB / "logging").glob("*.py"))
    run = (
        [doc("same-url", ref[0].url, texts[1] + "\n# fetched again\n")]  # type: ignore[operator]
        + [doc(f"copy-{i}", f"https://mirror.example/{i}", texts[i]) for i in (2, 3)]
        + [doc(f"edit-{i}", f"https://fork.example/{i}", edited(texts[i], rng)) for i in (4, 5, 6)]
        + [doc(f"other-{p.stem}", f"https://other.example/{p.stem}", p.read_text("utf-8")) for p in other]
    )
    ref_keys, _ = dedup_keys(ref, 0, CONFIG, by_url=True)
    run_keys, run_payload = dedup_keys(run, 0, CONFIG, by_url=True)
    # The reference cut into two index files, as two units of an earlier run would leave it.
    index = reference.index_table(ref_keys, np.ones(len(ref), dtype=bool))
    files = [index.slice(0, 8), index.slice(8)]
    return {"ref": ref, "run": run, "files": files, "keys": run_keys, "payload": run_payload}


def drops_with(corpora: dict, parts: int) -> tuple[list[tuple], list[int]]:
    """The unit's drops with the key space in ``parts`` slices, and each slice's entry count."""
    by_slice: dict[int, list] = {}
    for f, table in enumerate(corpora["files"]):
        for part, data in reference.reference_entries(table, 0, f, CONFIG, parts).items():
            by_slice.setdefault(part, []).append(("ref", data))
    for part, data in reference.lookup_entries([corpora["keys"]], CONFIG, parts).items():
        by_slice.setdefault(part, []).append(("doc", data))
    sizes = [sum(len(reference.from_ipc(d)) for _, d in by_slice.get(p, [])) for p in range(parts)]
    matches: list[bytes] = []
    for part in sorted(by_slice):
        # A slice task sees its own slice of both sides, nothing else.
        got = reference.slice_matches(
            [d for side, d in by_slice[part] if side == "ref"],
            [(0, d) for side, d in by_slice[part] if side == "doc"],
        )
        matches.extend(got.values())
    ref = corpora["ref"]
    offsets = [0, len(corpora["files"][0])]

    def texts(r: int, f: int, rows: list[int]) -> tuple[list[str], list[str]]:
        chosen = [ref[offsets[f] + row] for row in rows]
        return [d.id for d in chosen], [d.text for d in chosen]

    def payload(positions: set[int]) -> dict[int, np.ndarray]:
        return payload_of([corpora["payload"]], positions)

    return reference.unit_drops(matches, payload, texts, CONFIG), sizes


def test_drops_are_exactly_what_brute_force_finds(corpora) -> None:
    got, _ = drops_with(corpora, 1)
    ref, run = corpora["ref"], corpora["run"]
    threshold = CONFIG.near_dedup.threshold
    expected = []
    for position, d in enumerate(run):
        by_url = [r for r in ref if r.url == d.url]
        by_text = [r for r in ref if r.text == d.text]
        if by_url:
            expected.append((position, "url_dedup", by_url[0].id, "reference_url_duplicate"))
        elif by_text:
            expected.append((position, "exact_dedup", by_text[0].id, "reference_exact_duplicate"))
        else:
            mine = reference_shingles(d.text, CONFIG.near_dedup.ngram)
            scores = [
                (len(mine & s) / len(mine | s), r.id) for r in ref if (s := reference_shingles(r.text, 5))
            ]
            best = max(scores)
            if best[0] >= threshold:
                expected.append((position, "near_dedup", best[1], "reference_minhash_duplicate"))
    assert [(p, stage, ref_id, reason) for p, stage, ref_id, _, reason in got] == expected
    assert [d[2] for d in got] == ["ref-0", "ref-2", "ref-3", "ref-4", "ref-5", "ref-6"]
    for _, stage, _, similarity, _ in got:
        assert (similarity is None) == (stage != near.STAGE)


def test_slices_split_the_reference_and_give_the_same_drops(corpora) -> None:
    whole, (total,) = drops_with(corpora, 1)
    cut, sizes = drops_with(corpora, 7)
    assert cut == whole
    # Every entry is in exactly one slice, and no slice holds much more than its share.
    assert sum(sizes) == total and all(0 < s < total / 7 * 2 for s in sizes), sizes


def test_slices_for_grows_with_the_documents() -> None:
    nd = CONFIG.near_dedup
    per_document = 2 + nd.lsh_shape()[0]
    assert reference.slices_for(0, 1000, nd) == 1
    n = reference.ENTRIES_PER_TASK // per_document
    assert reference.slices_for(10 * n, 10 * n, nd) == 20


def test_slice_of_is_a_range_of_the_mixed_key() -> None:
    keys = pa.array([text_hash(str(i)) for i in range(20_000)], pa.int64()).to_numpy()
    kinds = np.ones(len(keys), dtype=np.int16)
    slices = reference.slice_of(kinds, keys, 16)
    assert slices.min() == 0 and slices.max() == 15
    counts = np.bincount(slices)
    assert counts.min() > 20_000 / 16 * 0.8 and counts.max() < 20_000 / 16 * 1.2
    # The same key of another kind (a band key equal to a text hash) lands elsewhere as often as not.
    assert (reference.slice_of(kinds + 1, keys, 16) != slices).mean() > 0.8
