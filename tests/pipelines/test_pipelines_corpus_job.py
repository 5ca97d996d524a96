"""End to end: ``pipelines.corpus_job.run`` on the bundled sample, on a damaged copy of it, and on
JSONL of real text. Each run takes seconds, so runs are shared by module-scoped fixtures.

Expected numbers, reasoned from data/sample/README.md: 521 HTTP responses in (the warcinfo record is
skipped, not a document); the stylesheet and the image are ``not_html`` (2), ``index.html`` is the
``301``; ``ch01.html`` and its re-crawl (whose changed footer is not main content) are exact
duplicates of ``ch01.en.html#_console_basics``. The filters come first: of the 518 pages, 8 mix
translated text with untranslated English so that lid.176's top score is below 0.5, which leaves
510; Gopher's quality rules drop 22 of those: 10 list-only sections under 50 words, and 12 tables of
package names and numbers where under 80% of the words have a letter. Dedup then chooses among the
488 that passed: the 2 exact duplicates, and 9 near duplicates (a French page left untranslated, so
nearly equal to its English original, or an English section repeated with small changes), each in
favour of a page that is kept. 477 are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import jsonschema
import numpy as np
import pyarrow.parquet as pq
import pytest
from corpus_helpers import BASE_URL, REPO, SAMPLE_WARC, STDLIB, load_schema, schema_registry

from corpus.hashing import id_hash
from corpus.manifest import load_manifest, verify_shards, verify_tokenizer
from corpus.shards.format import open_tokens, read_header, read_index
from pipelines import corpus_job

SAMPLE_CONFIG = str(REPO / "configs" / "sample.toml")
DAMAGED = 100


def run_job(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = corpus_job.run(list(args))
    return rc, out.getvalue(), err.getvalue()


def load(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))


def rejected_rows(run: Path) -> list[dict]:
    return [row for p in sorted((run / "rejected").glob("*.parquet")) for row in pq.read_table(p).to_pylist()]


def shard_ids(run: Path, manifest: dict) -> list[str]:
    return [i for s in manifest["shards"] for i in pq.read_table(run / s["docs"]).column("id").to_pylist()]


def validate_outputs(run: Path) -> tuple[dict, dict]:
    registry = schema_registry()
    summary, manifest = load(run / "summary.json"), load(run / "manifest.json")
    jsonschema.Draft202012Validator(load_schema("summary"), registry=registry).validate(summary)
    jsonschema.Draft202012Validator(load_schema("manifest"), registry=registry).validate(manifest)
    return summary, manifest


def reasons(summary: dict) -> dict[str, dict[str, int]]:
    return {s["stage"]: s["rejected_by_reason"] for s in summary["stages"]}


# --- the sample ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_run(sample_corpus) -> tuple[Path, int, str]:
    return sample_corpus


@pytest.fixture(scope="module")
def outputs(sample_run) -> tuple[dict, dict]:
    run, rc, _ = sample_run
    assert rc == 0
    return validate_outputs(run)


def test_exit_code_and_printed_summary(sample_run) -> None:
    run, rc, stdout = sample_run
    assert rc == 0
    assert "521 documents in, 477 kept, 44 rejected" in stdout
    assert sorted(p.name for p in run.iterdir()) == [
        "clusters",
        "dedup_index",
        "docs",
        "heartbeat.json",
        "inputs.json",
        "manifest.json",
        "rejected",
        "run_stats.json",
        "summary.json",
        "tokenizer.json",
        "train_000000.bin",
        "train_000000.docs.parquet",
        "train_000000.idx",
        "val_000000.bin",
        "val_000000.docs.parquet",
        "val_000000.idx",
    ]


def test_summary_counts_are_exact(outputs) -> None:
    summary, _ = outputs
    assert summary["documents"] == {"in": 521, "kept": 477, "rejected": 44}
    assert [(s["stage"], s["in"], s["kept"], s["rejected"]) for s in summary["stages"]] == [
        ("read", 521, 521, 0),
        ("extract", 521, 518, 3),
        ("language", 518, 510, 8),
        ("safety", 510, 510, 0),
        ("quality", 510, 488, 22),
        ("pii", 488, 488, 0),
        ("url_dedup", 488, 488, 0),
        ("exact_dedup", 488, 486, 2),
        ("near_dedup", 486, 477, 9),
        ("shard", 477, 477, 0),
    ]
    assert reasons(summary) == {
        "read": {},
        "extract": {"http_status_301": 1, "not_html": 2},
        "exact_dedup": {"exact_duplicate": 2},
        "url_dedup": {},
        "near_dedup": {"minhash_duplicate": 9},
        "language": {"lang_below_threshold": 8},
        "safety": {},
        "quality": {"gopher_below_alpha_threshold": 12, "gopher_short_doc": 10},
        "pii": {},
        "shard": {},
    }
    # Line-level and PII changes to kept documents are counted too (the sample has e-mail
    # addresses in its examples and the address of www.debian.org in a ping transcript). PII
    # comes before dedup, so the copies dedup later removes were redacted too.
    pii = next(s for s in summary["stages"] if s["stage"] == "pii")
    assert pii["modified"] == {"documents_redacted": 40, "email": 77, "ip": 36}
    assert summary["records_skipped"] == {"warc_warcinfo": 1}
    assert summary["shards"] == 2


def test_responses_counted_independently(outputs, sample_members) -> None:
    summary, _ = outputs
    types = Counter(m.warc_type for m in sample_members)
    assert summary["documents"]["in"] == types["response"]
    assert summary["records_skipped"] == {f"warc_{t}": n for t, n in types.items() if t != "response"}


def test_manifest_matches_the_shards(sample_run, outputs) -> None:
    run, _, _ = sample_run
    summary, manifest = outputs
    assert load_manifest(run) == manifest
    verify_shards(run, manifest)
    assert verify_tokenizer(run, manifest) == run / "tokenizer.json"
    tokenizer = manifest["tokenizer"]
    assert (tokenizer["vocab_size"], tokenizer["bos_id"], tokenizer["dtype"]) == (8192, 0, "uint16")
    assert tokenizer["special_tokens"] == {"<|endoftext|>": 0}
    assert manifest["config"]["name"] == "sample"
    assert manifest["config"]["language"]["languages"] == ["en", "de", "fr", "es", "it", "ja"]
    assert manifest["totals"] == summary["tokens"]
    for shard in manifest["shards"]:
        header = read_header(run / shard["bin"])
        index = read_index(run / shard["idx"])
        assert (header.num_tokens, header.num_docs, header.dtype.name) == (
            shard["tokens"],
            shard["documents"],
            shard["dtype"],
        )
        assert len(index.lengths) == shard["documents"] == int(pq.read_metadata(run / shard["docs"]).num_rows)
        assert int(index.lengths.sum()) == shard["tokens"]
        assert (run / shard["bin"]).stat().st_size == shard["bytes"] == 1024 + 2 * shard["tokens"]
        assert hashlib.sha256((run / shard["bin"]).read_bytes()).hexdigest() == shard["sha256"]
        tokens = open_tokens(run / shard["bin"])
        starts = index.token_offsets
        assert np.all(tokens[starts] == tokenizer["bos_id"])  # every document starts with BOS
        assert int(np.count_nonzero(tokens == tokenizer["bos_id"])) == shard["documents"]  # and only there
        assert index.pointers.tolist() == (1024 + 2 * starts).tolist()


def test_documents_in_shards_equal_kept(sample_run, outputs) -> None:
    run, _, _ = sample_run
    summary, manifest = outputs
    ids = shard_ids(run, manifest)
    assert len(ids) == len(set(ids)) == summary["documents"]["kept"] == 477
    assert sum(s["documents"] for s in manifest["shards"]) == 477
    assert [s["documents"] for s in manifest["shards"]] == [445, 32]
    for shard in manifest["shards"]:
        shard_order = pq.read_table(run / shard["docs"]).column("id").to_pylist()
        assert shard_order == sorted(shard_order, key=id_hash)  # order by id hash, not arrival


def test_rejected_parquet_holds_every_rejection(sample_run, outputs, sample_members) -> None:
    run, _, _ = sample_run
    summary, manifest = outputs
    rows = rejected_rows(run)
    assert len(rows) == summary["documents"]["rejected"] == 44
    assert Counter((r["stage"], r["reason"]) for r in rows) == Counter(
        {
            ("extract", "not_html"): 2,
            ("extract", "http_status_301"): 1,
            ("exact_dedup", "exact_duplicate"): 2,
            ("near_dedup", "minhash_duplicate"): 9,
            ("quality", "gopher_below_alpha_threshold"): 12,
            ("quality", "gopher_short_doc"): 10,
            ("language", "lang_below_threshold"): 8,
        }
    )
    duplicates = sorted(r["url"] for r in rows if r["reason"] == "exact_duplicate")
    assert duplicates == [BASE_URL + "ch01.en.html#_console_basics", BASE_URL + "ch01.html#_console_basics"]
    # Every document that entered is accounted for: kept in a shard or rejected, never both.
    kept = set(shard_ids(run, manifest))
    rejected = {r["id"] for r in rows}
    all_ids = {m.record_id for m in sample_members if m.warc_type == "response"}
    assert kept | rejected == all_ids and not kept & rejected


def test_mixed_language_pages_are_below_threshold(sample_run, outputs) -> None:
    run, _, _ = sample_run
    rows = [r for r in rejected_rows(run) if r["stage"] == "language"]
    assert sorted((r["url"].removeprefix(BASE_URL), r["detail"]) for r in rows) == [
        ("ch05.es.html#_the_modern_network_configuration_without_gui", "es 0.293 < 0.5"),
        ("ch07.fr.html#_clipboard", "fr 0.375 < 0.5"),
        ("ch08.fr.html#_east_asian_ambiguous_character_width_characters", "en 0.377 < 0.5"),
        ("ch10.es.html#_interactive_merge", "en 0.362 < 0.5"),
        ("ch10.fr.html#_interactive_merge", "en 0.398 < 0.5"),
        ("ch10.ja.html#_interactive_merge", "en 0.407 < 0.5"),
        ("ch12.es.html#listofyacccompatparsergenerators", "en 0.304 < 0.5"),
        ("ch12.fr.html#listofyacccompatparsergenerators", "en 0.423 < 0.5"),
    ]
    assert all(r["text"] for r in rows)  # the text is kept for inspection


def test_schema_refuses_a_manifest_with_a_bad_config(outputs) -> None:
    # The manifest's config is checked through the $ref, not skipped.
    _, manifest = outputs
    bad = json.loads(json.dumps(manifest))
    bad["config"]["language"]["min_score"] = 5
    validator = jsonschema.Draft202012Validator(load_schema("manifest"), registry=schema_registry())
    errors = list(validator.iter_errors(bad))
    assert [list(e.absolute_path) for e in errors] == [["config", "language", "min_score"]]


def test_docs_parquet_and_no_leftovers(sample_run, outputs) -> None:
    run, _, _ = sample_run
    docs = pq.read_table(run / "docs" / "000000.parquet")
    assert docs.num_rows == 477
    # Untranslated sections of the fr/es/ja editions are identified as English.
    assert Counter(docs.column("language").to_pylist()) == Counter(
        {"en": 95, "it": 82, "de": 81, "ja": 79, "es": 77, "fr": 63}
    )
    assert not (run / "work").exists()
    assert not list(run.rglob("*.tmp"))


def test_rerun_is_already_finished(sample_run) -> None:
    run, _, _ = sample_run
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file()}
    rc, stdout, _ = run_job(
        "--input", str(SAMPLE_WARC), "--output", str(run.parent), "--config", SAMPLE_CONFIG
    )
    assert rc == 0
    assert stdout == f"{run}: already finished (manifest.json exists); --force redoes it\n"
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.is_file()} == before


@pytest.mark.slow
def test_forced_rerun_is_byte_identical(sample_run) -> None:
    # Last in this module: it rewrites the run the tests above read (with the same bytes).
    run, _, _ = sample_run
    names = sorted(p.name for p in run.iterdir() if p.is_file())
    # run_stats.json and heartbeat.json hold seconds, memory and a pid: they differ by nature.
    before = {n: (run / n).read_bytes() for n in names if n not in ("run_stats.json", "heartbeat.json")}
    rc, stdout, _ = run_job(
        "--input", str(SAMPLE_WARC), "--output", str(run.parent), "--config", SAMPLE_CONFIG, "--force"
    )
    assert rc == 0 and "521 documents in, 477 kept, 44 rejected" in stdout
    assert sorted(p.name for p in run.iterdir() if p.is_file()) == names
    for name in before:
        assert (run / name).read_bytes() == before[name], name


# --- a damaged copy beside the original ---------------------------------------------------------


@pytest.fixture(scope="module")
def damaged_run(tmp_path_factory: pytest.TempPathFactory, sample_bytes: bytes, sample_members) -> dict:
    inputs = tmp_path_factory.mktemp("inputs")
    member = sample_members[DAMAGED]
    data = bytearray(sample_bytes)
    at = member.offset + member.length // 2
    data[at : at + 16] = bytes(16)
    (inputs / "a-original.warc.gz").write_bytes(sample_bytes)
    (inputs / "b-damaged.warc.gz").write_bytes(bytes(data))
    output = tmp_path_factory.mktemp("out")
    rc, _, _ = run_job(
        "--input", str(inputs / "*.warc.gz"), "--output", str(output), "--config", SAMPLE_CONFIG
    )
    run = output / "sample"
    summary, manifest = validate_outputs(run)
    return {
        "rc": rc,
        "run": run,
        "summary": summary,
        "manifest": manifest,
        "damaged_path": str(inputs / "b-damaged.warc.gz"),
        "offset": member.offset,
    }


def test_damaged_record_is_rejected_and_counts_add_up(damaged_run) -> None:
    assert damaged_run["rc"] == 0
    summary = damaged_run["summary"]
    read = summary["stages"][0]
    assert (read["in"], read["kept"], read["rejected_by_reason"]) == (1042, 1041, {"warc_corrupt_record": 1})
    docs = summary["documents"]
    assert docs["in"] == docs["kept"] + docs["rejected"] == 1042
    assert summary["records_skipped"] == {"warc_warcinfo": 2}
    rows = rejected_rows(damaged_run["run"])
    assert len(rows) == docs["rejected"]
    corrupt = [r for r in rows if r["reason"] == "warc_corrupt_record"]
    path = damaged_run["damaged_path"]
    assert [(r["id"], r["source"], r["stage"]) for r in corrupt] == [
        (f"{path}@{damaged_run['offset']}", path, "read")
    ]
    assert corrupt[0]["detail"].startswith(f"{path}: unreadable gzip member at byte ")
    kept_ids = shard_ids(damaged_run["run"], damaged_run["manifest"])
    assert len(kept_ids) == docs["kept"] == sum(s["documents"] for s in damaged_run["manifest"]["shards"])


def test_copy_of_a_warc_adds_no_documents(damaged_run) -> None:
    ids = shard_ids(damaged_run["run"], damaged_run["manifest"])
    assert len(ids) == len(set(ids))
    assert damaged_run["summary"]["documents"]["kept"] == 477


# --- JSONL of real text -------------------------------------------------------------------------


def test_jsonl_input_end_to_end(tmp_path: Path, page_text) -> None:
    lines = []
    for lang in ("de", "fr", "ja", "it", "es"):
        text = page_text(f"ch01.{lang}.html#_console_basics")
        lines.append(
            {"id": f"debian-reference/ch01.{lang}", "url": BASE_URL + f"ch01.{lang}.html", "text": text}
        )
    lines.append({"id": "mirror/ch01.de", "text": page_text("ch01.de.html#_console_basics")})
    # A real page under a URL from UT1's adult list: the shipped URL word lists drop it.
    adult = {"id": "ut1", "url": "http://100freesexcams.blogspot.com/2017"}
    lines.append({**adult, "text": page_text("ch02.de.html#_basic_package_management_operations")})
    license_text = (STDLIB / "LICENSE.txt").read_text("utf-8")
    lines.append({"text": license_text[: license_text.index("B. TERMS AND CONDITIONS")]})
    body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    cut_at = len(body.encode("utf-8"))
    body += '{"id": "cut", "text": "Nach dem Starten\n'  # line 9: cut short
    body += json.dumps({"id": "no-text", "body": page_text("ch01.it.html#_console_basics")}) + "\n"
    (tmp_path / "docs.jsonl").write_text(body, "utf-8")
    rc, stdout, _ = run_job(
        "--input", str(tmp_path / "docs.jsonl"), "--output", str(tmp_path / "out"), "--name", "jsonl",
        "--vocab-size", "1000", "--languages", "de,fr,ja,it,es",
    )  # fmt: skip
    assert rc == 0, stdout
    run = tmp_path / "out" / "jsonl"
    summary, manifest = validate_outputs(run)
    assert summary["documents"] == {"in": 10, "kept": 5, "rejected": 5}
    assert reasons(summary) == {
        "read": {"jsonl_invalid_json": 1, "missing_text_field": 1},
        "extract": {},
        "exact_dedup": {"exact_duplicate": 1},
        "url_dedup": {},
        "near_dedup": {},
        "language": {"lang_not_kept": 1},
        "safety": {"url_banned_subword": 1},
        "quality": {},
        "pii": {},
        "shard": {},
    }
    assert summary["records_skipped"] == {}
    assert manifest["tokenizer"]["vocab_size"] == 1000
    assert manifest["config"]["language"]["languages"] == ["de", "fr", "ja", "it", "es"]
    assert sorted(shard_ids(run, manifest)) == [
        f"debian-reference/ch01.{lang}" for lang in ("de", "es", "fr", "it", "ja")
    ]
    rows = {(r["id"], r["reason"]) for r in rejected_rows(run)}
    source = str(tmp_path / "docs.jsonl")
    assert (f"{source}@byte {cut_at}", "jsonl_invalid_json") in rows
    assert [(r["stage"], r["reason"], r["detail"]) for r in rejected_rows(run) if r["id"] == "ut1"] == [
        ("safety", "url_banned_subword", "freesex")
    ]
    assert ("no-text", "missing_text_field") in rows
    # The German page twice, under two ids: one of the two is dropped.
    assert (
        len(
            [
                r
                for r in rows
                if r[1] == "exact_duplicate" and r[0] in {"debian-reference/ch01.de", "mirror/ch01.de"}
            ]
        )
        == 1
    )
    lang_rejected = [r for r in rows if r[1] == "lang_not_kept"]
    assert len(lang_rejected) == 1 and lang_rejected[0][0].startswith("sha:")  # the LICENSE, id derived
    verify_shards(run, manifest)


# --- Hugging Face datasets ----------------------------------------------------------------------


@pytest.mark.slow
def test_saved_dataset_and_hf_name_inputs_end_to_end(tmp_path: Path, page_text, monkeypatch) -> None:
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    pages = [f"ch01.{lang}.html#_console_basics" for lang in ("de", "fr", "es", "it")]
    data = datasets.Dataset.from_dict(
        {"id": pages, "url": [BASE_URL + p for p in pages], "text": [page_text(p) for p in pages]}
    )
    datasets.DatasetDict({"train": data.select([0, 1]), "test": data.select([2])}).save_to_disk(
        str(tmp_path / "saved")
    )
    folder = tmp_path / "pages"  # a local dataset folder, loaded by name through load_dataset
    folder.mkdir()
    data.select([3]).to_json(str(folder / "train.jsonl"))
    rc, stdout, _ = run_job(
        "--input", str(tmp_path / "saved"), "--input", f"hf:{folder}@train",
        "--output", str(tmp_path / "out"), "--name", "hf", "--vocab-size", "1000",
    )  # fmt: skip
    assert rc == 0, stdout
    run = tmp_path / "out" / "hf"
    summary, manifest = validate_outputs(run)
    assert summary["documents"] == {"in": 4, "kept": 4, "rejected": 0}
    assert sorted(shard_ids(run, manifest)) == sorted(pages)
    verify_shards(run, manifest)


def test_hf_input_that_cannot_load_exits_2(tmp_path: Path, monkeypatch) -> None:
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    rc, _, stderr = run_job("--input", f"hf:{tmp_path / 'missing'}", "--output", str(tmp_path / "out"))
    assert rc == 2 and stderr.startswith(f"error: hf:{tmp_path / 'missing'}: datasets.load_dataset failed: ")


# --- bad invocations ----------------------------------------------------------------------------


def test_bad_config_exits_2_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('name = "sample"\n\n[language]\nmin_score = 1.5\n', "utf-8")
    rc, stdout, stderr = run_job(
        "--input", str(SAMPLE_WARC), "--output", str(tmp_path / "out"), "--config", str(config)
    )
    assert rc == 2
    assert stderr == f"error: {config}: language.min_score: must be within [0, 1], got 1.5\n"
    assert not (tmp_path / "out").exists()


def test_bad_vocab_size_flag_exits_2(tmp_path: Path) -> None:
    rc, _, stderr = run_job(
        "--input", str(SAMPLE_WARC), "--output", str(tmp_path / "out"), "--vocab-size", "100"
    )
    assert (rc, stderr) == (2, "error: tokenizer.vocab_size: must be at least 257 (bytes + document token)\n")


def test_input_matching_nothing_exits_2(tmp_path: Path) -> None:
    pattern = str(tmp_path / "*.warc.gz")
    rc, _, stderr = run_job("--input", pattern, "--output", str(tmp_path / "out"))
    assert (rc, stderr) == (2, f"error: {pattern}: no input file matches\n")


def test_input_of_unknown_format_exits_2(tmp_path: Path) -> None:
    notes = tmp_path / "README.txt"
    notes.write_bytes((REPO / "data" / "sample" / "README.md").read_bytes())
    rc, _, stderr = run_job("--input", str(notes), "--output", str(tmp_path / "out"))
    assert (rc, stderr) == (
        2,
        f"error: {notes}: cannot tell the input format from the name; set input.format\n",
    )


def test_schema_ref_resolves_by_id(outputs) -> None:
    from referencing import Registry, Resource

    schemas = [load_schema(n) for n in ("manifest", "summary", "pipeline_config")]
    registry = Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in schemas])
    _, manifest = outputs
    jsonschema.Draft202012Validator(schemas[0], registry=registry).validate(manifest)


# --- filters preset and language routing ------------------------------------------------------


@pytest.mark.slow
def test_fineweb_preset_and_shards_per_language(tmp_path: Path) -> None:
    config = tmp_path / "routed.toml"
    config.write_text(
        'name = "routed"\n\n[quality]\npreset = "fineweb-like"\n\n[shard]\nby_language = true\n', "utf-8"
    )
    rc, stdout, _ = run_job("--input", str(SAMPLE_WARC), "--output", str(tmp_path), "--config", str(config))
    assert rc == 0, stdout
    run = tmp_path / "routed"
    summary, manifest = validate_outputs(run)
    quality = next(s for s in summary["stages"] if s["stage"] == "quality")
    # Each rule set drops pages of the sample (code with braces, tables, repeated lines) ...
    assert {"c4_curly_bracket", "fineweb_char_dup_ratio", "gopher_short_doc"} <= set(
        quality["rejected_by_reason"]
    )
    # ... and C4's line rules clean the pages that stay.
    assert quality["modified"]["c4_lines_removed"] > 0 and quality["modified"]["documents_cleaned"] > 0
    assert quality["in"] == quality["kept"] + quality["rejected"]
    # One set of shards per language, named by it; each holds only documents of that language.
    languages = {s["language"] for s in manifest["shards"]}
    assert languages == {"de", "en", "es", "fr", "it", "ja"}
    kept = {}
    for p in (run / "docs").glob("*.parquet"):
        for row in pq.read_table(p, columns=["id", "language"]).to_pylist():
            kept[row["id"]] = row["language"]
    for shard in manifest["shards"]:
        assert shard["name"] == f"{shard['split']}_{shard['language']}_{shard['name'][-6:]}"
        ids = pq.read_table(run / shard["docs"]).column("id").to_pylist()
        assert {kept[i] for i in ids} == {shard["language"]}
    assert sum(s["documents"] for s in manifest["shards"]) == summary["documents"]["kept"] == len(kept)
    verify_shards(run, manifest)
