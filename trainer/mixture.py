"""Training on several pipeline runs at once with weights: ``--data a=0.7,b=0.3``.

Sample g of the run (the same global numbering as one source: step x global batch + row) is
drawn from source k when a hash of (seed, g) falls in k's share of [0, 1); it is then sample c
of that source, c = how many earlier samples went to k, and that source's own epoch order
(trainer/data.py) gives the window. Everything is a function of (seed, g), so a mixture resumes
exactly, on any number of ranks; the realised share of each source converges to its weight
(the counts are logged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainer.config import ConfigError
from trainer.data import GlobalBatches, TrainBatches

_MIX_STREAM = 0x6D6978
_CHUNK = 1 << 22


@dataclass(frozen=True)
class Source:
    name: str
    path: str
    weight: float


def parse_data(data: str) -> list[Source]:
    """``DIR`` (one source) or ``DIR=W,DIR=W,...`` (weights > 0, normalised to sum to 1)."""
    if "=" not in data:
        return [Source(data.rstrip("/").rsplit("/", 1)[-1] or data, data, 1.0)]
    sources = []
    for part in data.split(","):
        path, _, weight = part.strip().rpartition("=")
        try:
            w = float(weight)
        except ValueError:
            raise ConfigError(f"data: {part!r} is not DIR=WEIGHT") from None
        if not path or not w > 0:
            raise ConfigError(f"data: {part!r} needs a run directory and a weight > 0")
        sources.append(Source(path.rstrip("/").rsplit("/", 1)[-1] or path, path, w))
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ConfigError(f"data: two sources share a folder name ({', '.join(names)}); rename one")
    total = sum(s.weight for s in sources)
    return [Source(s.name, s.path, s.weight / total) for s in sources]


def _uniform(g: np.ndarray, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per sample index (splitmix64 of seed and index)."""
    with np.errstate(over="ignore"):
        z = g.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15 + _MIX_STREAM) % (1 << 64))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class MixtureBatches(GlobalBatches):
    """Global batches drawn from weighted sources (each a TrainBatches)."""

    def __init__(
        self, sources: list[TrainBatches], weights: list[float], batch_size: int, seed: int,
        global_batch: int, rank: int = 0, grad_accum: int = 1,
    ) -> None:  # fmt: skip
        self.sources, self.seed = sources, seed
        self.batch_size, self.global_batch, self.rank, self.grad_accum = (
            batch_size,
            global_batch,
            rank,
            grad_accum,
        )
        self.bounds = np.cumsum(weights)[:-1]
        self.windows = sum(s.windows for s in sources)
        self.shards = [shard for s in sources for shard in s.shards]
        self.masked = any(s.masked for s in sources)  # fine-tuning data, replayed pretraining without
        self._known = (0, np.zeros(len(sources), dtype=np.int64))  # counts before sample index

    def source_of(self, g: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.bounds, _uniform(g, self.seed), side="right")

    def counts_before(self, first: int) -> np.ndarray:
        """Samples each source gave before sample ``first``."""
        at, counts = self._known
        if first < at:
            at, counts = 0, np.zeros(len(self.sources), dtype=np.int64)
        counts = counts.copy()
        while at < first:
            n = min(_CHUNK, first - at)
            counts += np.bincount(
                self.source_of(np.arange(at, at + n, dtype=np.int64)), minlength=len(self.sources)
            )
            at += n
        self._known = (at, counts)
        return counts

    def rows(self, first: int, count: int) -> np.ndarray:
        return self._gather(first, count, lambda source, g: source.rows_of(g), np.int64)

    def mask_rows(self, first: int, count: int) -> np.ndarray:
        return self._gather(first, count, lambda source, g: source.mask_rows_of(g), np.uint8)

    def _gather(self, first: int, count: int, take, dtype) -> np.ndarray:  # type: ignore[no-untyped-def]
        """Samples first .. first + count - 1, each from its source's own sequence."""
        g = np.arange(first, first + count, dtype=np.int64)
        src = self.source_of(g)
        base = self.counts_before(first)
        out = np.empty((count, self.sources[0].seq_len + 1), dtype=dtype)
        for k, source in enumerate(self.sources):
            at = np.flatnonzero(src == k)
            if len(at):
                out[at] = take(source, base[k] + np.arange(len(at), dtype=np.int64))
        return out

    def shares(self, step: int) -> np.ndarray:
        """The share of each source among the samples of steps 0 .. step - 1."""
        counts = self.counts_before(step * self.global_batch)
        return counts / max(1, counts.sum())
