"""Validation: a fixed sample of windows from every val shard, scored overall, per source and
per language.

The sample (``trainer.data.eval_windows``) is drawn once over all val shards of all sources, in
proportion to their tokens, and scored at every evaluation, so losses at different steps compare
and a split of many units, languages or sources is judged as a whole. Each window belongs to one
(source, language) group; a group's windows are batched together, and the overall, per-source
and per-language figures are sums over groups of (loss x target tokens) and of target bytes, so
they agree with each other exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from trainer.bpb import bits_per_byte, target_bytes
from trainer.data import IGNORE, Shard, eval_windows, window_batches
from trainer.setup import Autocast


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    autocast: Autocast,
) -> tuple[float, int]:
    """Mean loss per target token over the batches, and the number of target tokens."""
    model.eval()
    total, tokens = torch.zeros((), dtype=torch.float64, device=device), 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        counted = int((y != IGNORE).sum())  # fine-tuning data: the response tokens only
        if not counted:
            continue
        with autocast():
            _, loss = model(x, y)
        total += loss.double() * counted
        tokens += counted
    model.train()
    return (total.item() / tokens if tokens else math.nan), tokens


@dataclass
class Score:
    """Summed loss (nats), target tokens and target bytes of some windows."""

    nats: float = 0.0
    tokens: int = 0
    nbytes: int = 0

    def add(self, other: Score) -> None:
        self.nats, self.tokens, self.nbytes = (
            self.nats + other.nats, self.tokens + other.tokens, self.nbytes + other.nbytes
        )  # fmt: skip

    @property
    def loss(self) -> float:
        return self.nats / self.tokens if self.tokens else math.nan

    def record(self) -> dict[str, float | int | None]:
        bpb = bits_per_byte(self.loss, self.tokens, self.nbytes) if self.nbytes else None
        return {"loss": self.loss, "bits_per_byte": bpb, "tokens": self.tokens}


@dataclass
class Result:
    overall: Score
    by_source: dict[str, Score] = field(default_factory=dict)
    by_language: dict[str, Score] = field(default_factory=dict)

    def records(self) -> dict[str, dict[str, dict[str, float | int | None]]]:
        """Per source and per language (where the shards carry one), for metrics and summary."""
        out = {}
        if len(self.by_source) > 1:
            out["by_source"] = {k: v.record() for k, v in self.by_source.items()}
        if self.by_language:
            out["by_language"] = {k: v.record() for k, v in self.by_language.items()}
        return out


class Sample:
    """The windows one kind of evaluation scores (the val split, or the train split for the
    final train loss), grouped by (source, language)."""

    def __init__(
        self,
        by_source: list[tuple[str, list[Shard]]],
        batch_size: int,
        seq_len: int,
        windows: int,
        byte_table: np.ndarray | None,
    ) -> None:
        shards = [shard for _, part in by_source for shard in part]
        names = [name for name, part in by_source for _ in part]
        self.shards, self.batch_size, self.seq_len = shards, batch_size, seq_len
        self.groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for i, start in eval_windows(shards, seq_len, windows):
            self.groups.setdefault((names[i], shards[i].language), []).append((i, start))
        self.nbytes = {
            key: target_bytes(self._batches(key), byte_table) if byte_table is not None else 0
            for key in self.groups
        }

    @property
    def windows(self) -> int:
        return sum(len(w) for w in self.groups.values())

    def _batches(self, key: tuple[str, str]) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        return window_batches(self.shards, self.groups[key], self.batch_size, self.seq_len)

    def score(self, model: nn.Module, device: torch.device, autocast: Autocast) -> Result:
        result = Result(Score())
        for key in self.groups:
            loss, tokens = evaluate(model, self._batches(key), device, autocast)
            part = Score(loss * tokens if tokens else 0.0, tokens, self.nbytes[key])
            source, language = key
            result.overall.add(part)
            result.by_source.setdefault(source, Score()).add(part)
            if language:
                result.by_language.setdefault(language, Score()).add(part)
        return result
