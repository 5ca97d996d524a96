"""Building the ``Setup`` of a run before step 0: the flags checked, the device and ranks, the data
(``trainer.train_data``), the global batch split over the ranks, the model with LoRA adapters when
asked, FSDP or DDP around it (``trainer.parallel``) and its optimizer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainer import train_data
from trainer.checkpoint import (
    CheckpointError,
    check_compatible,
    checkpoint_file,
    load_checkpoint,
    load_weights,
)
from trainer.config import ConfigError, TrainConfig
from trainer.device import bf16_supported, make_autocast, resolve_device
from trainer.distributed import World, init_world
from trainer.host import keep_freed_blocks
from trainer.metrics import tensorboard_missing
from trainer.mixture import parse_data
from trainer.model import GPT
from trainer.parallel import runners, seed_dropout, shard
from trainer.setup import Setup
from trainer.verify import RunData, model_vocab_size


def split_global_batch(config: TrainConfig, world: World, saved: dict[str, Any] | None) -> TrainConfig:
    """Resolve the global batch (this config's, else the checkpoint's, else batch_size x
    grad_accum x ranks) and the grad_accum that gives it on this many ranks."""
    legacy = saved and saved.get("batch_size", 0) * saved.get("grad_accum", 0)
    global_batch = config.global_batch or (saved and saved.get("global_batch")) or legacy
    global_batch = global_batch or config.batch_size * config.grad_accum * world.size
    per_pass = config.batch_size * world.size
    if global_batch % per_pass:
        raise ConfigError(
            f"global_batch: {global_batch} sequences per step cannot be split into micro-batches of "
            f"batch_size {config.batch_size} on {world.size} ranks; use a batch_size that divides "
            f"{global_batch} / {world.size}"
        )
    return replace(config, global_batch=global_batch, grad_accum=global_batch // per_pass)


def prepare(config: TrainConfig, say: Callable[[str], None], saved: dict[str, Any] | None = None) -> Setup:
    """Everything step 0 needs; ``saved``: the config of the checkpoint the run resumes from."""
    if config.tensorboard and (missing := tensorboard_missing()):
        raise ConfigError(f"tensorboard: {missing}")  # before any data is read
    sources = parse_data(config.data)
    device = resolve_device(config.device)
    _check_attention(config, device)
    if device.type == "cpu":
        keep_freed_blocks()
    world = init_world(device.type)
    if device.type == "cuda" and world.active:
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    runs = train_data.verified_runs(sources, config.out, world, say)
    run = runs[0]
    # Record the resolved embedding size, so the checkpoint holds the real shape.
    config = replace(config, vocab_size=model_vocab_size(config.vocab_size, run.vocab_size))
    config = split_global_batch(config, world, saved)
    data = train_data.load(config, runs, sources, world, say)
    bf16 = config.dtype == "bf16" or (config.dtype == "auto" and bf16_supported(device))
    model = _model(config, run, device, world, say)
    shard(model, config, world)
    optimizer = model.configure_optimizer(
        config.lr, config.weight_decay, config.betas, device_type=device.type
    )
    _say_shapes(config, model, data.batches.windows, device, bf16, world, say)
    runner, eval_runner = runners(model, config, world)
    return Setup(
        config=config,
        run=run,
        train_shards=data.train_shards,
        val_shards=data.val_shards,
        batches=data.batches,
        entropy=data.entropy,
        device=device,
        bf16=bf16,
        autocast=make_autocast(device, bf16),
        model=model,
        runner=runner,
        eval_runner=eval_runner,
        optimizer=optimizer,
        world=world,
        sources=sources,
        val_by_source=data.val_by_source,
        train_by_source=data.train_by_source,
    )


def _check_attention(config: TrainConfig, device: torch.device) -> None:
    if config.doc_masking and config.attention == "flex" and device.type != "cuda":
        raise ConfigError(
            f"attention = flex trains on CUDA only (FlexAttention has no backward on {device.type}); "
            "use attention = auto or sdpa"
        )


def _model(
    config: TrainConfig, run: RunData, device: torch.device, world: World, say: Callable[[str], None]
) -> GPT:
    """The GPT as configured, initialised alike on every rank; with LoRA, the base run's weights
    and the adapters on them."""
    torch.manual_seed(config.seed)
    model = GPT(config.model_config(config.vocab_size)).to(device)
    model.checkpoint_blocks = config.activation_checkpointing
    model.doc_bos = run.bos_id if config.doc_masking else None
    model.attention = config.attention
    model.doc_at_end = run.doc_at_end
    seed_dropout(config.seed, world, 0)
    if config.lora_rank:
        _add_lora(model, config, run, say)
    return model


def _add_lora(model: GPT, config: TrainConfig, run: RunData, say: Callable[[str], None]) -> None:
    from trainer.lora import add_lora

    load_base(model, Path(config.init_from), config, run, say)
    trainable = add_lora(model, config.lora_rank, config.lora_alpha, config.lora_targets.split(","),
                         config.lora_dropout)  # fmt: skip
    say(
        f"LoRA: rank {config.lora_rank}, alpha {config.lora_alpha:g} on {config.lora_targets}: "
        f"{trainable:,} trainable parameters; the base weights are frozen"
    )


def load_base(
    model: nn.Module, path: Path, config: TrainConfig, run: RunData, say: Callable[[str], None]
) -> None:
    """Another run's weights (a checkpoint, or a run folder's checkpoint.pt) into ``model``:
    same shape and tokenizer, else refused."""
    path = checkpoint_file(path)
    state = load_checkpoint(path)
    check_compatible(path, state["config"], config)
    theirs, ours = state["extra"].get("tokenizer_sha256"), run.manifest["tokenizer"]["sha256"]
    if theirs is not None and theirs != ours:
        raise CheckpointError(
            f"{path}: trained with another tokenizer (sha256 {theirs[:12]}...) than "
            f"{run.tokenizer_path} ({ours[:12]}...); its token ids mean other things here"
        )
    load_weights(model, state["model"])
    say(f"weights from {path} (step {state['step']}); optimizer and schedule start afresh")


def _say_shapes(
    config: TrainConfig,
    model: GPT,
    windows: int,
    device: torch.device,
    bf16: bool,
    world: World,
    say: Callable[[str], None],
) -> None:
    say(
        f"model: {model.num_params():,} parameters ({config.n_layer} layers, {config.n_head} "
        f"heads, {config.n_embd} wide, {config.position} positions, vocab {config.vocab_size}) "
        f"on {device} in {'bf16 autocast' if bf16 else 'fp32'}"
    )
    say(
        f"batch: {config.global_batch} sequences of {config.seq_len} per step = {world.size} "
        f"rank{'s' * (world.size > 1)} x {config.grad_accum} micro-step{'s' * (config.grad_accum > 1)} "
        f"x {config.batch_size}; {windows:,} windows per epoch"
    )
