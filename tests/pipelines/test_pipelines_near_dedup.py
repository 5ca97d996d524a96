"""Near dedup in the Beam job: the sample's real near-duplicates, the cluster Parquet, and the same
decisions whatever the input order, the number of workers, or the path to connected components.

The sample's near-duplicates are real: French sections left untranslated (so nearly equal to the
English ones) and English sections that repeat with small changes. 9 documents go, in 7 clusters.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from corpus_helpers import BASE_URL, SAMPLE_WARC, rows, run_job

from corpus_cli.main import main as cli_main

pytestmark = pytest.mark.slow  # whole jobs on several engines and paths

NEAR_DUPLICATES = [
    "ch03.en.html#_system_management_operations",
    "ch07.en.html#listofnotablefondrelatedpackages",
    "ch07.fr.html#_gui_communication_protocol",
    "ch07.fr.html#_gui_desktops",
    "ch07.fr.html#listofnotableguiapplications",
    "ch09.en.html#_scanning_the_source_code_tree",
    "ch09.fr.html#_scanning_the_source_code_tree",
    "ch12.en.html#_scripting_in_interpreted_languages",
    "ch12.fr.html#_scripting_in_interpreted_languages",
]


GROUPS = 11
"""Groups of candidate pairs on the sample (7 of them with a removal)."""
GROUP_MEMBERS = 25


def witness_of(rejected: dict) -> tuple[str, float]:
    """(witness id, similarity) from a near-dedup rejection's detail."""
    kept_id, similarity = rejected["detail"].removeprefix("duplicate of ").rsplit(" (similarity ", 1)
    return kept_id, float(similarity.rstrip(")"))


def kept_ids(run: Path) -> set[str]:
    return {i for p in run.glob("*.docs.parquet") for i in pq.read_table(p).column("id").to_pylist()}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("near")
    run_job("--input", str(SAMPLE_WARC), "--output", str(out), "--name", "near")
    return out / "near"


def test_sample_near_duplicates_are_removed_with_a_kept_witness(default_run: Path) -> None:
    near = [r for r in rows(default_run, "rejected") if r["stage"] == "near_dedup"]
    assert sorted(r["url"].removeprefix(BASE_URL) for r in near) == NEAR_DUPLICATES
    assert {r["reason"] for r in near} == {"minhash_duplicate"}
    kept = kept_ids(default_run)
    for r in near:
        witness, similarity = witness_of(r)
        assert witness in kept and r["id"] not in kept and 0.8 <= similarity <= 1.0


def test_cluster_parquet_names_each_removed_members_witness(default_run: Path) -> None:
    clusters = rows(default_run, "clusters")
    by_cluster: dict[str, list[dict]] = {}
    for r in clusters:
        by_cluster.setdefault(r["cluster_id"], []).append(r)
    assert len(by_cluster) == GROUPS and len(clusters) == GROUP_MEMBERS
    for cluster_id, members in by_cluster.items():
        kept = {m["id"] for m in members if m["kept"]}
        assert cluster_id in kept  # the most preferred member always stays
        for m in members:
            if m["kept"]:
                assert m["witness"] is None and m["similarity"] is None
            else:
                assert m["witness"] in kept and m["similarity"] >= 0.8
    removed = {r["id"]: (r["witness"], r["similarity"]) for r in clusters if not r["kept"]}
    near = [r for r in rows(default_run, "rejected") if r["stage"] == "near_dedup"]
    assert {r["id"]: witness_of(r)[0] for r in near} == {i: w for i, (w, _) in removed.items()}
    for r in near:
        assert witness_of(r)[1] == pytest.approx(removed[r["id"]][1], abs=5e-4)
    summary = json.loads((default_run / "summary.json").read_text("utf-8"))
    assert summary["near_dedup"]["groups"] == GROUPS and summary["near_dedup"]["kept_undecided"] == 0
    # At least one check per removed member: each is verified against its witness.
    assert summary["near_dedup"]["checks"] >= len(near)


def test_same_decisions_for_split_reversed_input_two_workers_and_the_iterative_path(
    default_run: Path, tmp_path: Path, sample_members
) -> None:
    # The sample cut in two WARC files, given in reverse order, two worker processes, and clusters
    # found by large-star/small-star rounds instead of one worker's union-find.
    half = len(sample_members) // 2
    data = SAMPLE_WARC.read_bytes()
    cut = sample_members[half].offset
    (tmp_path / "a.warc.gz").write_bytes(data[:cut])
    (tmp_path / "b.warc.gz").write_bytes(data[cut:])
    config = tmp_path / "iterative.toml"
    config.write_text('name = "split"\n\n[near_dedup]\nsingle_worker_max_edges = 0\n', "utf-8")
    run_job(
        "--input", str(tmp_path / "b.warc.gz"), "--input", str(tmp_path / "a.warc.gz"),
        "--output", str(tmp_path / "out"), "--config", str(config),
        "--direct_num_workers=2", "--direct_running_mode=multi_processing",
    )  # fmt: skip
    split = tmp_path / "out" / "split"
    assert kept_ids(split) == kept_ids(default_run)

    def removed(run: Path) -> set[tuple[str, str]]:
        return {(r["id"], r["detail"]) for r in rows(run, "rejected") if r["stage"] == "near_dedup"}

    assert removed(split) == removed(default_run)
    assert len(rows(split, "clusters")) == GROUP_MEMBERS


def test_near_dedup_can_be_switched_off(tmp_path: Path) -> None:
    config = tmp_path / "off.toml"
    config.write_text(
        'name = "off"\n\n[near_dedup]\nenabled = false\n\n[quality]\npreset = "none"\n', "utf-8"
    )
    run_job("--input", str(SAMPLE_WARC), "--output", str(tmp_path), "--config", str(config))
    assert len(kept_ids(tmp_path / "off")) == 508  # as before near dedup existed
    assert not list((tmp_path / "off" / "clusters").glob("*"))


def test_estimated_verification_and_keeping_the_longest(tmp_path: Path) -> None:
    config = tmp_path / "estimate.toml"
    config.write_text('name = "est"\n\n[near_dedup]\nverify = "estimate"\nkeep = "longest"\n', "utf-8")
    run_job("--input", str(SAMPLE_WARC), "--output", str(tmp_path), "--config", str(config))
    run = tmp_path / "est"
    removed = [r for r in rows(run, "rejected") if r["stage"] == "near_dedup"]
    # On the sample the estimate agrees with exact verification. (It took one more pair over
    # 0.8 when dedup ran on unredacted text; PII redaction now comes first, among the filters.)
    assert len(removed) == 9
    kept_text = {r["id"]: r["text"] for r in rows(run, "docs")}
    for r in removed:
        witness, _ = witness_of(r)
        assert len(kept_text[witness]) >= len(r["text"])  # members are decided longest first


def test_with_exact_dedup_off_identical_pages_are_near_duplicates(tmp_path: Path) -> None:
    config = tmp_path / "noexact.toml"
    config.write_text('name = "noexact"\n\n[dedup]\nexact = false\n', "utf-8")
    run_job("--input", str(SAMPLE_WARC), "--output", str(tmp_path), "--config", str(config))
    run = tmp_path / "noexact"
    rejected = rows(run, "rejected")
    assert not [r for r in rejected if r["stage"] == "exact_dedup"]
    near = [r for r in rejected if r["stage"] == "near_dedup"]
    # The 9 near duplicates, plus the 2 copies of ch01.en.html#_console_basics exact dedup would take.
    assert len(near) == 11
    copies = {BASE_URL + "ch01.html#_console_basics", BASE_URL + "ch01.en.html#_console_basics"}
    assert copies <= {r["url"] for r in near} | {None}


def test_corpus_cluster_explains_a_removal_with_a_diff_against_its_witness(default_run: Path) -> None:
    removed = next(r for r in rows(default_run, "clusters") if not r["kept"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["cluster", str(default_run), removed["id"], "--lines", "200"]) == 0
    text = out.getvalue()
    assert text.startswith(f"group {removed['cluster_id']}: ")
    assert f"removed  {removed['id']}" in text and f"witness {removed['witness']}" in text
    assert f"similarity {removed['similarity']:.3f}" in text
    assert "--- witness" in text and "+++ member" in text
    # The diff's '-' and '+' lines are the two texts' differences, nothing else.
    texts = {r["id"]: r["text"] for r in rows(default_run, "docs") + rows(default_run, "rejected")}
    witness_lines, member_lines = texts[removed["witness"]].splitlines(), texts[removed["id"]].splitlines()
    for line in text.splitlines():
        line = line.removeprefix("    ")
        if line.startswith("-") and not line.startswith("---"):
            assert line[1:] in witness_lines
        elif line.startswith("+") and not line.startswith("+++"):
            assert line[1:] in member_lines
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli_main(["cluster", str(default_run), "no-such-id"]) == 2
    assert "'no-such-id' is in no near-duplicate group" in err.getvalue()
