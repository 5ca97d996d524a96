"""Checkpoints: everything needed to continue a run as if it had never stopped.

Batches are a function of (seed, step): the loader's one cursor is step x global batch, so the
data loader has no state of its own to save; model, optimizer, step, config (with the global
batch, which a resume on another number of ranks keeps) and the RNG state (dropout) are
enough. Any number of ranks can resume a checkpoint: under DDP every rank holds the whole model
and optimizer state, and the main rank writes them.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_state_dict,
    set_model_state_dict,
    set_state_dict,
)

from trainer.config import MODEL_FIELDS, TrainConfig

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_VERSION = 2
"""2: model and optimizer state keyed by parameter name (torch.distributed.checkpoint's full
state dict), the same whether the run was one process, DDP or FSDP2; 1: optimizer state keyed
by position (still read by runs without FSDP)."""
READABLE_VERSIONS = (1, 2)
_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


class CheckpointError(ValueError):
    """A checkpoint cannot be resumed by this run; the message names the file."""


def checkpoint_path(out: str | os.PathLike) -> Path:
    return Path(out) / CHECKPOINT_NAME


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def full_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Whole (unsharded) model and optimizer state on the CPU, keyed by parameter name. Under
    FSDP every rank must call it (it gathers the shards)."""
    return get_state_dict(model, optimizer, options=_FULL)


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    config: TrainConfig,
    extra: dict[str, Any] | None = None,
    state: tuple[dict, dict] | None = None,
) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact.

    ``step`` is the number of updates done, i.e. the step a resumed run trains next. ``model``
    must be the plain module, not a torch.compile wrapper (its keys carry a prefix).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model_state, optimizer_state = state if state is not None else full_state(model, optimizer)
    saved = {
        "version": CHECKPOINT_VERSION,
        "step": step,
        "config": config.to_dict(),
        "model": model_state,
        "optimizer": optimizer_state,
        "rng": rng_state(),
        "extra": extra or {},
    }
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(saved, f)
        f.flush()
        # The rename must not reach the disk before the data does, or a power cut leaves an empty
        # file under the final name.
        os.fsync(f.fileno())
    os.replace(tmp, path)


def keep_history(path: str | os.PathLike, step: int, keep: int) -> list[Path]:
    """After ``path`` was saved at ``step``: keep it also as ``checkpoints/step-NNNNNNNN.pt``
    (a hard link, no copy, where the file system allows) and remove all but the newest
    ``keep - 1`` of those. ``keep`` 1 keeps no history. Returns the files kept."""
    path = Path(path)
    folder = path.parent / "checkpoints"
    if keep <= 1:
        return []
    folder.mkdir(exist_ok=True)
    target = folder / f"step-{step:08d}.pt"
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copyfile(path, tmp)
    os.replace(tmp, target)
    kept = sorted(folder.glob("step-*.pt"))
    for old in kept[: -(keep - 1)]:
        old.unlink()
    return kept[-(keep - 1) :]


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    try:
        # weights_only: only tensors and plain containers, so loading cannot run code.
        state = torch.load(path, map_location=device, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise CheckpointError(f"{path}: cannot be read ({e})") from e
    if not isinstance(state, dict) or state.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(f"{path}: not a trainer checkpoint (versions {READABLE_VERSIONS})")
    return state


def check_compatible(path: str | os.PathLike, saved: dict[str, Any], config: TrainConfig) -> None:
    """Refuse to resume into a model of other shapes; other fields may change between runs."""
    for name in MODEL_FIELDS:
        if saved.get(name) != getattr(config, name):
            raise CheckpointError(
                f"{path}: saved with {name}={saved.get(name)!r}, this run has "
                f"{name}={getattr(config, name)!r}; use another --out or --resume never"
            )


def load_weights(model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Whole weights into a model, sharded or not (continued pretraining)."""
    set_model_state_dict(model, weights, options=StateDictOptions(full_state_dict=True))


def restore(state: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Load a checkpoint's state into model and optimizer; return the step to train next."""
    if state["version"] == 1:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    else:  # every rank loads the whole state; FSDP keeps its own shard of it
        set_state_dict(
            model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"],
            options=StateDictOptions(full_state_dict=True),
        )  # fmt: skip
    set_rng_state(state["rng"])
    return int(state["step"])
