"""One TestPipeline test per composite PTransform, on the sample's real pages.

Pipelines run in-process on the FnApiRunner: the plain DirectRunner would try to download Prism.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from corpus_helpers import BASE_URL, SAMPLE_WARC

from corpus.config import PipelineConfig, ShardConfig, TokenizerConfig
from corpus.dedup.exact import text_key
from corpus.dedup.keys import dedup_keys
from corpus.extract import extract_document
from corpus.records import Document, documents_table, read_documents, write_parquet
from corpus.shards.format import write_shard
from corpus.stage_steps import shard_step
from corpus.tokenize import DocumentEncoder, sample_bucket, train_bpe
from corpus.units import WorkUnit
from pipelines.stages.dedup import FindExactDuplicates, FindUrlDuplicates
from pipelines.stages.drop_duplicates import DropDuplicates
from pipelines.stages.extract import ExtractAndFilter
from pipelines.stages.shard import WriteShards
from pipelines.stages.tokenizer import BuildTokenizer

COPIES = ["ch01.en.html#_console_basics", "ch01.html#_console_basics", "ch01.html#_console_basics?recrawl=1"]
KEEPER = "<urn:uuid:dbc4f123-b8af-599f-97a2-9dd258aff202>"


def in_process() -> BeamTestPipeline:
    return BeamTestPipeline(runner=fn_runner.FnApiRunner())


def write_docs(path: Path, docs: list[Document]) -> str:
    with open(path, "wb") as f:
        write_parquet(documents_table(docs), f)
    return str(path)


def extracted(pages, names: list[str]) -> list[Document]:
    return [extract_document(pages[n], PipelineConfig().extract) for n in names]


def write_keys(work: Path, members: list[tuple[int, tuple[int, str, int, int]]]) -> list[dict]:
    """Keys files (text_hash, id_hash, id at a position, per unit) as the extract stage writes
    them, and the per-unit results that name them."""
    import pyarrow as pa

    from corpus.dedup.keys import KEYS_SCHEMA

    units: dict[int, list] = {}
    for key, (id_hash, doc_id, unit, position) in members:
        # A literal int stands for a text hash; a pair is a 128-bit exact key (exact.text_key).
        hi, lo = key if isinstance(key, tuple) else (key, 0)
        units.setdefault(unit, []).append((position, doc_id, id_hash, hi, lo))
    (work / "done").mkdir(parents=True, exist_ok=True)
    for unit, rows in units.items():
        rows.sort()
        table = pa.table(
            {
                "position": [r[0] for r in rows], "id": [r[1] for r in rows], "id_hash": [r[2] for r in rows],
                "text_hash": [r[3] for r in rows], "text_hi": [r[3] for r in rows],
                "text_lo": [r[4] for r in rows], "date": [None] * len(rows), "url_key": [None] * len(rows),
                "preference": [0] * len(rows), "bands": [None] * len(rows),
            },
            schema=KEYS_SCHEMA,
        )  # fmt: skip
        with open(work / f"keys-{unit:06d}.parquet", "wb") as f:
            write_parquet(table, f)
    return [{"index": u} for u in sorted(units)]


def test_find_exact_duplicates_on_literal_keys(tmp_path: Path) -> None:
    keys = [
        (0x5EED, (900, "<urn:uuid:c>", 0, 2)),
        (0x5EED, (100, "<urn:uuid:a>", 1, 0)),
        (0xBEEF, (50, "<urn:uuid:d>", 0, 1)),
        (0x5EED, (500, "<urn:uuid:b>", 0, 0)),
        (0x5EED, (500, "<urn:uuid:b>", 1, 5)),  # the same record read twice: one copy goes
    ]
    units = write_keys(tmp_path, keys)
    with in_process() as p:
        out, _ = p | beam.Create(units) | FindExactDuplicates(str(tmp_path), p | "NoDrops" >> beam.Create([]))
        assert_that(
            out,
            equal_to(
                [
                    (0, (0, "exact_dedup", "<urn:uuid:a>")),
                    (1, (5, "exact_dedup", "<urn:uuid:a>")),
                    (0, (2, "exact_dedup", "<urn:uuid:a>")),
                ]
            ),
        )
    # URL dedup dropped <urn:uuid:a> (file 1, position 0) before: it cannot be the keeper.
    with in_process() as p:
        url_drops = p | "UrlDrops" >> beam.Create([(1, (0, "url_dedup", "<urn:uuid:z>"))])
        out, _ = p | beam.Create(units) | FindExactDuplicates(str(tmp_path), url_drops)
        assert_that(
            out,
            equal_to([(1, (5, "exact_dedup", "<urn:uuid:b>")), (0, (2, "exact_dedup", "<urn:uuid:b>"))]),
        )


def test_find_exact_duplicates_on_the_three_copies(pages, tmp_path: Path) -> None:
    keys = [(text_key(d.text), (d.id_hash, d.id, 0, i)) for i, d in enumerate(extracted(pages, COPIES))]
    assert max(k[1][0] for k in keys) < 2**63
    units = write_keys(tmp_path, keys)
    with in_process() as p:
        out, _ = p | beam.Create(units) | FindExactDuplicates(str(tmp_path), p | "NoDrops" >> beam.Create([]))
        assert_that(
            out,
            equal_to(
                [
                    (0, (0, "exact_dedup", KEEPER)),  # <urn:uuid:a06247a2-7c32-573d-a711-bfe01e768a66>
                    (0, (1, "exact_dedup", KEEPER)),  # <urn:uuid:79da2dd2-e82a-5d09-8130-9c98754f530b>
                ]
            ),
        )


def without_stats(result: dict) -> dict:
    """A per-unit result without its seconds and memory (which differ from run to run)."""
    return {k: v for k, v in result.items() if k != "stats"}


def test_extract_and_filter_on_the_sample_and_a_jsonl(tmp_path: Path, paragraphs: dict[str, str]) -> None:
    work, rejected = tmp_path / "work", tmp_path / "rejected"
    (work / "done").mkdir(parents=True)
    rejected.mkdir()
    jsonl = tmp_path / "paragraphs.jsonl"
    lines = [
        {"id": "de", "text": paragraphs["de"]},
        {"id": "ja", "body": paragraphs["ja"]},
        {"id": "en", "text": paragraphs["en"]},
    ]
    jsonl.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), "utf-8")
    units = [WorkUnit(0, str(SAMPLE_WARC), "warc"), WorkUnit(1, str(jsonl), "jsonl")]
    config = PipelineConfig.from_dict({"quality": {"preset": "none"}})
    with in_process() as p:
        results = p | beam.Create(units) | ExtractAndFilter(config, str(work), str(rejected))
        assert_that(
            results | beam.Map(without_stats),
            equal_to(
                [
                    {
                        "index": 0,
                        "counts": {
                            "read": {"in": 521, "kept": 521, "rejected": {}},
                            "extract": {
                                "in": 521,
                                "kept": 518,
                                "rejected": {"not_html": 2, "http_status_301": 1},
                            },
                            "language": {"in": 518, "kept": 510, "rejected": {"lang_below_threshold": 8}},
                            "safety": {"in": 510, "kept": 510, "rejected": {}},
                            "quality": {"in": 510, "kept": 510, "rejected": {}},
                            "pii": {
                                "in": 510,
                                "kept": 510,
                                "rejected": {},
                                "modified": {"documents_redacted": 40, "email": 77, "ip": 36},
                            },
                        },
                        "skipped": {"warc_warcinfo": 1},
                    },
                    {
                        "index": 1,
                        "counts": {
                            "read": {"in": 3, "kept": 2, "rejected": {"missing_text_field": 1}},
                            "extract": {"in": 2, "kept": 2, "rejected": {}},
                            "language": {"in": 2, "kept": 2, "rejected": {}},
                            "safety": {"in": 2, "kept": 2, "rejected": {}},
                            "quality": {"in": 2, "kept": 2, "rejected": {}},
                            "pii": {"in": 2, "kept": 2, "rejected": {}},
                        },
                        "skipped": {},
                    },
                ]
            ),
            label="units",
        )
        exact, _ = results | "Exact" >> FindExactDuplicates(str(work), p | "NoDrops" >> beam.Create([]))
        # 512 documents, 510 texts: the English paragraph and the three copies of its page are
        # different texts; the copies are one, so two of them go.
        assert_that(exact | "CountDrops" >> beam.combiners.Count.Globally(), equal_to([2]), label="drops")
        urls, _ = results | "Urls" >> FindUrlDuplicates(str(work), p | "NoUrlDrops" >> beam.Create([]))
        # 510 documents with a URL key (WARC input), 510 distinct URLs: none goes.
        assert_that(urls | "CountUrls" >> beam.combiners.Count.Globally(), equal_to([0]), label="urls")
    with open(work / "filtered-000000.parquet", "rb") as f:
        docs = read_documents(f)
    assert len(docs) == 510 and docs[0].url == BASE_URL + "ch01.en.html#_console_basics"
    reasons = pq.read_table(rejected / "filter-000000.parquet").column("reason").to_pylist()
    # A batch of documents at a time: each batch's read and extract rejections, then its filters'.
    assert Counter(reasons) == {"lang_below_threshold": 8, "not_html": 2, "http_status_301": 1}
    assert pq.read_table(rejected / "filter-000001.parquet").column("id").to_pylist() == ["ja"]
    assert sorted(p.name for p in work.iterdir()) == [
        "done",
        "exact-000000.keys",
        "exact-000001.keys",
        "filtered-000000.parquet",
        "filtered-000001.parquet",
        "keys-000000.parquet",
        "keys-000001.parquet",
        "minhash-000000.parquet",
        "minhash-000001.parquet",
        "url-000000.keys",
        "url-000001.keys",
    ]
    assert sorted(p.name for p in (work / "done").iterdir()) == ["filter-000000.json", "filter-000001.json"]


def test_drop_duplicates_joins_each_unit_with_its_drops(tmp_path: Path, pages) -> None:
    docs = extracted(pages, [*COPIES, "ch01.de.html#_console_basics"])
    work = tmp_path / "work"
    (work / "done").mkdir(parents=True)
    write_docs(work / "filtered-000003.parquet", docs)
    keys, _ = dedup_keys(docs, 0, PipelineConfig(), by_url=True)
    with open(work / "keys-000003.parquet", "wb") as f:
        write_parquet(keys, f)
    for folder in ("docs", "rejected", "dedup_index"):
        (tmp_path / folder).mkdir()
    with in_process() as p:
        drops = p | "Drops" >> beam.Create([(3, (0, "exact_dedup", KEEPER)), (3, (1, "exact_dedup", KEEPER))])
        units = p | "Units" >> beam.Create([{"index": 3}])
        out = units | DropDuplicates(PipelineConfig(), str(work), str(tmp_path), drops)
        assert_that(
            out | beam.Map(lambda r: (r["index"], r["path"], r["counts"])),
            equal_to(
                [
                    (
                        3,
                        str(tmp_path / "docs" / "000003.parquet"),
                        {
                            "url_dedup": {"in": 4, "kept": 4, "rejected": {}},
                            "exact_dedup": {"in": 4, "kept": 2, "rejected": {"exact_duplicate": 2}},
                            "near_dedup": {"in": 2, "kept": 2, "rejected": {}},
                        },
                    )
                ]
            ),
        )
    with open(tmp_path / "docs" / "000003.parquet", "rb") as f:
        kept = read_documents(f)
    assert [d.id for d in kept] == [KEEPER, docs[3].id]
    rows = pq.read_table(tmp_path / "rejected" / "dedup-000003.parquet").to_pylist()
    assert [(r["id"], r["stage"], r["reason"], r["detail"]) for r in rows] == [
        (docs[0].id, "exact_dedup", "exact_duplicate", f"duplicate of {KEEPER}"),
        (docs[1].id, "exact_dedup", "exact_duplicate", f"duplicate of {KEEPER}"),
    ]
    assert (work / "done" / "dedup-000003.json").exists()
    # The index for later runs: the kept documents' keys, row for row.
    index = pq.read_table(tmp_path / "dedup_index" / "000003.parquet").to_pylist()
    assert [(r["id"], r["text_hash"]) for r in index] == [(d.id, d.text_hash) for d in kept]


def unit_result(index: int, path: Path, docs: list[Document]) -> dict:
    """What DropDuplicates yields for a unit: its kept documents and bytes per id-hash bucket."""
    buckets: dict[str, int] = {}
    for d in docs:
        key = str(sample_bucket(d.id_hash))
        buckets[key] = buckets.get(key, 0) + len(d.text.encode("utf-8"))
    return {
        "index": index,
        "path": write_docs(path, docs),
        "counts": {},
        "skipped": {},
        "sample_buckets": buckets,
    }


@pytest.fixture
def filtered_files(tmp_path: Path, pages) -> list[dict]:
    """Two per-unit results of kept documents, as DropDuplicates leaves them."""
    first = extracted(pages, ["ch01.de.html#_console_basics", "ch01.ja.html#_console_basics"])
    second = extracted(
        pages,
        ["ch01.fr.html#_console_basics", "ch01.it.html#_console_basics", "ch01.es.html#_console_basics"],
    )
    (tmp_path / "done").mkdir()
    return [
        unit_result(0, tmp_path / "000000.parquet", first),
        unit_result(1, tmp_path / "000001.parquet", second),
    ]


def docs_of(results: list[dict]) -> list[Document]:
    out = []
    for r in results:
        with open(r["path"], "rb") as f:
            out.extend(read_documents(f))
    return out


def texts_of(results: list[dict]) -> list[str]:
    return [d.text for d in docs_of(results)]


def tokenizer_info(path: Path) -> dict:
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def build_tokenizer(tmp_path: Path, results: list[dict], config: TokenizerConfig) -> Path:
    out_path = tmp_path / "tokenizer.json"
    with in_process() as p:
        out = (
            p
            | beam.Create(results)
            | BuildTokenizer(config, str(out_path), str(tmp_path / "done" / "tok.json"))
        )
        assert_that(out | beam.Map(lambda t: t["path"]), equal_to([str(out_path)]))
    marker = json.loads((tmp_path / "done" / "tok.json").read_text())
    assert {k: marker[k] for k in ("path", "sha256")} == tokenizer_info(out_path)
    assert marker["stats"]["stage"] == "tokenizer" and marker["stats"]["seconds"] >= 0
    return out_path


def test_build_tokenizer_trains_on_files_in_index_order(tmp_path: Path, filtered_files: list[dict]) -> None:
    config = TokenizerConfig(vocab_size=500)
    expected = train_bpe(texts_of(filtered_files), 500, config.bos_token).to_str()
    assert build_tokenizer(tmp_path, filtered_files[::-1], config).read_text("utf-8") == expected


def test_build_tokenizer_samples_the_smallest_id_hashes(tmp_path: Path, filtered_files: list[dict]) -> None:
    docs = docs_of(filtered_files)
    first = min(docs, key=lambda d: d.id_hash)
    # The budget holds the document with the smallest id hash and nothing more: only it is
    # trained on, wherever it comes in the input.
    config = TokenizerConfig(vocab_size=400, train_max_bytes=len(first.text.encode()))
    expected = train_bpe([first.text], 400, config.bos_token).to_str()
    assert first.id != docs[0].id
    assert build_tokenizer(tmp_path, filtered_files, config).read_text("utf-8") == expected


def test_build_tokenizer_loads_a_given_tokenizer(tmp_path: Path, filtered_files: list[dict]) -> None:
    given = tmp_path / "given.json"
    given.write_text(train_bpe(texts_of(filtered_files)[:1], 300, "<|endoftext|>").to_str(), "utf-8")
    out_path = build_tokenizer(tmp_path, filtered_files, TokenizerConfig(path=str(given)))
    assert out_path.read_bytes() == given.read_bytes()


@pytest.mark.parametrize(
    ("position", "max_tokens", "by_language"),
    [("start", 16_000, False), ("end", 5_000, False), ("start", 5_000, True)],
)
def test_write_shards(
    tmp_path: Path, filtered_files: list[dict], position: str, max_tokens: int, by_language: bool
) -> None:
    """Shards cut across units: at 16,000 tokens each split's shard holds documents of both
    units; at 5,000 every document is longer than a shard and has one of its own."""
    tokenizer_json = train_bpe(texts_of(filtered_files), 400, "<|endoftext|>").to_str()
    tokenizer_path = tmp_path / "tokenizer.json"
    tokenizer_path.write_text(tokenizer_json, "utf-8")
    tokenizer = tokenizer_info(tokenizer_path)
    config = PipelineConfig(
        shard=ShardConfig(
            val_fraction=0.3,
            max_tokens_per_shard=max_tokens,
            document_token=position,
            by_language=by_language,
        )
    )
    shard_dir, out_dir = tmp_path / "shards", tmp_path / "out"
    shard_dir.mkdir()
    out_dir.mkdir()
    # The per-unit layout (corpus.stage_steps.shard_step per file, units in order) is one sequence
    # per split; it is cut at every multiple of max_tokens, a document going where it ends.
    encoder = DocumentEncoder(tokenizer_json, "<|endoftext|>", position)
    sequence: dict[tuple[str, str | None], list[tuple[int, str, str | None, np.ndarray]]] = {}
    for element in filtered_files:
        with open(element["path"], "rb") as f:
            for run in shard_step(read_documents(f), encoder, config):
                sequence.setdefault((run.split, run.language), []).extend(
                    (element["index"], *doc) for doc in zip(run.ids, run.urls, run.tokens, strict=True)
                )
    expected, expected_bytes, expected_lineage, units_in = [], {}, {}, []
    for (split, language), docs in sorted(sequence.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        slots: dict[int, list] = {}
        end = 0
        for doc in docs:
            end += len(doc[3])
            slots.setdefault((end - 1) // max_tokens, []).append(doc)
        for number, slot in enumerate(sorted(slots)):
            chosen = slots[slot]
            name = f"{split}_{language}_{number:06d}" if language else f"{split}_{number:06d}"
            bin_buf, idx_buf = io.BytesIO(), io.BytesIO()
            stats = write_shard(
                bin_buf, idx_buf, [d[3] for d in chosen], np.dtype(np.uint16), encoder.bos_id, position
            )
            expected_bytes[name + ".bin"] = bin_buf.getvalue()
            expected_bytes[name + ".idx"] = idx_buf.getvalue()
            expected_lineage[name] = [
                {"position": i, "id": d[1], "url": d[2], "tokens": len(d[3])} for i, d in enumerate(chosen)
            ]
            units_in.append({d[0] for d in chosen})
            expected.append(
                {
                    "name": name,
                    "number": number,
                    "split": split,
                    "language": language,
                    "tokens": stats.num_tokens,
                    "documents": stats.num_docs,
                    "dtype": "uint16",
                    "bytes": len(bin_buf.getvalue()),
                    "sha256": hashlib.sha256(bin_buf.getvalue()).hexdigest(),
                    "idx_sha256": hashlib.sha256(idx_buf.getvalue()).hexdigest(),
                }
            )
    if by_language:  # shards per language and split (these documents went through no language ID)
        assert [e["name"] for e in expected] == [f"train_und_{n:06d}" for n in range(3)] + [
            f"val_und_{n:06d}" for n in range(2)
        ]
    elif max_tokens == 16_000:  # one shard per 16,000 tokens of a split, across both units
        assert [(e["split"], e["documents"]) for e in expected] == [("train", 2), ("train", 1), ("val", 2)]
        assert units_in[0] == units_in[2] == {0, 1}
    else:  # the slots that lie inside one document have no shard; the numbers stay consecutive
        assert [e["documents"] for e in expected] == [1] * 5
        assert sum(e["tokens"] for e in expected if e["split"] == "train") > 4 * max_tokens
    counts = [(u["index"], n) for u, n in zip(filtered_files, (2, 3), strict=True)]
    with in_process() as p:
        tokens = p | "Tokenizer" >> beam.Create([tokenizer])
        shards = WriteShards(config, str(tmp_path), str(shard_dir), tokens, len(filtered_files), str(out_dir))
        out = p | "Files" >> beam.Create(filtered_files) | shards
        cut = out | "Shards" >> beam.FlatMap(lambda r: r.get("shards", []))
        assert_that(cut, equal_to(expected), label="CheckShards")
        per_unit = out | "Units" >> beam.FlatMap(
            lambda r: [(r["index"], r["counts"]["shard"]["kept"])] if "runs" in r else []
        )
        assert_that(per_unit, equal_to(counts), label="CheckUnits")
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        [*expected_bytes, *(name + ".docs.parquet" for name in expected_lineage)]
    )
    for name, data in expected_bytes.items():
        assert (out_dir / name).read_bytes() == data
    for name, rows in expected_lineage.items():
        assert pq.read_table(out_dir / f"{name}.docs.parquet").to_pylist() == rows
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.slow
def test_a_unit_over_the_run_limit_is_written_in_parts_with_the_same_shards(
    sample_corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A unit that is one whole compressed file can hold billions of tokens, more than a run
    # file's int32 header counts: its runs are cut into parts. Made small here, the sample's one
    # unit becomes dozens of parts, and the shards are the same bytes.
    import contextlib
    import io
    import json

    from corpus_helpers import REPO, SAMPLE_WARC

    import pipelines.stages.shard as shard_stage
    from pipelines import corpus_job

    reference, rc, _ = sample_corpus
    assert rc == 0
    monkeypatch.setattr(shard_stage, "MAX_SHARD_TOKENS", 20_000)
    config = str(REPO / "configs" / "sample.toml")
    args = [
        "--input",
        str(SAMPLE_WARC),
        "--output",
        str(tmp_path),
        "--config",
        config,
        "--engine",
        "inprocess",
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        assert corpus_job.run(args) == 0
    ours = json.loads((tmp_path / "sample" / "manifest.json").read_text("utf-8"))
    theirs = json.loads((reference / "manifest.json").read_text("utf-8"))
    assert ours["shards"] == theirs["shards"] and ours["totals"]["train"]["tokens"] > 20 * 20_000
