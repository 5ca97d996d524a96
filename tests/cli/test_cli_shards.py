"""`corpus shards verify | inspect | decode` on the sample as the corpus job wrote it, and on
damaged copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from cli_helpers import corpus_cli

from corpus.shards.format import HEADER_BYTES


@pytest.fixture()
def damaged(sample_corpus, tmp_path: Path) -> Path:
    run, rc, _ = sample_corpus
    assert rc == 0
    copy = tmp_path / "sample"
    shutil.copytree(run, copy)
    return copy


def test_verify_accepts_the_sample(sample_corpus) -> None:
    run, _, _ = sample_corpus
    rc, out, _ = corpus_cli("shards", "verify", str(run))
    assert rc == 0
    assert out == f"{run}: ok: 2 shards, 477 documents, 768,540 tokens (sha256 checked)\n"


def test_verify_lists_every_problem(damaged: Path) -> None:
    train = damaged / "train_000000.bin"
    data = bytearray(train.read_bytes())
    # The first token of the first document is the document token: make it another id.
    data[HEADER_BYTES] ^= 0x01
    train.write_bytes(bytes(data))
    (damaged / "val_000000.docs.parquet").unlink()
    (damaged / "tokenizer.json").write_text(
        (damaged / "tokenizer.json").read_text("utf-8").replace('"<|endoftext|>"', '"<|eot|>"'), "utf-8"
    )
    rc, out, _ = corpus_cli("shards", "verify", str(damaged))
    assert rc == 1
    problems = [line for line in out.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 4, out
    assert f"problem: {damaged / 'tokenizer.json'}: sha256 " in problems[0]
    assert problems[1] == (
        f"problem: {train}: 1 documents do not start with the document token 0 (first: document 0)"
    )
    assert (
        problems[2].startswith(f"problem: {train}: sha256 ")
        and "does not match the manifest's" in problems[2]
    )
    assert (
        problems[3] == f"problem: {damaged / 'val_000000.docs.parquet'}: listed in the manifest but missing"
    )
    assert out.endswith(f"{damaged}: 4 problem(s)\n")


def test_verify_reports_a_truncated_shard(damaged: Path) -> None:
    val = damaged / "val_000000.bin"
    val.write_bytes(val.read_bytes()[:-2])
    rc, out, _ = corpus_cli("shards", "verify", "--no-checksums", str(damaged))
    assert rc == 1
    assert f"problem: {val}: header says 47027 tokens (95078 bytes), file has 95076" in out


def test_verify_without_a_manifest(tmp_path: Path) -> None:
    rc, out, _ = corpus_cli("shards", "verify", str(tmp_path))
    assert rc == 1
    assert f"{tmp_path / 'manifest.json'}: no manifest; the pipeline run is missing or did not finish" in out


def test_inspect_adds_up_to_the_manifest(sample_corpus) -> None:
    run, _, _ = sample_corpus
    rc, out, _ = corpus_cli("shards", "inspect", "--json", str(run))
    assert rc == 0
    info = json.loads(out)
    manifest = json.loads((run / "manifest.json").read_text("utf-8"))
    assert info["splits"] == manifest["totals"]
    total = sum(s["tokens"] for s in manifest["shards"])
    assert sum(r["tokens"] for r in info["by_language"]) == total
    assert {r["language"] for r in info["by_language"]} == {"en", "de", "fr", "es", "it", "ja"}
    assert info["by_source"] == [
        {"source": str(Path(info["by_source"][0]["source"])), "documents": 477, "tokens": total}
    ]
    assert sum(b["documents"] for b in info["length_histogram"]) == 477
    rc, text, _ = corpus_cli("shards", "inspect", str(run))
    assert "train: 721,513 tokens, 445 documents, 1 shard(s)" in text
    assert "document length (tokens): mean" in text


def test_decode_gives_back_the_kept_text(sample_corpus) -> None:
    run, _, _ = sample_corpus
    docs = {
        r["id"]: r for p in sorted((run / "docs").glob("*.parquet")) for r in pq.read_table(p).to_pylist()
    }
    lineage = pq.read_table(run / "val_000000.docs.parquet").to_pylist()
    wanted = lineage[3]
    rc, out, _ = corpus_cli("shards", "decode", str(run), "--id", wanted["id"])
    assert rc == 0
    head, text = out.split("\n", 3)[:3], out.split("\n", 3)[3]
    assert head[0].startswith("# val_000000 document 3 (tokens ")
    assert head[1:] == [f"# id: {wanted['id']}", f"# url: {wanted['url']}"]
    assert text == docs[wanted["id"]]["text"] + "\n"
    # The same document by position, and by a token inside it.
    first = int(np.cumsum([r["tokens"] for r in lineage])[2])
    assert corpus_cli("shards", "decode", str(run), "--shard", "val_000000", "--position", "3")[1] == out
    assert (
        corpus_cli("shards", "decode", str(run), "--shard", "val_000000", "--offset", str(first + 7))[1]
        == out
    )


def test_decode_errors_are_clear(sample_corpus) -> None:
    run, _, _ = sample_corpus
    rc, _, err = corpus_cli("shards", "decode", str(run), "--id", "no-such-id")
    assert rc == 2 and "no document with id 'no-such-id'" in err
    rc, _, err = corpus_cli("shards", "decode", str(run), "--shard", "val_000000", "--position", "99")
    assert rc == 2 and err == "error: val_000000.bin: position 99 is outside 0..31\n"
    rc, _, err = corpus_cli("shards", "decode", str(run), "--shard", "nope", "--position", "0")
    assert rc == 2 and err.startswith("error: no shard 'nope' in the manifest")
    rc, _, err = corpus_cli("shards", "decode", str(run))
    assert rc == 2 and "name a document by --id" in err
