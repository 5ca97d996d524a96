"""Dedup against an earlier run (``dedup.reference``) on real pages: run A on the first 60% of the
sample, run B on the last 60% (the overlap is the same URLs crawled again) plus a JSONL file of
A's texts copied exactly and edited, given A as reference. The truth is brute force: URL keys,
texts and the exact Jaccard of word 5-grams of every pair."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystem import FileMetadata, MatchResult
from apache_beam.io.localfilesystem import LocalFileSystem
from corpus_helpers import REPO, SAMPLE_WARC, rows, run_job

from corpus.dedup import url
from corpus.dedup.shingles import reference_shingles
from pipelines import corpus_job
from tests.support.families import chain

pytestmark = pytest.mark.slow  # two corpus runs each

REFERENCE_REASONS = {"reference_url_duplicate", "reference_exact_duplicate", "reference_minhash_duplicate"}


def jaccard(x: set, y: set) -> float:
    return len(x & y) / len(x | y) if x | y else 0.0


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, sample_members) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("reference")
    data = SAMPLE_WARC.read_bytes()
    n = len(sample_members)
    (tmp / "a.warc.gz").write_bytes(data[: sample_members[n * 6 // 10].offset])
    (tmp / "b.warc.gz").write_bytes(data[sample_members[n * 4 // 10].offset :])
    run_job("--input", str(tmp / "a.warc.gz"), "--output", str(tmp), "--name", "a")
    a = tmp / "a"
    # A's kept texts, copied exactly and edited (2% of the words replaced: near duplicates).
    kept = sorted(rows(a, "docs"), key=lambda r: r["id"])
    rng = random.Random(4)
    long = [r for r in kept if len(r["text"].split()) > 300]
    donors = [r["text"] for r in kept[:30]]
    lines = [{"id": f"copy-{i}", "text": r["text"]} for i, r in enumerate(rng.sample(long, 5))]
    lines += [
        {"id": f"edit-{i}", "text": chain(r["text"], donors, 1, 0.02, rng)[1]}
        for i, r in enumerate(rng.sample(long, 8))
    ]
    (tmp / "b-extra.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), "utf-8")
    config = tmp / "b.toml"
    config.write_text(f'name = "b"\n\n[dedup]\nreference = ["{a}"]\n', "utf-8")
    run_job(
        "--input", str(tmp / "b.warc.gz"), "--input", str(tmp / "b-extra.jsonl"),
        "--output", str(tmp), "--config", str(config),
    )  # fmt: skip
    return a, tmp / "b"


def test_a_finished_run_leaves_an_index_row_for_row_with_its_documents(runs) -> None:
    a, _ = runs
    docs = sorted((a / "docs").glob("*.parquet"))
    assert docs and [p.name for p in docs] == [p.name for p in sorted((a / "dedup_index").glob("*.parquet"))]
    for p in docs:
        index = pq.read_table(a / "dedup_index" / p.name)
        assert index.column("id").to_pylist() == pq.read_table(p).column("id").to_pylist()
        assert "text" not in index.column_names


def test_b_drops_exactly_what_duplicates_a(runs) -> None:
    a, b = runs
    a_kept = rows(a, "docs")
    a_urls = {url.url_key(r["url"]) for r in a_kept if r["url"]}
    a_texts = {r["text"]: r["id"] for r in a_kept}
    a_sets = [(r["id"], reference_shingles(r["text"], 5)) for r in a_kept]
    b_rejected = rows(b, "rejected")
    # B's documents that passed its filters: the ones it kept and the ones dedup removed.
    b_filtered = rows(b, "docs") + [r for r in b_rejected if r["stage"].endswith("_dedup")]
    expected = {}
    for r in b_filtered:
        if r["url"] and r["url"].startswith("http") and url.url_key(r["url"]) in a_urls:
            expected[r["id"]] = "reference_url_duplicate"
        elif r["text"] in a_texts:
            expected[r["id"]] = "reference_exact_duplicate"
        else:
            mine = reference_shingles(r["text"], 5)
            if any(jaccard(mine, theirs) >= 0.8 for _, theirs in a_sets):
                expected[r["id"]] = "reference_minhash_duplicate"
    got = {r["id"]: r["reason"] for r in b_rejected if r["reason"] in REFERENCE_REASONS}
    assert got == expected
    assert set(got.values()) == REFERENCE_REASONS  # all three kinds happened
    assert sum(1 for i in got if i.startswith(("copy-", "edit-"))) == 13
    a_ids = {r["id"] for r in a_kept}
    for r in b_rejected:
        if r["reason"] in REFERENCE_REASONS:
            witness = r["detail"].removeprefix("duplicate of ").split(" (similarity ")[0]
            assert witness in a_ids
    summary = json.loads((b / "summary.json").read_text("utf-8"))
    by_stage = {s["stage"]: s for s in summary["stages"]}
    assert by_stage["url_dedup"]["rejected_by_reason"]["reference_url_duplicate"] == sum(
        1 for v in got.values() if v == "reference_url_duplicate"
    )


def test_the_union_of_both_corpora_has_no_near_duplicate_pair(runs) -> None:
    a, b = runs
    kept = rows(a, "docs") + rows(b, "docs")
    sets = [reference_shingles(r["text"], 5) for r in kept]
    above = [
        (kept[i]["id"], kept[j]["id"])
        for i, j in itertools.combinations(range(len(kept)), 2)
        if len(sets[i]) and len(sets[j]) and jaccard(sets[i], sets[j]) >= 0.8
    ]
    assert above == []


def test_a_reference_with_other_lsh_settings_is_refused(runs, tmp_path: Path) -> None:
    a, _ = runs
    config = tmp_path / "c.toml"
    config.write_text(f'name = "c"\n\n[dedup]\nreference = ["{a}"]\n\n[near_dedup]\nngram = 3\n', "utf-8")
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = corpus_job.run(["--input", str(SAMPLE_WARC), "--output", str(tmp_path), "--config", str(config)])
    assert rc == 2
    assert (
        f"dedup.reference: {a} was deduplicated with near_dedup ngram = 5, this run uses 3" in err.getvalue()
    )


def test_a_reference_that_is_the_output_folder_is_refused_and_kept(runs, tmp_path: Path) -> None:
    # With --force the run would delete its output folder first: the very corpus named as the
    # reference. Refused before anything is touched, whichever way the path is written.
    a, _ = runs
    before = sorted(p.relative_to(a) for p in a.rglob("*"))
    for written in (str(a), str(a) + "/", str(a.parent / "." / a.name)):
        config = tmp_path / "self.toml"
        config.write_text(f'name = "{a.name}"\n\n[dedup]\nreference = ["{written}"]\n', "utf-8")
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            args = ["--input", str(SAMPLE_WARC), "--output", str(a.parent), "--config", str(config)]
            rc = corpus_job.run([*args, "--force"])
        assert rc == 2
        assert f"dedup.reference: {written} is this run's own output folder" in err.getvalue()
    assert sorted(p.relative_to(a) for p in a.rglob("*")) == before


class SchemeOnlyFileSystem(LocalFileSystem):
    """Local files under a scheme of their own (``onlybeam://``): a path that only Beam's
    FileSystems can read; pathlib, glob or open() on it find nothing. Registered with Beam by
    being defined (FileSystem.get_all_subclasses), in this process: the in-process engine."""

    PREFIX = "onlybeam://"

    @classmethod
    def scheme(cls) -> str:
        return "onlybeam"

    def _local(self, path: str) -> str:
        return path.removeprefix(self.PREFIX)

    def match(self, patterns, limits=None):
        results = super().match([self._local(p) for p in patterns], limits)
        return [
            MatchResult(
                self.PREFIX + r.pattern,
                [
                    FileMetadata(self.PREFIX + m.path, m.size_in_bytes, m.last_updated_in_seconds)
                    for m in r.metadata_list
                ],
            )
            for r in results
        ]

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def exists(self, path) -> bool:
        return super().exists(self._local(path))


def test_a_reference_is_read_through_beam_filesystems(runs, tmp_path: Path) -> None:
    # A reads as onlybeam://<A>: listed, checked and read only through FileSystems. B's extra
    # file (exact and edited copies of A's texts) against it drops what B dropped of it.
    a, b = runs
    remote = SchemeOnlyFileSystem.PREFIX + str(a)
    assert not Path(remote).exists()
    config = tmp_path / "c.toml"
    config.write_text(f'name = "c"\n\n[dedup]\nreference = ["{remote}"]\n', "utf-8")
    extra = b.parent / "b-extra.jsonl"
    run_job(
        "--input", str(extra), "--output", str(tmp_path), "--config", str(config), "--engine", "inprocess"
    )
    got = {r["id"]: (r["reason"], r["detail"]) for r in rows(tmp_path / "c", "rejected")}
    in_b = {r["id"]: (r["reason"], r["detail"]) for r in rows(b, "rejected") if r["id"] in got}
    assert len(got) == 13 and got == in_b
    assert {reason for reason, _ in got.values()} == {
        "reference_exact_duplicate",
        "reference_minhash_duplicate",
    }


def test_no_path_of_the_users_is_opened_but_through_filesystems() -> None:
    # The reference code (library and stage) neither imports pathlib or glob nor calls open().
    for module in ("corpus/dedup/reference.py", "pipelines/stages/reference.py"):
        source = (REPO / module).read_text("utf-8")
        for banned in ("pathlib", "import glob", "glob(", " open(", "os.path", "load_json("):
            assert banned not in source, (module, banned)
