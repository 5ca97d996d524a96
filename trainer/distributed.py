"""Data parallelism through ``torchrun``: the process group, who is the main rank, and the few
collectives the loop needs. One process (no ``WORLD_SIZE`` or 1) needs none of it.

    torchrun --nproc_per_node 2 -m trainer.train --data out/sample --out runs/sample

NCCL on CUDA, gloo on the CPU (how the tests run two ranks on one machine).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def init_world(device_type: str) -> World:
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def close_world(world: World) -> None:
    """Every rank reaches here before the group goes (no rank leaves work in flight)."""
    if world.active and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def mean(value: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of a scalar over the ranks (every rank gets it)."""
    if not world.active:
        return value
    out = value.detach().clone().float()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / world.size


def from_main(value: Any, world: World) -> Any:
    """The main rank's value of a picklable object, on every rank (decisions all must share,
    such as a schedule timed on each rank's own clock)."""
    if not world.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    if world.active:
        dist.barrier()
