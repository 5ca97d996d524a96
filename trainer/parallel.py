"""The model across ranks: FSDP's sharding (``--fsdp``) or DDP's wrapper, compilation of what is
trained and evaluated, and each rank's own dropout masks. One rank needs none of the wrapping."""

from __future__ import annotations

import torch
from torch import nn

from trainer.config import TrainConfig
from trainer.distributed import World
from trainer.model import GPT


def seed_dropout(seed: int, world: World, step: int) -> None:
    """Every rank initialises the same weights (seeded alike), but draws its own dropout masks.
    Rank 0's random state is the one checkpointed; the other ranks reseed from (seed, rank,
    step) when a run resumes, so with dropout a resumed multi-rank run draws other masks than
    an uninterrupted one (without dropout it is exact)."""
    if world.rank:
        torch.manual_seed(hash((seed, world.rank, step)) & 0x7FFF_FFFF)


def is_sharded(config: TrainConfig, world: World) -> bool:
    """FSDP: asked for, and more than one rank to shard over."""
    return world.active and config.fsdp


def shard(model: GPT, config: TrainConfig, world: World) -> None:
    """FSDP's sharding of every block and then of the whole model (before the optimizer is made)."""
    if not is_sharded(config, world):
        return
    from torch.distributed.fsdp import fully_shard

    for block in model.blocks:
        fully_shard(block)
    fully_shard(model)


def runners(model: GPT, config: TrainConfig, world: World) -> tuple[nn.Module, nn.Module]:
    """(the model as trained, the model as evaluated): DDP around the trained one on several
    ranks without FSDP, either compiled when asked (the evaluated one on one rank only)."""
    trained: nn.Module = model
    if world.active and not is_sharded(config, world):
        from torch.nn.parallel import DistributedDataParallel

        trained = DistributedDataParallel(model, broadcast_buffers=False)
    runner = torch.compile(trained) if config.compile else trained
    eval_runner = model if world.active or not config.compile else torch.compile(model)
    return runner, eval_runner
