from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest
import torch

from corpus.manifest import ManifestError
from corpus.shards.format import HEADER_BYTES
from trainer.config import ConfigError
from trainer.data import TrainBatches, eval_batches, open_split, unigram_counts, unigram_entropy
from trainer.verify import verify_run

T, B = 32, 4


def raw_tokens(path: Path) -> np.ndarray:
    """The shard's tokens read straight from the file, independently of the loader."""
    return np.fromfile(path, dtype="<u2", offset=HEADER_BYTES).astype(np.int64)


@pytest.fixture
def train_batches(run_dir: Path) -> TrainBatches:
    return TrainBatches(open_split(verify_run(run_dir), "train"), B, T, seed=7)


def test_shards_are_memory_mapped(run_dir: Path) -> None:
    shards = open_split(verify_run(run_dir), "train")
    assert [s.name for s in shards] == ["train_000000", "train_000001"]
    for shard in shards:
        # Backed by the file's pages, not a copy in RAM, mapped when first read.
        mapped = shard.tokens.mapped()
        assert isinstance(mapped, np.memmap) and isinstance(mapped.base, mmap.mmap)
        assert Path(mapped.filename) == shard.path.resolve()
        assert shard.tokens[0] == 0  # every document, so every shard, starts with BOS


def test_batches_are_exact_windows_of_the_shards(train_batches: TrainBatches) -> None:
    raw = [raw_tokens(s.path) for s in train_batches.shards]
    for step in (0, 1, 99):
        x, y = train_batches.batch(step)
        assert x.shape == y.shape == (B, T) and x.dtype == torch.int64
        shard_ids, starts = train_batches.positions(step * B, B)
        for row, (i, s) in enumerate(zip(shard_ids, starts, strict=True)):
            assert 0 <= s <= len(raw[i]) - (T + 1) and s % T == 0
            assert x[row].tolist() == raw[i][s : s + T].tolist()
            assert y[row].tolist() == raw[i][s + 1 : s + T + 1].tolist()


def test_batches_depend_only_on_seed_and_step(run_dir: Path) -> None:
    shards = open_split(verify_run(run_dir), "train")
    first, second = (
        TrainBatches(shards, B, T, seed=7, grad_accum=2),
        TrainBatches(shards, B, T, seed=7, grad_accum=2),
    )
    late = first.batch(5, micro_step=1)
    first.batch(0)  # drawing other batches first changes nothing
    assert all(torch.equal(a, b) for a, b in zip(late, second.batch(5, 1), strict=True))
    assert not torch.equal(first.batch(5, 1)[0], first.batch(6, 1)[0])
    assert not torch.equal(first.batch(5, 1)[0], first.batch(5, 0)[0])
    assert not torch.equal(first.batch(5)[0], TrainBatches(shards, B, T, seed=8).batch(5)[0])


def test_every_window_once_per_epoch_in_a_new_order(train_batches: TrainBatches) -> None:
    w = train_batches.windows
    assert w == sum((len(s.tokens) - 1) // T for s in train_batches.shards)
    keys = lambda first, n: list(zip(*(a.tolist() for a in train_batches.positions(first, n)), strict=True))  # noqa: E731
    epoch0, epoch1 = keys(0, w), keys(w, w)
    assert len(set(epoch0)) == w and set(epoch0) == set(epoch1)  # each window once, both epochs
    assert epoch0 != epoch1  # reshuffled
    # A batch that straddles the epoch boundary takes the end of one order and the start of the next.
    assert keys(w - 2, 4) == epoch0[-2:] + epoch1[:2]


def test_ranks_and_micro_steps_cut_the_same_global_batches(run_dir: Path) -> None:
    """2 ranks x 1 micro-step, 1 rank x 2 micro-steps and 1 rank x 1 double micro-batch draw the
    same global batch rows in the same order, so a run resumes on another number of ranks."""
    shards = open_split(verify_run(run_dir), "train")
    ranks = [TrainBatches(shards, B, T, 7, global_batch=2 * B, rank=r) for r in (0, 1)]
    accum = TrainBatches(shards, B, T, 7, global_batch=2 * B, grad_accum=2)
    whole = TrainBatches(shards, 2 * B, T, 7, global_batch=2 * B)
    for step in (0, 3, 50):
        by_rank = torch.cat([r.batch(step)[0] for r in ranks])
        by_micro = torch.cat([accum.batch(step, m)[0] for m in (0, 1)])
        assert torch.equal(by_rank, by_micro) and torch.equal(by_rank, whole.batch(step)[0])
        assert ranks[0].global_digest(step) == accum.global_digest(step) == whole.global_digest(step)
    assert ranks[0].global_digest(0) != ranks[0].global_digest(1)


def test_a_shard_too_short_for_one_window_is_an_error(run_dir: Path) -> None:
    shards = open_split(verify_run(run_dir), "train")
    longest = max(len(s.tokens) for s in shards)
    shortest = min(shards, key=lambda s: len(s.tokens))
    partial = TrainBatches(shards, B, len(shortest.tokens), seed=0)
    assert partial.skipped == [shortest.name] and shortest not in partial.shards
    with pytest.raises(ConfigError, match="seq_len: no training shard has more than"):
        TrainBatches(shards, B, longest, seed=0)


def test_val_batches_are_spread_and_repeatable(run_dir: Path) -> None:
    shards = open_split(verify_run(run_dir), "val")
    raw = raw_tokens(shards[0].path)
    batches = list(eval_batches(shards, B, T, max_batches=3))
    assert len(batches) == 3
    again = list(eval_batches(shards, B, T, max_batches=3))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again, strict=True))
    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    windows = len(range(0, len(raw) - T, T))
    # 3 x B windows at even steps over the shard, not its first 3 x B.
    starts = [(2 * j + 1) * windows // (2 * 3 * B) * T for j in range(3 * B)]
    for row, start in enumerate(starts):
        assert x[row].tolist() == raw[start : start + T].tolist()
        assert y[row].tolist() == raw[start + 1 : start + T + 1].tolist()
    assert starts[-1] > len(raw) * 3 // 4
    # Unbounded: every window of the split, the last batch partial.
    assert sum(len(b[0]) for b in eval_batches(shards, B, T, max_batches=10**9)) == windows
    assert len(list(eval_batches(shards, B, T, max_batches=10**9))) == -(-windows // B)


def test_unigram_entropy_matches_a_direct_count(run_dir: Path) -> None:
    shards = open_split(verify_run(run_dir), "train")
    tokens = np.concatenate([raw_tokens(s.path) for s in shards])
    _, counts = np.unique(tokens, return_counts=True)
    p = counts / counts.sum()
    expected = float(-(p * np.log(p)).sum())
    assert unigram_entropy(shards, 512) == pytest.approx(expected, rel=1e-12)
    # Small chunks cross shard boundaries and leave a remainder: the same counts.
    assert unigram_entropy(shards, 512, chunk=1000) == pytest.approx(expected, rel=1e-12)
    assert unigram_counts(shards, 512, chunk=777).sum() == len(tokens)
    assert 0 < expected < np.log(512)


def test_token_outside_the_vocabulary_names_the_shard(run_dir: Path) -> None:
    shards = open_split(verify_run(run_dir), "train")
    top = int(max(s.tokens.max() for s in shards))
    with pytest.raises(ManifestError, match=rf"train_00000\d\.bin: token id {top} is outside"):
        unigram_counts(shards, top)


def test_bos_aligned_windows_start_at_every_document_once_per_epoch(run_dir: Path) -> None:
    run = verify_run(run_dir)
    batches = TrainBatches(open_split(run, "train"), B, T, seed=3, bos_aligned=run.bos_id)
    expected = {
        (i, int(p))
        for i, s in enumerate(batches.shards)
        for p in np.flatnonzero(np.asarray(s.tokens) == run.bos_id)
        if p + T + 1 <= len(s.tokens)
    }
    shard_ids, starts = batches.positions(0, batches.windows)
    assert set(zip(shard_ids.tolist(), starts.tolist(), strict=True)) == expected
    assert batches.windows == len(expected)
    x, _ = batches.batch(0)
    assert (x[:, 0] == run.bos_id).all()
