"""Validation scores a fixed sample spread over every val shard, reported per source and per
language: on the sample corpus built per language (six languages of Debian's reference), and on
the tests' own shards of Python's stdlib text."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.config import TrainConfig
from trainer.data import eval_batches, eval_windows, open_split, unigram_counts, unigram_entropy
from trainer.metrics import read_metrics
from trainer.train import train
from trainer.verify import verify_run

SAMPLE_WARC = Path(__file__).parents[2] / "data" / "sample" / "debian-reference.warc.gz"
T = 32


def test_windows_cover_every_shard_in_proportion_to_its_tokens(run_dir: Path) -> None:
    run = verify_run(run_dir)
    shards = open_split(run, "train") + open_split(run, "val")
    have = [(len(s.tokens) - 1) // T for s in shards]
    windows = eval_windows(shards, T, 60)
    assert len(windows) == 60 and len(set(windows)) == 60  # no window twice
    per_shard = np.bincount([i for i, _ in windows], minlength=len(shards))
    quota = 60 * np.array(have) / sum(have)
    assert (np.abs(per_shard - quota) < 1).all() and (per_shard >= 1).all()
    assert all(start % T == 0 and start + T + 1 <= len(shards[i].tokens) for i, start in windows)
    # Spread within a shard: the windows of the biggest shard reach past its middle.
    big = int(np.argmax(have))
    starts = [s for i, s in windows if i == big]
    assert min(starts) < len(shards[big].tokens) / 4 and max(starts) > len(shards[big].tokens) * 3 / 4
    assert eval_windows(shards, T, 60) == windows  # the same every time


def test_fewer_windows_than_shards_and_more_than_there_are(run_dir: Path) -> None:
    run = verify_run(run_dir)
    shards = open_split(run, "train") + open_split(run, "val")
    assert len(eval_windows(shards, T, 2)) == 2
    assert len({i for i, _ in eval_windows(shards, T, 2)}) == 2  # two shards, not the first twice
    everything = eval_windows(shards, T, 10**9)
    assert len(everything) == sum((len(s.tokens) - 1) // T for s in shards)
    # One window per shard is what each gets once there are as many windows as shards.
    assert sorted(i for i, _ in eval_windows(shards, T, len(shards))) == list(range(len(shards)))


def test_eval_batches_score_the_sampled_windows(run_dir: Path) -> None:
    run = verify_run(run_dir)
    shards = open_split(run, "train")
    windows = eval_windows(shards, T, 4 * 3)
    batches = list(eval_batches(shards, 4, T, max_batches=3))
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    for row, (i, start) in enumerate(windows):
        raw = np.asarray(shards[i].tokens[start : start + T + 1], dtype=np.int64)
        assert x[row].tolist() == raw[:-1].tolist() and y[row].tolist() == raw[1:].tolist()
    assert {i for i, _ in windows} == {0, 1}  # both train shards, not the first one's head


def test_unigram_entropy_of_a_bounded_sample(run_dir: Path) -> None:
    shards = open_split(verify_run(run_dir), "train")
    total = sum(len(s.tokens) for s in shards)
    full = unigram_entropy(shards, 512)
    counts = unigram_counts(shards, 512, chunk=500, limit=total // 4)
    # 1/4 of the split read, as blocks of 500 spread over both shards.
    assert total // 4 - 500 <= counts.sum() <= total // 4
    sampled = unigram_entropy(shards, 512, chunk=500, limit=total // 4)
    assert sampled != full and abs(sampled - full) < 0.05 * full
    assert unigram_counts(shards, 512, limit=total).sum() == total  # at the limit: everything


@pytest.fixture(scope="module")
def by_language(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample built with one set of shards per language."""
    from pipelines.corpus_job import run

    root = tmp_path_factory.mktemp("by_language")
    config = root / "langs.toml"
    config.write_text('name = "langs"\n[tokenizer]\nvocab_size = 512\n[shard]\nby_language = true\n', "utf-8")
    assert run(["--input", str(SAMPLE_WARC), "--output", str(root), "--config", str(config)]) == 0
    return root / "langs"


def test_val_loss_per_language_adds_up_to_the_overall(by_language: Path, tmp_path: Path) -> None:
    manifest = json.loads((by_language / "manifest.json").read_text("utf-8"))
    val_languages = {s["language"] for s in manifest["shards"] if s["split"] == "val"}
    assert val_languages == {"de", "en", "es", "fr", "it", "ja"}
    config = TrainConfig(
        data=str(by_language), out=str(tmp_path / "run"), n_layer=1, n_head=2, n_embd=32, seq_len=T,
        batch_size=4, max_steps=4, warmup_steps=1, eval_interval=2, eval_batches=3, log_interval=1,
        dtype="fp32", device="cpu",
    )  # fmt: skip
    summary = train(config)
    # 12 windows over six val shards: every language is scored, not the first shard's German.
    parts = summary["final_val_by_language"]
    assert set(parts) == val_languages
    tokens = sum(p["tokens"] for p in parts.values())
    assert tokens == 12 * T
    mean = sum(p["loss"] * p["tokens"] for p in parts.values()) / tokens
    assert mean == pytest.approx(summary["final_val_loss"], rel=1e-9)
    assert all(p["bits_per_byte"] > 0 for p in parts.values())
    # Bits per byte overall: the languages' nats over their bytes.
    nbytes = sum(p["loss"] * p["tokens"] / math.log(2) / p["bits_per_byte"] for p in parts.values())
    overall = summary["final_val_loss"] * tokens / math.log(2) / nbytes
    assert overall == pytest.approx(summary["final_val_bits_per_byte"], rel=1e-9)
    # Every evaluation logs the same split by language; the train loss is measured the same way.
    logged = [r for r in read_metrics(config.out) if "val_by_language" in r]
    assert [r["step"] for r in logged] == [0, 2, 4]
    assert all(set(r["val_by_language"]) == val_languages for r in logged)
    assert set(summary["final_train_loss_by_language"]) <= val_languages | {"und"}
    assert len(summary["final_train_loss_by_language"]) >= 5
    # The report's training section lists the same figures, a row per language.
    from corpus.report import markdown
    from corpus.report.facts import gather

    facts = gather(by_language, samples=1, train=config.out)
    assert [row[:3] for row in facts["train"]["val_parts"]] == [
        ["language", lang, parts[lang]["loss"]] for lang in sorted(parts)
    ]
    page = markdown.render(facts)
    assert all(f"| language | {lang} | " in page for lang in val_languages)


def test_val_loss_per_source_of_a_mixture(
    tiny_config: Callable[..., TrainConfig], run_dir: Path, tmp_path: Path
) -> None:
    import shutil

    second = Path(shutil.copytree(run_dir, tmp_path / "second"))
    summary = train(tiny_config(data=f"{run_dir}=0.5,{second}=0.5", max_steps=2, eval_interval=0))
    parts = summary["final_val_by_source"]
    assert set(parts) == {run_dir.name, "second"}
    # The same val text under two names: the same windows are sampled from each, half each.
    assert parts[run_dir.name]["tokens"] == parts["second"]["tokens"]
    assert parts[run_dir.name]["loss"] == pytest.approx(parts["second"]["loss"], rel=1e-6)
    assert [s["val_loss"] for s in summary["sources"]] == [
        parts[run_dir.name]["loss"],
        parts["second"]["loss"],
    ]
