"""Mixtures: several pipeline runs with weights, deterministic per sample index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from corpus.manifest import build_manifest, sha256_file, shard_entry, write_json_atomic
from corpus.shards.format import write_shard_files
from trainer.config import ConfigError
from trainer.data import TrainBatches, open_split
from trainer.metrics import read_metrics
from trainer.mixture import MixtureBatches, parse_data
from trainer.train import train
from trainer.verify import verify_run

T, B = 32, 4


@pytest.fixture
def second_run(run_dir: Path, tmp_path: Path) -> Path:
    """Another run with the same tokenizer: the documents of run_dir's second train shard only."""
    out = tmp_path / "b"
    out.mkdir()
    shutil.copy(run_dir / "tokenizer.json", out)
    manifest = json.loads((run_dir / "manifest.json").read_text("utf-8"))
    tokens = np.asarray(open_split(verify_run(run_dir), "train")[1].tokens, dtype=np.int64)
    bos = manifest["tokenizer"]["bos_id"]
    starts = [*np.flatnonzero(tokens == bos).tolist(), len(tokens)]
    docs = [tokens[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]
    dtype = np.dtype(manifest["tokenizer"]["dtype"])
    write_shard_files(out / "train_000000.bin", docs, dtype)
    write_shard_files(out / "val_000000.bin", docs[:40], dtype)
    entries = [shard_entry(out, "train_000000", "train"), shard_entry(out, "val_000000", "val")]
    info = {**manifest["tokenizer"], "sha256": sha256_file(out / "tokenizer.json")}
    write_json_atomic(out / "manifest.json", build_manifest(info, {"source": "test"}, entries))
    return out


def sources(run_dir: Path, second: Path) -> list[TrainBatches]:
    return [TrainBatches(open_split(verify_run(p), "train"), B, T, seed=5) for p in (run_dir, second)]


def test_data_argument() -> None:
    assert [(s.name, s.weight) for s in parse_data("runs/a=3,runs/b=1")] == [("a", 0.75), ("b", 0.25)]
    assert parse_data("out/sample")[0].weight == 1.0
    for bad in ("a=0,b=1", "a=x", "=1", "x/a=1,y/a=1"):
        with pytest.raises(ConfigError, match="data"):
            parse_data(bad)


def test_shares_follow_the_weights_and_each_source_keeps_its_epoch_order(
    run_dir: Path, second_run: Path
) -> None:
    parts = sources(run_dir, second_run)
    mix = MixtureBatches(parts, [0.7, 0.3], B, seed=5, global_batch=2 * B)
    assert mix.shares(600) == pytest.approx([0.7, 0.3], abs=0.02)
    # Sample g comes from source k as its c-th sample: replay the draw by hand.
    g = np.arange(0, 40 * 2 * B)
    src = mix.source_of(g)
    rows = mix.rows(0, len(g))
    for k, part in enumerate(parts):
        mine = np.flatnonzero(src == k)
        assert np.array_equal(rows[mine], part.rows(0, len(mine)))


def test_any_rank_layout_draws_the_same_global_batches(run_dir: Path, second_run: Path) -> None:
    weights = [0.5, 0.5]
    one = MixtureBatches(sources(run_dir, second_run), weights, B, 5, 2 * B, grad_accum=2)
    ranks = [MixtureBatches(sources(run_dir, second_run), weights, B, 5, 2 * B, rank=r) for r in (0, 1)]
    for step in (0, 7, 3):  # back to an earlier step: counts are recomputed, same rows
        by_micro = np.concatenate([one.batch(step, m)[0].numpy() for m in (0, 1)])
        by_rank = np.concatenate([r.batch(step)[0].numpy() for r in ranks])
        assert np.array_equal(by_micro, by_rank)
        assert one.global_digest(step) == ranks[1].global_digest(step)


def test_training_on_a_mixture_logs_shares_and_val_loss_per_source(
    tiny_config, run_dir: Path, second_run: Path
) -> None:
    config = tiny_config(data=f"{run_dir}=0.7,{second_run}=0.3", max_steps=8)
    summary = train(config)
    assert [s["name"] for s in summary["sources"]] == ["run", "b"]
    assert all(s["val_loss"] > 0 for s in summary["sources"])
    shares = [r["mix_share"] for r in read_metrics(config.out) if "mix_share" in r]
    assert len(shares) == 8 and sum(shares[-1].values()) == pytest.approx(1.0)
    assert any(set(r.get("val_by_source", {})) == {"run", "b"} for r in read_metrics(config.out))


def test_a_mixture_needs_one_tokenizer(tiny_config, run_dir: Path, second_run: Path) -> None:
    tok = second_run / "tokenizer.json"
    tok.write_text(
        json.dumps(json.loads(tok.read_text("utf-8")), indent=1), "utf-8"
    )  # same vocab, other file
    manifest = json.loads((second_run / "manifest.json").read_text("utf-8"))
    manifest["tokenizer"]["sha256"] = sha256_file(tok)
    write_json_atomic(second_run / "manifest.json", manifest)
    with pytest.raises(ConfigError, match="another tokenizer"):
        train(tiny_config(data=f"{run_dir}=1,{second_run}=1"))
