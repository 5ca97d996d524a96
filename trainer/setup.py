"""What a training run is built from before step 0: the one record ``trainer.prepare.prepare``
fills and the loop, the time budget (``trainer.budget``) and checkpointing read."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trainer.config import TrainConfig
from trainer.data import Shard, TrainBatches
from trainer.distributed import World
from trainer.mixture import MixtureBatches, Source
from trainer.model import GPT
from trainer.verify import RunData

Autocast = Callable[[], contextlib.AbstractContextManager[Any]]


@dataclass
class Setup:
    """Everything built before step 0."""

    config: TrainConfig
    run: RunData
    train_shards: list[Shard]
    val_shards: list[Shard]
    batches: TrainBatches | MixtureBatches
    entropy: float
    device: torch.device
    bf16: bool
    autocast: Autocast
    model: GPT
    runner: nn.Module
    """The model as trained: DDP around it when there are several ranks, compiled when asked;
    ``model`` is what is saved."""
    eval_runner: nn.Module
    """The model as evaluated (every rank scores the same windows, no collective)."""
    optimizer: torch.optim.Optimizer
    world: World
    sources: list[Source]
    val_by_source: list[list[Shard]]
    train_by_source: list[list[Shard]]
