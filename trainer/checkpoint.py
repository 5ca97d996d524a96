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

from corpus.errors import InputError
from trainer.config import MODEL_FIELDS, TrainConfig

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_VERSION = 2
"""2: model and optimizer state keyed by parameter name (torch.distributed.checkpoint's full
state dict), the same whether the run was one process, DDP or FSDP2; 1: optimizer state keyed
by position (still read by runs without FSDP)."""
READABLE_VERSIONS = (1, 2)
_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


class CheckpointError(InputError):
    """A checkpoint cannot be resumed by this run; the message names the file."""


def checkpoint_path(out: str | os.PathLike) -> Path:
    return Path(out) / CHECKPOINT_NAME


def checkpoint_file(checkpoint: str | os.PathLike) -> Path:
    """The checkpoint a user named: a checkpoint file, or a training run's folder (``corpus train
    --out``), whose latest checkpoint is its checkpoint.pt."""
    path = Path(checkpoint)
    if not path.is_dir():
        return path
    inside = checkpoint_path(path)
    if not inside.is_file():
        raise CheckpointError(f"{path}: a folder without {CHECKPOINT_NAME}; is it a training run?")
    return inside


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
    try:
        with open(tmp, "wb") as f:
            torch.save(saved, f)
            f.flush()
            # The rename must not reach the disk before the data does, or a power cut leaves an
            # empty file under the final name.
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not also keep a half-written copy
        raise


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


DATA_ORDER_FIELDS = ("seed", "global_batch", "bos_aligned", "doc_masking")
"""Settings that decide which windows step N trains on (seq_len too, a model field)."""


def data_order(config: TrainConfig, sources: list[tuple[str, float, str | None]]) -> dict[str, Any]:
    """What decides the data order of a run: the settings above and, per source (name, weight,
    sha256 of its manifest), which data is drawn and how often."""
    order: dict[str, Any] = {name: getattr(config, name) for name in DATA_ORDER_FIELDS}
    order["sources"] = {name: {"weight": weight, "manifest_sha256": sha} for name, weight, sha in sources}
    return order


def data_order_changes(saved: dict[str, Any], now: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, saved value, this run's value) of every difference; a saved manifest of None
    (checkpoints before the data order was saved) is compared by the caller."""
    changes = [
        (name, saved.get(name), now.get(name))
        for name in DATA_ORDER_FIELDS
        if saved.get(name) != now.get(name)
    ]
    old, new = saved.get("sources", {}), now.get("sources", {})
    if sorted(old) != sorted(new):
        return [*changes, ("data", sorted(old), sorted(new))]
    for name in sorted(new):
        if abs(old[name]["weight"] - new[name]["weight"]) > 1e-12:
            changes.append((f"data weight of {name}", old[name]["weight"], new[name]["weight"]))
        before, after = old[name]["manifest_sha256"], new[name]["manifest_sha256"]
        if before is not None and before != after:
            changes.append(
                (f"data manifest of {name}", f"sha256 {before[:12]}...", f"sha256 {after[:12]}...")
            )
    return changes


def refuse_data_order_change(path: str | os.PathLike, changes: list[tuple[str, Any, Any]]) -> None:
    field, before, after = changes[0]
    more = (
        f" (and {len(changes) - 1} more: {', '.join(c[0] for c in changes[1:])})" if len(changes) > 1 else ""
    )
    raise CheckpointError(
        f"{path}: saved with {field}={before!r}, this run has {field}={after!r}{more}: resuming would "
        "change which windows every later step trains on. Pass --reset-data-order to resume in the "
        "new order anyway (logged in metrics.jsonl and train_summary.json), --init-from to train "
        "these weights on other data, or another --out"
    )


RUN_FILES = (
    CHECKPOINT_NAME,
    "checkpoints",
    "metrics.jsonl",
    "train_summary.json",
    "batches.jsonl",
    "tensorboard",
)
"""What a training run writes in its folder; another run's copies are moved aside, not mixed in."""
PREVIOUS_DIR = "previous"


def set_aside(out: str | os.PathLike) -> Path | None:
    """Move an earlier run's files out of ``out`` into ``out/previous/run-NNN/`` (the first free
    number) so that a new run owns the folder: its checkpoint history is its own, and the old
    run's steps (later than the new run's) can neither prune nor be mistaken for the new run's
    checkpoints. Returns the folder they went to, or None when there was nothing to move."""
    out = Path(out)
    present = [out / name for name in RUN_FILES if (out / name).exists()]
    if not present:
        return None
    previous = out / PREVIOUS_DIR
    previous.mkdir(exist_ok=True)
    n = 1
    while (previous / f"run-{n:03d}").exists():
        n += 1
    target = previous / f"run-{n:03d}"
    target.mkdir()
    for path in present:
        os.replace(path, target / path.name)
    return target


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
