"""Batches from memory-mapped token shards, reproducible from (seed, step).

Shards are opened with ``corpus.shards.open_tokens`` (a read-only ``np.memmap``); a batch copies
only its own windows out of the page cache, so memory stays flat whatever the corpus size.

A training window is seq_len + 1 consecutive tokens of one shard (inputs and shifted targets). It
may span several documents; each document starts with BOS, so the model learns where one ends.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from corpus.manifest import ManifestError
from corpus.shards import open_tokens
from trainer.config import ConfigError
from trainer.verify import RunData

# Separates the training stream's random numbers from every other use of the same seed.
_TRAIN_STREAM = 0x7472


@dataclass(frozen=True)
class Shard:
    name: str
    path: Path
    tokens: np.memmap


def open_split(run: RunData, split: str) -> list[Shard]:
    """Memory-map every shard of a split, in manifest order."""
    shards = []
    for entry in run.shards(split):
        path = run.directory / entry["bin"]
        tokens = open_tokens(path)
        # A shard that does not start with BOS was written with another tokenizer or format.
        if len(tokens) and int(tokens[0]) != run.bos_id:
            raise ManifestError(
                f"{path}: first token is {int(tokens[0])}, not the manifest's bos_id {run.bos_id}"
            )
        shards.append(Shard(entry["name"], path, tokens))
    return shards


def _to_tensors(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.from_numpy(rows.astype(np.int64))  # (B, T + 1)
    return rows[:, :-1], rows[:, 1:]  # inputs (B, T), targets (B, T)


class TrainBatches:
    """Random windows over a split; a batch depends on (seed, step, micro_step) only.

    No iterator state: a run resumed at step s draws exactly the batches the uninterrupted run
    drew, and nothing about the data loader has to be checkpointed.
    """

    def __init__(self, shards: list[Shard], batch_size: int, seq_len: int, seed: int) -> None:
        self.batch_size, self.seq_len, self.seed = batch_size, seq_len, seed
        # A shard of n tokens has n - seq_len windows; shards too short for one are skipped (and
        # listed, for the trainer to report).
        self.shards = [s for s in shards if len(s.tokens) > seq_len]
        self.skipped = [s.name for s in shards if len(s.tokens) <= seq_len]
        if not self.shards:
            raise ConfigError(
                f"seq_len: no training shard has more than {seq_len} tokens "
                f"(shards: {', '.join(s.name for s in shards) or 'none'})"
            )
        starts = np.array([len(s.tokens) - seq_len for s in self.shards], dtype=np.float64)
        # Weighting shards by their windows makes every window of the split equally likely.
        self.weights = starts / starts.sum()
        self.num_starts = starts.astype(np.int64)

    def positions(self, step: int, micro_step: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Which shard (index into self.shards) and which start offset each row uses."""
        rng = np.random.default_rng([self.seed, _TRAIN_STREAM, step, micro_step])
        shard_ids = rng.choice(len(self.shards), size=self.batch_size, p=self.weights)
        starts = rng.integers(0, self.num_starts[shard_ids])
        return shard_ids, starts

    def batch(self, step: int, micro_step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), each (batch_size, seq_len) int64 on the CPU."""
        shard_ids, starts = self.positions(step, micro_step)
        n = self.seq_len + 1
        pairs = zip(shard_ids.tolist(), starts.tolist(), strict=True)
        rows = np.stack([self.shards[i].tokens[s : s + n] for i, s in pairs])
        return _to_tensors(rows)


def eval_batches(
    shards: list[Shard], batch_size: int, seq_len: int, max_batches: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The same batches every time: consecutive non-overlapping windows, shard by shard.

    Every evaluation of a run scores the same tokens, so val losses at different steps compare.
    A final partial batch is dropped; it would weigh its few windows more than the others.
    """
    n = seq_len + 1
    rows: list[np.ndarray] = []
    produced = 0
    for shard in shards:
        # Stride seq_len: a window's last token is the next window's first input, so every token
        # but the split's first is a target exactly once.
        for start in range(0, len(shard.tokens) - seq_len, seq_len):
            rows.append(shard.tokens[start : start + n])
            if len(rows) == batch_size:
                yield _to_tensors(np.stack(rows))
                rows, produced = [], produced + 1
                if produced == max_batches:
                    return


def unigram_counts(shards: list[Shard], vocab_size: int, chunk: int = 1 << 24) -> np.ndarray:
    """Occurrences of each token id, reading the memmaps in chunks to bound memory."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for shard in shards:
        for start in range(0, len(shard.tokens), chunk):
            part = np.bincount(shard.tokens[start : start + chunk], minlength=vocab_size)
            if len(part) > vocab_size:
                bad = int(np.flatnonzero(part[vocab_size:])[0]) + vocab_size
                raise ManifestError(f"{shard.path}: token id {bad} is outside the vocabulary of {vocab_size}")
            counts += part
    return counts


def unigram_entropy(shards: list[Shard], vocab_size: int, chunk: int = 1 << 24) -> float:
    """Entropy in nats/token of the split's token frequencies.

    The loss of the best model that ignores context: a trained model's loss should fall below it.
    """
    counts = unigram_counts(shards, vocab_size, chunk)
    total = int(counts.sum())
    if total == 0:
        return math.nan
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum())
