"""Batches from memory-mapped token shards: every training window once per epoch.

Shards are opened with ``corpus.shards.format.open_tokens`` (a read-only ``np.memmap``); a batch copies
only its own windows out of the page cache, so memory stays flat whatever the corpus size.

A training window is seq_len + 1 consecutive tokens of one shard (inputs and shifted targets),
windows laid end to end with stride seq_len, so every token but a shard's first is a target
once per epoch. A window may span several documents; each document starts with BOS, so the
model learns where one ends.

The loader's whole state is one global cursor, the number of windows drawn so far (step x
global batch): sample g is window ``permutation(seed, epoch)[g mod W]`` of the W windows of all
shards, epoch = g // W. A global batch is cut into micro-batches, micro-batch k = rank x
grad_accum + micro-step, so any number of ranks (with grad_accum to match) draws the same
global batches: a run resumes on another number of processes exactly.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from corpus.manifest import ManifestError
from corpus.shards.format import open_tokens
from trainer.config import ConfigError
from trainer.head_loss import IGNORE_INDEX
from trainer.shard_maps import LazyTokens
from trainer.verify import RunData

# Separates the training stream's random numbers from every other use of the same seed.
_TRAIN_STREAM = 0x7472


@dataclass(frozen=True)
class Shard:
    name: str
    path: Path
    tokens: LazyTokens | np.ndarray
    """Its tokens, mapped on first use (``trainer.shard_maps``: any number of shards stays within
    the file-descriptor limit)."""
    mask: LazyTokens | np.ndarray | None = None
    """Fine-tuning data: one byte per token, 1 where the token is a target the loss counts."""
    language: str = ""
    """The language of every document in it (a corpus built with shard.by_language), else ""."""


def open_split(run: RunData, split: str) -> list[Shard]:
    """Every shard of a split, in manifest order, each mapped when first read."""
    shards = []
    for entry in run.shards(split):
        path = run.directory / entry["bin"]
        # The manifest's token count was checked against the header by verify_run.
        tokens = LazyTokens(path, int(entry["tokens"]), lambda path=path: open_tokens(path))
        # A shard whose first (last, for EOD) token is not the document token was written with
        # another tokenizer or format.
        where, at = ("last", -1) if run.doc_at_end else ("first", 0)
        if len(tokens) and int(tokens[at]) != run.bos_id:
            raise ManifestError(
                f"{path}: {where} token is {int(tokens[at])}, not the manifest's document token {run.bos_id}"
            )
        mask = None
        if entry.get("mask"):
            mask_path = run.directory / entry["mask"]
            if not mask_path.exists() or mask_path.stat().st_size != len(tokens):
                raise ManifestError(f"{mask_path}: missing, or not one byte per token of {path.name}")
            mask = LazyTokens(
                mask_path, len(tokens), lambda p=mask_path, n=int(entry["tokens"]): _open_mask(p, n)
            )
        shards.append(Shard(entry["name"], path, tokens, mask, entry.get("language") or ""))
    return shards


def _open_mask(path: Path, tokens: int) -> np.ndarray:
    return np.memmap(path, dtype=np.uint8, mode="r", shape=(tokens,))


def _doc_starts(tokens: np.ndarray, token: int, at_end: bool, limit: int) -> np.ndarray:
    """Positions below ``limit`` where a document starts: at each document token, or (EOD
    convention) at 0 and just after each document token."""
    if not at_end:
        return np.flatnonzero(np.asarray(tokens[:limit]) == token)
    after = np.flatnonzero(np.asarray(tokens[: max(0, limit - 1)]) == token) + 1
    return np.concatenate([[0], after]).astype(np.int64) if limit > 0 else after


def _to_tensors(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.from_numpy(rows.astype(np.int64))  # (B, T + 1)
    return rows[:, :-1], rows[:, 1:]  # inputs (B, T), targets (B, T)


IGNORE = IGNORE_INDEX
"""A target the loss skips (PyTorch's cross_entropy ignore_index): prompt tokens of
fine-tuning data."""


def too_short(shards: list[Shard], seq_len: int) -> list[Shard]:
    """The shards with no window of seq_len + 1 tokens: training never samples them."""
    return [s for s in shards if len(s.tokens) <= seq_len]


class GlobalBatches:
    """Micro-batches cut from global batches of numbered samples: the part every loader shares.
    A subclass sets batch_size, global_batch, rank, grad_accum, masked and gives ``rows`` (and
    ``mask_rows`` when masked)."""

    batch_size: int
    global_batch: int
    rank: int
    grad_accum: int
    masked: bool = False

    def rows(self, first: int, count: int) -> np.ndarray:
        """(count, seq_len + 1) tokens of samples first .. first + count - 1."""
        raise NotImplementedError

    def mask_rows(self, first: int, count: int) -> np.ndarray:
        """(count, seq_len + 1) loss mask of the same samples (1: the target counts)."""
        raise NotImplementedError

    def batch(self, step: int, micro_step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) of this rank's micro-step, each (batch_size, seq_len) int64;
        targets the loss mask excludes are IGNORE."""
        k = self.rank * self.grad_accum + micro_step
        first = step * self.global_batch + k * self.batch_size
        x, y = _to_tensors(self.rows(first, self.batch_size))
        if self.masked:
            keep = torch.from_numpy(self.mask_rows(first, self.batch_size)[:, 1:].astype(bool))
            y = y.masked_fill(~keep, IGNORE)
        return x, y

    def global_digest(self, step: int) -> str:
        """A hash of the token ids of the whole global batch of ``step``, whichever rank asks."""
        rows = self.rows(step * self.global_batch, self.global_batch)
        return hashlib.blake2b(
            np.ascontiguousarray(rows, dtype=np.int64).tobytes(), digest_size=16
        ).hexdigest()


class TrainBatches(GlobalBatches):
    """The micro-batches of one rank; a batch depends on (seed, step, rank, micro-step) only,
    so nothing about the loader has to be checkpointed but the step."""

    def __init__(
        self,
        shards: list[Shard],
        batch_size: int,
        seq_len: int,
        seed: int,
        global_batch: int | None = None,
        rank: int = 0,
        grad_accum: int = 1,
        bos_aligned: int | None = None,
        doc_at_end: bool = False,
    ) -> None:
        """``bos_aligned``: the BOS id; windows then start only at document starts (as
        modded-nanogpt's loader does), one per document whose window fits in its shard, and
        an epoch is every document once (the rest of a document longer than a window is not
        trained on)."""
        self.batch_size, self.seq_len, self.seed = batch_size, seq_len, seed
        self.global_batch = global_batch or batch_size * grad_accum
        self.rank, self.grad_accum = rank, grad_accum
        # A shard of n tokens has (n - 1) // seq_len windows; shards too short for one are
        # skipped (and listed, for the trainer to report).
        short = too_short(shards, seq_len)
        left_out = {id(s) for s in short}
        self.shards = [s for s in shards if id(s) not in left_out]
        self.skipped = [s.name for s in short]
        if not self.shards:
            raise ConfigError(
                f"seq_len: no training shard has more than {seq_len} tokens "
                f"(shards: {', '.join(s.name for s in shards) or 'none'})"
            )
        self.doc_starts: list[np.ndarray] | None = None
        if bos_aligned is not None:
            self.doc_starts = [
                _doc_starts(s.tokens, bos_aligned, doc_at_end, len(s.tokens) - seq_len) for s in self.shards
            ]
            counts = np.array([len(d) for d in self.doc_starts], dtype=np.int64)
        else:
            counts = np.array([(len(s.tokens) - 1) // seq_len for s in self.shards], dtype=np.int64)
        self.first_window = np.concatenate([[0], np.cumsum(counts)])
        self.windows = int(self.first_window[-1])
        self.masked = any(s.mask is not None for s in self.shards)
        self._perm: tuple[int, np.ndarray] | None = None

    def permutation(self, epoch: int) -> np.ndarray:
        """The order of the windows in one epoch (the last one asked for is kept)."""
        if self._perm is None or self._perm[0] != epoch:
            rng = np.random.default_rng([self.seed, _TRAIN_STREAM, epoch])
            self._perm = (epoch, rng.permutation(self.windows))
        return self._perm[1]

    def positions(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Shard index and start token of samples first .. first + count - 1."""
        return self.positions_of(np.arange(first, first + count, dtype=np.int64))

    def positions_of(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shard index and start token of the samples numbered ``g`` (int64 array)."""
        count = len(g)
        epochs, within = np.divmod(g, self.windows)
        w = np.empty(count, dtype=np.int64)
        for epoch in np.unique(epochs).tolist():
            at = epochs == epoch
            w[at] = self.permutation(epoch)[within[at]]
        shard_ids = np.searchsorted(self.first_window, w, side="right") - 1
        within_shard = w - self.first_window[shard_ids]
        if self.doc_starts is None:
            return shard_ids, within_shard * self.seq_len
        starts = np.array(
            [self.doc_starts[i][j] for i, j in zip(shard_ids.tolist(), within_shard.tolist(), strict=True)],
            dtype=np.int64,
        )
        return shard_ids, starts

    def rows(self, first: int, count: int) -> np.ndarray:
        return self.rows_of(np.arange(first, first + count, dtype=np.int64))

    def rows_of(self, g: np.ndarray) -> np.ndarray:
        """(len(g), seq_len + 1) tokens of the samples numbered ``g``."""
        shard_ids, starts = self.positions_of(g)
        n = self.seq_len + 1
        pairs = zip(shard_ids.tolist(), starts.tolist(), strict=True)
        return np.stack([self.shards[i].tokens[s : s + n] for i, s in pairs])

    def mask_rows(self, first: int, count: int) -> np.ndarray:
        return self.mask_rows_of(np.arange(first, first + count, dtype=np.int64))

    def mask_rows_of(self, g: np.ndarray) -> np.ndarray:
        """(len(g), seq_len + 1) loss mask of the samples ``g``: ones where a shard has none."""
        shard_ids, starts = self.positions_of(g)
        n = self.seq_len + 1
        out = np.ones((len(g), n), dtype=np.uint8)
        for row, (i, s) in enumerate(zip(shard_ids.tolist(), starts.tolist(), strict=True)):
            mask = self.shards[i].mask
            if mask is not None:
                out[row] = mask[s : s + n]
        return out


def eval_windows(shards: list[Shard], seq_len: int, count: int) -> list[tuple[int, int]]:
    """(shard index, start token) of the ``count`` windows an evaluation scores, the same every time.

    The windows are spread over every shard in proportion to its tokens, so a split of many
    units (or languages, or sources) is scored as a whole, not by its first shard: each shard
    gets at least one window while there are at least as many windows as shards; with fewer,
    the shards are picked at even steps along the split. Within a shard the windows are evenly
    spaced. No random numbers: the sample is a function of the shards' lengths alone.
    """
    have = np.array([max(0, (len(s.tokens) - 1) // seq_len) for s in shards], dtype=np.int64)
    total = int(have.sum())
    count = min(count, total)
    if count <= 0:
        return []
    usable = np.flatnonzero(have)
    take = np.zeros(len(shards), dtype=np.int64)
    if count < len(usable):
        # One window at each of `count` even steps along the split's windows.
        ends = np.cumsum(have)
        at = np.searchsorted(ends, (np.arange(count) + 0.5) * total / count, side="right")
        np.add.at(take, at, 1)
    else:
        quota = count * have / total
        take[usable] = np.clip(np.floor(quota[usable]), 1, have[usable])
        # Largest remainders first (ties by shard order) until the sum is right.
        while (short := count - int(take.sum())) != 0:
            room = quota - take
            if short > 0:
                room[take >= have] = -np.inf
                take[int(np.argmax(room))] += 1
            else:
                room[take <= 1] = np.inf
                take[int(np.argmin(room))] -= 1
    windows = []
    for i in np.flatnonzero(take).tolist():
        n, w = int(take[i]), int(have[i])
        windows.extend((i, ((2 * j + 1) * w // (2 * n)) * seq_len) for j in range(n))
    return windows


def window_batches(
    shards: list[Shard], windows: list[tuple[int, int]], batch_size: int, seq_len: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, targets) of the windows, ``batch_size`` at a time (the last batch may be
    smaller: losses are means over target tokens, so it weighs by its tokens alone)."""
    n = seq_len + 1
    masked = any(s.mask is not None for s in shards)
    for first in range(0, len(windows), batch_size):
        part = windows[first : first + batch_size]
        x, y = _to_tensors(np.stack([shards[i].tokens[s : s + n] for i, s in part]))
        if masked:
            mask = np.stack(
                [
                    shards[i].mask[s : s + n] if shards[i].mask is not None else np.ones(n, np.uint8)
                    for i, s in part
                ]
            )
            y = y.masked_fill(~torch.from_numpy(mask[:, 1:].astype(bool)), IGNORE)
        yield x, y


def eval_batches(
    shards: list[Shard], batch_size: int, seq_len: int, max_batches: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The same batches every time: ``max_batches`` x ``batch_size`` windows spread over every
    shard (``eval_windows``), so val losses at different steps compare."""
    windows = eval_windows(shards, seq_len, batch_size * max_batches)
    return window_batches(shards, windows, batch_size, seq_len)


ENTROPY_SAMPLE_TOKENS = 1 << 26
"""The unigram entropy reads at most this many tokens (128 MB of uint16): all of a smaller split,
else blocks spread evenly over it, so every start costs the same whatever the corpus size."""


def _sample_blocks(shards: list[Shard], limit: int, block: int) -> Iterator[tuple[Shard, int, int]]:
    """(shard, start, end) of the token ranges a bounded pass reads: every shard whole when the
    split holds at most ``limit`` tokens, else ``limit // block`` blocks at even steps."""
    lengths = np.array([len(s.tokens) for s in shards], dtype=np.int64)
    total = int(lengths.sum())
    if total <= limit:
        for shard in shards:
            yield shard, 0, len(shard.tokens)
        return
    ends = np.cumsum(lengths)
    count = max(1, limit // block)
    for k in range(count):
        at = k * total // count
        i = int(np.searchsorted(ends, at, side="right"))
        start = at - int(ends[i] - lengths[i])
        yield shards[i], start, min(start + block, int(lengths[i]))


def unigram_counts(
    shards: list[Shard], vocab_size: int, chunk: int = 1 << 24, limit: int = ENTROPY_SAMPLE_TOKENS
) -> np.ndarray:
    """Occurrences of each token id in (a bounded sample of) the split, reading the memmaps in
    chunks to bound memory; a token id outside the vocabulary is an error naming its shard."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for shard, first, last in _sample_blocks(shards, limit, min(chunk, 1 << 20)):
        for start in range(first, last, chunk):
            part = np.bincount(shard.tokens[start : min(start + chunk, last)], minlength=vocab_size)
            if len(part) > vocab_size:
                bad = int(np.flatnonzero(part[vocab_size:])[0]) + vocab_size
                raise ManifestError(f"{shard.path}: token id {bad} is outside the vocabulary of {vocab_size}")
            counts += part
    return counts


def unigram_entropy(
    shards: list[Shard], vocab_size: int, chunk: int = 1 << 24, limit: int = ENTROPY_SAMPLE_TOKENS
) -> float:
    """Entropy in nats/token of the split's token frequencies (of a bounded sample of it).

    The loss of the best model that ignores context: a trained model's loss should fall below it.
    """
    counts = unigram_counts(shards, vocab_size, chunk, limit)
    total = int(counts.sum())
    if total == 0:
        return math.nan
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum())
