"""The training loop and its command line.

    python -m trainer.train --data out/sample --out runs/sample --max-steps 300

Before step 0 the run directory is verified (manifest, sha256 of every shard, tokenizer); a
mismatch stops the run with an error naming the file. Outputs in ``--out``: checkpoint.pt,
metrics.jsonl, train_summary.json. Rerunning the same command resumes from the checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import torch

from corpus.manifest import ManifestError, write_json_atomic
from corpus.shards import ShardFormatError
from trainer.checkpoint import (
    CheckpointError,
    check_compatible,
    checkpoint_path,
    load_checkpoint,
    restore,
    save_checkpoint,
)
from trainer.config import ConfigError, TrainConfig, parse_config
from trainer.data import TrainBatches, eval_batches, open_split, unigram_entropy
from trainer.metrics import METRICS_NAME, MetricsLogger
from trainer.model import GPT
from trainer.schedule import lr_at
from trainer.verify import model_vocab_size, verify_run

SUMMARY_NAME = "train_summary.json"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {name!r}: MPS is not available on this machine")
    return device


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 runs natively; emulated bf16 on an older CPU is slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # Private probes, looked up defensively: they are the only way torch exposes the CPU's
        # bf16 instructions (AVX512-BF16, AMX).
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return False


def use_bf16(dtype: str, device: torch.device) -> bool:
    return dtype == "bf16" or (dtype == "auto" and bf16_supported(device))


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    autocast: contextlib.AbstractContextManager[Any],
) -> tuple[float, int]:
    """Mean loss per target token over the batches, and the number of target tokens."""
    model.eval()
    total, tokens = torch.zeros((), dtype=torch.float64, device=device), 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        with autocast:
            _, loss = model(x, y)
        total += loss.double() * y.numel()
        tokens += y.numel()
    model.train()
    return (total.item() / tokens if tokens else math.nan), tokens


def _autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[Any]:
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def train(config: TrainConfig, stream: TextIO | None = None) -> dict[str, Any]:
    """Run (or resume) training as configured; return the summary also written to disk."""
    stream = stream if stream is not None else sys.stdout
    say = lambda text: print(text, file=stream, flush=True)  # noqa: E731

    run = verify_run(config.data)
    say(f"data: {run.directory} verified (manifest, shard checksums, {run.tokenizer_path.name})")
    # Fix the resolved embedding size in the config, so the checkpoint records the real shape.
    config = replace(config, vocab_size=model_vocab_size(config.vocab_size, run.vocab_size))
    train_shards, val_shards = open_split(run, "train"), open_split(run, "val")
    batches = TrainBatches(train_shards, config.batch_size, config.seq_len, config.seed)
    entropy = unigram_entropy(train_shards, run.vocab_size)
    train_tokens = sum(len(s.tokens) for s in train_shards)
    val_tokens = sum(len(s.tokens) for s in val_shards)
    say(
        f"train: {len(train_shards)} shards, {train_tokens:,} tokens, unigram entropy "
        f"{entropy:.4f} nats/token | val: {len(val_shards)} shards, {val_tokens:,} tokens"
    )

    device = resolve_device(config.device)
    bf16 = use_bf16(config.dtype, device)
    autocast = _autocast(device, bf16)
    torch.manual_seed(config.seed)
    model = GPT(config.model_config(config.vocab_size)).to(device)
    optimizer = model.configure_optimizer(
        config.lr, config.weight_decay, config.betas, device_type=device.type
    )
    say(
        f"model: {model.num_params():,} parameters ({config.n_layer} layers, {config.n_head} "
        f"heads, {config.n_embd} wide, {config.position} positions, vocab {config.vocab_size}) "
        f"on {device} in {'bf16 autocast' if bf16 else 'fp32'}"
    )

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = checkpoint_path(out)
    start_step, extra, resumed = 0, {}, False
    if ckpt.exists() and config.resume == "auto":
        state = load_checkpoint(ckpt, device)
        check_compatible(ckpt, state["config"], config)
        start_step, extra, resumed = restore(state, model, optimizer), state["extra"], True
        if extra.get("manifest_sha256") != _manifest_sha(run.directory):
            say(f"warning: {ckpt} was trained on other data than {run.directory}")
        say(f"resuming from {ckpt} at step {start_step}")
    elif ckpt.exists():
        say(f"--resume never: starting at step 0; {ckpt} and {METRICS_NAME} will be replaced")
    metrics = MetricsLogger(out, resume_step=start_step if resumed else None, stream=stream)
    # The plain module is what gets saved; the compiled wrapper is only used to run it.
    runner = torch.compile(model) if config.compile else model
    extra["manifest_sha256"] = _manifest_sha(run.directory)
    val_note_given = False

    def run_eval(step: int) -> float | None:
        nonlocal val_note_given
        windows = eval_batches(val_shards, config.batch_size, config.seq_len, config.eval_batches)
        loss, tokens = evaluate(runner, windows, device, autocast)
        if tokens == 0:
            if not val_note_given:
                say(
                    f"note: the val split has no batch of {config.batch_size} windows of "
                    f"{config.seq_len + 1} tokens; no val loss"
                )
                val_note_given = True
            return None
        metrics.log_eval(step, config.max_steps, loss, tokens)
        return loss

    model.train()
    t_start = time.perf_counter()
    train_time, tokens_since_log, time_since_log = 0.0, 0, 0.0
    last_loss: float | None = extra.get("last_loss")
    for step in range(start_step, config.max_steps):
        if config.eval_interval and step % config.eval_interval == 0:
            run_eval(step)
        t0 = time.perf_counter()
        lr = lr_at(step, config.lr, config.min_lr, config.warmup_steps, config.max_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=device)
        for micro in range(config.grad_accum):
            x, y = batches.batch(step, micro)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast:
                _, loss = runner(x, y)
            # Dividing makes the accumulated gradient the mean over micro-batches.
            (loss / config.grad_accum).backward()
            loss_sum += loss.detach()
        # max_norm=inf still returns the norm, which is worth logging even without clipping.
        grad_norm = torch.nn.utils.clip_grad_norm_(
            model.parameters(), config.grad_clip if config.grad_clip > 0 else math.inf
        )
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

        log_now = step % config.log_interval == 0 or step == config.max_steps - 1
        if log_now:
            # .item() waits for the device, so only log steps pay for it, and the time taken
            # below includes the queued work.
            last_loss = loss_sum.item() / config.grad_accum
        elapsed = time.perf_counter() - t0
        train_time += elapsed
        time_since_log += elapsed
        tokens_since_log += config.tokens_per_step
        if log_now:
            if step == 0:
                extra["loss_step0"] = last_loss
            tokens_per_s = tokens_since_log / time_since_log
            metrics.log_train(step, config.max_steps, last_loss, lr, tokens_per_s, float(grad_norm))
            tokens_since_log, time_since_log = 0, 0.0

        done = step + 1
        if config.checkpoint_interval and done % config.checkpoint_interval == 0:
            if done < config.max_steps:  # the final checkpoint is written below
                extra["last_loss"] = last_loss
                save_checkpoint(ckpt, model, optimizer, done, config, extra)

    steps_run = config.max_steps - start_step
    if steps_run > 0 or not ckpt.exists():
        extra["last_loss"] = last_loss
        save_checkpoint(ckpt, model, optimizer, config.max_steps, config, extra)
    val_loss = run_eval(config.max_steps)
    # Measured like the val loss (fixed windows), so the two compare; the last logged step's loss
    # is one noisy batch.
    train_windows = eval_batches(
        train_shards, config.batch_size, config.seq_len, config.eval_batches
    )
    train_loss, _ = evaluate(runner, train_windows, device, autocast)
    metrics.log({"step": config.max_steps, "train_eval_loss": train_loss})
    metrics.close()

    summary = {
        "steps": config.max_steps,
        "steps_this_run": steps_run,
        "resumed_from_step": start_step if resumed else None,
        "tokens_per_step": config.tokens_per_step,
        "tokens_seen": config.max_steps * config.tokens_per_step,
        "loss_step0": extra.get("loss_step0"),
        "last_step_loss": last_loss,
        "final_train_loss": train_loss,
        "final_val_loss": val_loss,
        "train_unigram_entropy": entropy,
        "ln_vocab_size": math.log(run.vocab_size),
        "train_tokens_per_s": (steps_run * config.tokens_per_step / train_time)
        if train_time
        else None,
        "wall_seconds": time.perf_counter() - t_start,
        "parameters": model.num_params(),
        "device": str(device),
        "precision": "bf16" if bf16 else "fp32",
        "data": str(run.directory),
        "out": str(out),
        "checkpoint": str(ckpt),
        "metrics": str(out / METRICS_NAME),
        "config": config.to_dict(),
    }
    write_json_atomic(out / SUMMARY_NAME, summary)
    say(_summary_text(summary))
    return summary


def _manifest_sha(directory: Path) -> str:
    from corpus.manifest import sha256_file

    return sha256_file(directory / "manifest.json")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"


def _summary_text(s: dict[str, Any]) -> str:
    speed = s["train_tokens_per_s"]
    lines = [
        f"done: {s['steps']} steps ({s['steps_this_run']} in this run), "
        f"{s['tokens_seen']:,} tokens seen"
        + (f", {speed:,.0f} tokens/s training" if speed else ""),
        f"  loss at step 0        {_fmt(s['loss_step0'])}   (ln vocab {s['ln_vocab_size']:.4f})",
        f"  final train loss      {_fmt(s['final_train_loss'])}   "
        f"(last step {_fmt(s['last_step_loss'])})",
        f"  final val loss        {_fmt(s['final_val_loss'])}",
        f"  train unigram entropy {_fmt(s['train_unigram_entropy'])} nats/token",
        f"  outputs: {s['checkpoint']}, {s['metrics']}, {Path(s['out']) / SUMMARY_NAME}",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(argv)
    try:
        train(config)
    except (ConfigError, ManifestError, ShardFormatError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
