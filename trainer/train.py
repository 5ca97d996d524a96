"""The training loop and its command line.

    python -m trainer.train --data out/sample --out runs/sample --max-steps 300
    torchrun --nproc_per_node 2 -m trainer.train --data out/sample --out runs/sample

Before step 0 the run directory is verified (manifest, sha256 of every shard, tokenizer); a
mismatch stops the run with an error naming the file. Outputs in ``--out``: checkpoint.pt,
metrics.jsonl, train_summary.json. Rerunning the same command resumes from the checkpoint.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import nn

from corpus.errors import InputError, error_line, shown_as_line
from corpus.manifest import MANIFEST_NAME, ManifestError, sha256_file, write_json_atomic
from corpus.progress import Progress
from trainer import budget
from trainer.bpb import token_bytes
from trainer.checkpoint import (
    CheckpointError,
    check_compatible,
    checkpoint_file,
    checkpoint_path,
    data_order,
    data_order_changes,
    full_state,
    keep_history,
    load_checkpoint,
    load_weights,
    refuse_data_order_change,
    restore,
    save_checkpoint,
    set_aside,
)
from trainer.config import ConfigError, TrainConfig, parse_config
from trainer.data import (
    ENTROPY_SAMPLE_TOKENS,
    IGNORE,
    Shard,
    TrainBatches,
    eval_batches,
    open_split,
    too_short,
    unigram_entropy,
)
from trainer.distributed import World, barrier, close_world, from_main, init_world, mean
from trainer.flops import flops_per_token, peak_tflops
from trainer.host import keep_freed_blocks
from trainer.metrics import METRICS_NAME, MetricsLogger, perplexity, tensorboard_missing
from trainer.mixture import MixtureBatches, Source, parse_data
from trainer.model import GPT
from trainer.schedule import lr_at
from trainer.setup import Autocast, Setup
from trainer.validation import Result, Sample, evaluate
from trainer.verify import RunData, model_vocab_size, verify_once, verify_run

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


def make_autocast(device: torch.device, bf16: bool) -> Autocast:
    """A factory of fresh contexts: one autocast object is not meant to be entered twice."""
    if not bf16:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


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
    if config.tensorboard and (missing := tensorboard_missing()):
        raise ConfigError(f"tensorboard: {missing}")  # before any data is read
    sources = parse_data(config.data)
    device = resolve_device(config.device)
    if config.doc_masking and config.attention == "flex" and device.type != "cuda":
        raise ConfigError(
            f"attention = flex trains on CUDA only (FlexAttention has no backward on {device.type}); "
            "use attention = auto or sdpa"
        )
    if device.type == "cpu":
        keep_freed_blocks()
    world = init_world(device.type)
    if device.type == "cuda" and world.active:
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    runs = _verified_runs(sources, config.out, world, say)
    run = runs[0]
    for other in runs[1:]:
        if other.manifest["tokenizer"]["sha256"] != run.manifest["tokenizer"]["sha256"]:
            raise ConfigError(
                f"data: {other.directory} was tokenized with another tokenizer than {run.directory} "
                "(tokenizer.json sha256 differs); the runs of a mixture must share one"
            )
    # Record the resolved embedding size, so the checkpoint holds the real shape.
    config = replace(config, vocab_size=model_vocab_size(config.vocab_size, run.vocab_size))
    config = split_global_batch(config, world, saved)
    train_by_source = [open_split(r, "train") for r in runs]
    val_by_source = [open_split(r, "val") for r in runs]
    for r, shards in zip(runs, train_by_source, strict=True):
        if not shards:
            raise ManifestError(f"{r.directory / MANIFEST_NAME}: no shard of split 'train'")
    train_shards = [shard for shards in train_by_source for shard in shards]
    val_shards = [shard for shards in val_by_source for shard in shards]
    if len({r.doc_at_end for r in runs}) > 1:
        raise ConfigError(
            "data: the runs of a mixture put the document token at different ends (shard.document_token)"
        )
    per_source = [
        TrainBatches(
            shards,
            config.batch_size,
            config.seq_len,
            config.seed,
            config.global_batch,
            world.rank,
            config.grad_accum,
            run.bos_id if config.bos_aligned else None,
            run.doc_at_end,
        )  # fmt: skip
        for shards in train_by_source
    ]
    batches: TrainBatches | MixtureBatches = per_source[0]
    if len(sources) > 1:
        batches = MixtureBatches(
            per_source, [src.weight for src in sources], config.batch_size, config.seed, config.global_batch,
            world.rank, config.grad_accum,
        )  # fmt: skip
        say("mixture: " + ", ".join(f"{src.name} {src.weight:.3f}" for src in sources))
    for split, shards in (("train", train_shards), ("val", val_shards)):
        if short := unused(shards, config.seq_len):
            names = ", ".join(short["shards"][:5]) + (", ..." if len(short["shards"]) > 5 else "")
            say(
                f"note: {len(short['shards'])} {split} shard(s) of at most seq_len {config.seq_len} "
                f"tokens, {short['tokens']:,} tokens never {'trained on' if split == 'train' else 'scored'} "
                f"({names})"
            )
    # A bounded pass over the memmaps (all of a small split); it also checks that the token ids
    # it reads fit the vocabulary.
    entropy = unigram_entropy(train_shards, run.vocab_size)
    train_tokens = sum(len(s.tokens) for s in train_shards)
    sampled = " (of a sample)" if train_tokens > ENTROPY_SAMPLE_TOKENS else ""
    say(
        f"train: {len(train_shards)} shards, {train_tokens:,} "
        f"tokens, unigram entropy{sampled} {entropy:.4f} nats/token | val: {len(val_shards)} shards, "
        f"{sum(len(s.tokens) for s in val_shards):,} tokens"
    )
    bf16 = config.dtype == "bf16" or (config.dtype == "auto" and bf16_supported(device))
    torch.manual_seed(config.seed)
    model = GPT(config.model_config(config.vocab_size)).to(device)
    model.checkpoint_blocks = config.activation_checkpointing
    model.doc_bos = run.bos_id if config.doc_masking else None
    model.attention = config.attention
    model.doc_at_end = run.doc_at_end
    _seed_dropout(config.seed, world, 0)
    if config.lora_rank:
        from trainer.lora import add_lora

        load_base(model, Path(config.init_from), config, run, say)
        trainable = add_lora(model, config.lora_rank, config.lora_alpha, config.lora_targets.split(","),
                             config.lora_dropout)  # fmt: skip
        say(
            f"LoRA: rank {config.lora_rank}, alpha {config.lora_alpha:g} on {config.lora_targets}: "
            f"{trainable:,} trainable parameters; the base weights are frozen"
        )
    sharded = world.active and config.fsdp
    if sharded:
        from torch.distributed.fsdp import fully_shard

        for block in model.blocks:
            fully_shard(block)
        fully_shard(model)
    optimizer = model.configure_optimizer(
        config.lr, config.weight_decay, config.betas, device_type=device.type
    )
    say(
        f"model: {model.num_params():,} parameters ({config.n_layer} layers, {config.n_head} "
        f"heads, {config.n_embd} wide, {config.position} positions, vocab {config.vocab_size}) "
        f"on {device} in {'bf16 autocast' if bf16 else 'fp32'}"
    )
    say(
        f"batch: {config.global_batch} sequences of {config.seq_len} per step = {world.size} "
        f"rank{'s' * (world.size > 1)} x {config.grad_accum} micro-step{'s' * (config.grad_accum > 1)} "
        f"x {config.batch_size}; {batches.windows:,} windows per epoch"
    )
    trained: nn.Module = model
    if world.active and not sharded:
        from torch.nn.parallel import DistributedDataParallel

        trained = DistributedDataParallel(model, broadcast_buffers=False)
    return Setup(
        config=config,
        run=run,
        train_shards=train_shards,
        val_shards=val_shards,
        batches=batches,
        entropy=entropy,
        device=device,
        bf16=bf16,
        autocast=make_autocast(device, bf16),
        model=model,
        runner=torch.compile(trained) if config.compile else trained,
        eval_runner=model if world.active or not config.compile else torch.compile(model),
        optimizer=optimizer,
        world=world,
        sources=sources,
        val_by_source=val_by_source,
        train_by_source=train_by_source,
    )


def unused(shards: list[Shard], seq_len: int) -> dict[str, Any] | None:
    """The shards too short for one window (``data.too_short``) and their tokens, which training
    never uses: counted in the summary, not silently left out; None when there are none."""
    short = too_short(shards, seq_len)
    return {"shards": [x.name for x in short], "tokens": sum(len(x.tokens) for x in short)} if short else None


def _verified_runs(
    sources: list[Source], out: str, world: World, say: Callable[[str], None]
) -> list[RunData]:
    """Every source's run verified: its shard checksums read once per manifest (by the main rank,
    the others wait and check headers and sizes only), remembered in ``out``."""
    runs, failed = [], None
    if world.main:
        try:
            for source in sources:
                run, read = verify_once(source.path, out)
                what = (
                    "shard checksums"
                    if read
                    else "checksums verified earlier, shard sizes and times unchanged"
                )
                say(f"data: {run.directory} verified (manifest, {what}, {run.tokenizer_path.name})")
                runs.append(run)
        except InputError as e:
            failed = e
    # The other ranks learn the main rank's verdict instead of waiting at a barrier it never
    # reaches (a collective's timeout is 30 minutes).
    message = from_main(None if failed is None else str(failed), world)
    if failed is not None:
        raise failed
    if message is not None:
        raise ManifestError(message)
    return runs if world.main else [verify_run(source.path, checksums=False) for source in sources]


def _seed_dropout(seed: int, world: World, step: int) -> None:
    """Every rank initialises the same weights (seeded alike), but draws its own dropout masks.
    Rank 0's random state is the one checkpointed; the other ranks reseed from (seed, rank,
    step) when a run resumes, so with dropout a resumed multi-rank run draws other masks than
    an uninterrupted one (without dropout it is exact)."""
    if world.rank:
        torch.manual_seed(hash((seed, world.rank, step)) & 0x7FFF_FFFF)


def resume(
    s: Setup, ckpt: Path, say: Callable[[str], None], state: dict[str, Any] | None
) -> tuple[int, dict[str, Any], list[tuple[str, Any, Any]]] | None:
    """Load the checkpoint ``state`` (read by ``train``) into the model; (step, extra, the data
    order changes accepted by --reset-data-order) or None for a new run, which owns the folder:
    an earlier run's checkpoints, history and metrics are moved aside first."""
    if not ckpt.exists() or s.config.resume == "never":
        # Moved now, not at the first save: a crash before then must not leave an old
        # checkpoint beside the new run's metrics for the next `--resume auto` to pick up.
        barrier(s.world)  # every rank has seen the folder before it changes
        moved = (
            set_aside(s.config.out)
            if s.world.main and (ckpt.exists() or (ckpt.parent / "checkpoints").exists())
            else None
        )
        barrier(s.world)
        if moved:
            say(f"a new run in {s.config.out}: the earlier run's files moved to {moved}; starting at step 0")
        return None
    assert state is not None
    check_compatible(ckpt, state["config"], s.config)
    extra = dict(state["extra"])
    changes = _data_order_changes(s, state["config"], extra)
    if changes and not s.config.reset_data_order:
        refuse_data_order_change(ckpt, changes)
    step = restore(state, s.model, s.optimizer)
    _seed_dropout(s.config.seed, s.world, step)
    if step > s.config.max_steps:
        raise CheckpointError(
            f"{ckpt}: at step {step}, past max_steps {s.config.max_steps}; "
            "raise --max-steps or use --resume never"
        )
    say(f"resuming from {ckpt} at step {step}")
    return step, extra, changes


def _data_order(s: Setup) -> dict[str, Any]:
    shas = [sha256_file(Path(x.path) / MANIFEST_NAME) for x in s.sources]
    return data_order(s.config, [(x.name, x.weight, sha) for x, sha in zip(s.sources, shas, strict=True)])


def _data_order_changes(
    s: Setup, saved_config: dict[str, Any], extra: dict[str, Any]
) -> list[tuple[str, Any, Any]]:
    now = _data_order(s)
    saved = extra.get("data_order")
    if saved is None:  # a checkpoint from before the order was saved: its config and manifests
        legacy = TrainConfig.from_dict({**saved_config, "data": saved_config.get("data") or s.config.data})
        if not legacy.global_batch:  # older still: batch_size x grad_accum, as split_global_batch reads it
            legacy = replace(legacy, global_batch=legacy.batch_size * legacy.grad_accum)
        saved = data_order(legacy, [(x.name, x.weight, None) for x in parse_data(legacy.data)])
    changes = data_order_changes(saved, now)
    if "data_order" not in extra and extra.get("manifest_sha256") not in (
        None,
        _manifest_sha(*(x.path for x in s.sources)),
    ):
        changes.append(("data manifests", "the manifests it trained on", "other manifests"))
    return changes


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss stays non-finite); the message says why."""


def train_step(s: Setup, step: int) -> tuple[torch.Tensor, torch.Tensor, float, bool]:
    """One optimizer update: (mean loss, gradient norm) on the device, the learning rate used,
    and whether the update was made: a non-finite loss or gradient norm on any rank skips it
    on every rank (the one host sync per step)."""
    c = s.config
    lr = lr_at(step, c.lr, c.min_lr, c.warmup_steps, c.max_steps)
    for group in s.optimizer.param_groups:
        group["lr"] = lr
    loss_sum = torch.zeros((), device=s.device)
    batches = [s.batches.batch(step, micro) for micro in range(c.grad_accum)]
    if s.batches.masked:
        # The loss is the mean over the counted targets (response tokens) of the whole global
        # batch: each micro-batch weighs by its share of them, whatever the prompts' lengths.
        counts = [int((y != IGNORE).sum()) for _, y in batches]
        total = float(mean(torch.tensor(float(sum(counts)), device=s.device), s.world)) * s.world.size
    for micro, (x, y) in enumerate(batches):
        if s.batches.masked:
            weight = counts[micro] / total * s.world.size if total else 0.0
            if not counts[micro]:  # a loss over no target is NaN: count one, weigh it 0
                y = y.clone()
                y[0, 0] = x[0, 0]
        x, y = x.to(s.device, non_blocking=True), y.to(s.device, non_blocking=True)
        # DDP and FSDP average gradients over the ranks at the last micro-step only.
        sync = not s.world.active or micro == c.grad_accum - 1
        if s.world.active and c.fsdp:
            s.model.set_requires_gradient_sync(sync)  # type: ignore[operator]
        plain = sync or c.fsdp
        with contextlib.nullcontext() if plain else s.runner.no_sync():  # type: ignore[operator]
            with s.autocast():
                _, loss = s.runner(x, y)
            # Every micro-batch holds batch_size x seq_len targets: dividing by grad_accum (and
            # DDP's mean over ranks) makes the gradient the mean over the global batch's tokens.
            if s.batches.masked:
                (loss * weight).backward()
            else:
                (loss / c.grad_accum).backward()
        loss_sum += loss.detach() * weight if s.batches.masked else loss.detach()
    # max_norm=inf still returns the norm, worth logging even without clipping.
    grad_norm = nn.utils.clip_grad_norm_(s.model.parameters(), c.grad_clip if c.grad_clip > 0 else math.inf)
    if hasattr(grad_norm, "full_tensor"):  # FSDP: a DTensor
        grad_norm = grad_norm.full_tensor()
    finite = torch.isfinite(grad_norm) & torch.isfinite(loss_sum)
    ok = bool(mean(finite.float(), s.world).item() == 1.0)
    if ok:
        s.optimizer.step()
    s.optimizer.zero_grad(set_to_none=True)
    return (loss_sum if s.batches.masked else loss_sum / c.grad_accum), grad_norm, lr, ok


def train(config: TrainConfig, stream: TextIO | None = None) -> dict[str, Any]:
    """Run (or resume) training as configured; return the summary also written to disk."""
    t_start = time.perf_counter()
    stream = stream if stream is not None else sys.stdout

    main_rank = int(os.environ.get("RANK", "0")) == 0

    def say(text: str) -> None:
        if main_rank:
            print(text, file=stream, flush=True)

    ckpt = checkpoint_path(config.out)
    state = load_checkpoint(ckpt) if config.resume == "auto" and ckpt.exists() else None
    s = prepare(config, say, state["config"] if state else None)
    try:
        return _train(s, ckpt, state, say, stream, t_start, config.max_steps)
    finally:
        world = s.world
        # DDP's reducer holds the process group: freed after destroy_process_group, gloo's
        # destructor joins a worker thread that waits for the GIL its caller holds (a deadlock
        # seen in tests). So the wrappers go first, then the group.
        s.runner = s.eval_runner = s.model = None  # type: ignore[assignment]
        del s
        gc.collect()
        close_world(world)


class _Silent:
    """The metrics logger of a rank other than the main one."""

    def log(self, *_a: Any, **_k: Any) -> None:
        pass

    log_train = log_eval = log

    def close(self) -> None:
        pass


def _train(
    s: Setup, ckpt: Path, state: dict[str, Any] | None, say: Callable[[str], None], stream: TextIO,
    t_start: float, asked_steps: int,
) -> dict[str, Any]:  # fmt: skip
    c = s.config
    out = Path(c.out)
    out.mkdir(parents=True, exist_ok=True)
    resumed = resume(s, ckpt, say, state)
    if not resumed and c.init_from and not c.lora_rank:  # LoRA: loaded before the adapters
        init_from(s, Path(c.init_from), say)
    start_step, extra, order_changes = resumed if resumed else (0, {}, [])
    if resumed and c.time_budget and extra.get("time_budget"):
        # The schedule was fitted when the run started; a resumed run finishes that one.
        s = budget.apply(s, budget.Plan(**extra["time_budget"]))
        c = s.config
    elif c.time_budget:
        # Each rank timed its own steps; all follow the main rank's plan.
        plan = from_main(budget.fit(s, t_start + c.time_budget), s.world)
        s = budget.apply(s, plan)
        c = s.config
        extra["time_budget"] = plan.to_dict()
        say(
            f"time budget {c.time_budget:g} s: {plan.step_seconds:.3f} s per step measured here, "
            f"so {c.max_steps} steps (warmup {c.warmup_steps}) instead of {asked_steps}"
        )
    extra["manifest_sha256"] = _manifest_sha(*(x.path for x in s.sources))
    extra["data_order"] = _data_order(s)
    extra["tokenizer_sha256"] = s.run.manifest["tokenizer"]["sha256"]
    flops_token = flops_per_token(s.model.num_params(exclude_embeddings=True), c.n_layer, c.n_embd, c.seq_len)
    peak = peak_tflops(s.device, c.peak_tflops)
    skipped, bad_in_row, logged_mean, logged = int(extra.get("skipped_steps", 0)), 0, 0.0, 0
    tflops: float | None = None
    main = s.world.main
    metrics: Any = (
        MetricsLogger(out, start_step if resumed else None, stream, c.tensorboard) if main else _Silent()
    )
    if order_changes:
        reset = {
            "step": start_step,
            "changes": [{"field": f, "saved": a, "now": b} for f, a, b in order_changes],
        }
        extra["data_order_resets"] = [*extra.get("data_order_resets", []), reset]
        metrics.log({"step": start_step, "data_order_reset": reset["changes"]},
                    f"step {start_step:>6}/{c.max_steps} | --reset-data-order: the data order changes here ("
                    + ", ".join(f"{f}: {a!r} -> {b!r}" for f, a, b in order_changes) + ")")  # fmt: skip
    digests = (out / "batches.jsonl").open("a", encoding="utf-8") if c.log_batches and main else None
    val_missing_said = False
    table = token_bytes(s.run.tokenizer_path)
    windows = c.batch_size * c.eval_batches
    val_sample = Sample([(x.name, v) for x, v in zip(s.sources, s.val_by_source, strict=True)],
                        c.batch_size, c.seq_len, windows, table)  # fmt: skip
    last_val: Result | None = None

    def run_eval(step: int) -> float | None:
        nonlocal val_missing_said, last_val
        result = val_sample.score(s.eval_runner, s.device, s.autocast)
        if result.overall.tokens == 0:
            if not val_missing_said:
                say(f"note: the val split has no window of {c.seq_len + 1} tokens; no val loss")
                val_missing_said = True
            return None
        last_val = result
        overall = result.overall.record()
        metrics.log_eval(
            step, c.max_steps, result.overall.loss, result.overall.tokens, overall["bits_per_byte"]
        )
        parts = result.records()
        if parts:
            line = " | ".join(
                f"val loss by {kind.split('_')[1]}: "
                + ", ".join(f"{k} {v['loss']:.4f}" for k, v in part.items())
                for kind, part in parts.items()
            )
            metrics.log({"step": step, **{f"val_{kind}": part for kind, part in parts.items()}},
                        f"step {step:>6}/{c.max_steps} | {line}")  # fmt: skip
        return result.overall.loss

    compare_shards: list[Shard] = []
    if c.compare_val:
        other = verify_run(c.compare_val, checksums=False)
        if other.manifest["tokenizer"]["sha256"] != s.run.manifest["tokenizer"]["sha256"]:
            raise ConfigError(f"compare_val: {c.compare_val} has another tokenizer than this run's data")
        compare_shards = open_split(other, "val")

    def compare_eval(step: int, when: str) -> float | None:
        """The val loss of compare_val's run (e.g. the pretraining data): forgetting, made visible."""
        windows = eval_batches(compare_shards, c.batch_size, c.seq_len, c.eval_batches)
        loss, tokens = evaluate(s.eval_runner, windows, s.device, s.autocast)
        if not tokens:
            return None
        line = f"step {step:>6}/{c.max_steps} | {c.compare_val} val loss {when}: {loss:.4f}"
        metrics.log({"step": step, "compare_val_loss": loss, "when": when}, line)
        return loss

    if compare_shards and "compare_val_before" not in extra:
        extra["compare_val_before"] = compare_eval(start_step, "before")
    train_time, time_since_log, tokens_since_log = 0.0, 0.0, 0
    last_loss: float | None = extra.get("last_loss")
    s.model.train()
    end = min(c.stop_at, c.max_steps) if c.stop_at else c.max_steps
    # A redrawn line on a terminal (stderr) and heartbeat.json for `corpus status`, main rank only.
    progress = Progress(f"train {out}", out if main else None, draw=None if main else False)
    progress.stage("training", c.max_steps, "steps")
    progress.update(start_step)
    for step in range(start_step, end):
        progress.clear()  # log lines print below it; it is drawn again after the step
        if c.eval_interval and step % c.eval_interval == 0:
            run_eval(step)
        t0 = time.perf_counter()
        loss, grad_norm, lr, ok = train_step(s, step)
        if not ok:
            skipped, bad_in_row = skipped + 1, bad_in_row + 1
            why = "non-finite loss or gradient norm"
            metrics.log({"step": step, "skipped": why}, f"step {step:>6}/{c.max_steps} | skipped: {why}")
            if bad_in_row >= c.max_bad_steps:
                raise TrainingError(
                    f"{bad_in_row} steps in a row with a non-finite loss or gradient norm (step "
                    f"{step}); lower lr, check the data, or raise max_bad_steps"
                )
        else:
            bad_in_row = 0
        if digests is not None:
            digests.write(json.dumps({"step": step, "batch": s.batches.global_digest(step)}) + "\n")
        log_now = step % c.log_interval == 0 or step == c.max_steps - 1
        if log_now:
            # .item() waits for the device: only log steps pay for it, and the time taken just
            # below then includes the work queued since the last log. The loss is the mean over
            # the ranks (every rank takes part: log steps are the same on all).
            last_loss = mean(loss, s.world).item()
        elapsed = time.perf_counter() - t0
        train_time += elapsed
        time_since_log += elapsed
        tokens_since_log += c.tokens_per_step
        if log_now:
            if step == 0:
                extra["loss_step0"] = last_loss
            speed = tokens_since_log / time_since_log
            tflops = speed / s.world.size * flops_token / 1e12
            mfu = tflops / peak if peak else None
            metrics.log_train(step, c.max_steps, last_loss, lr, speed, float(grad_norm), tflops, mfu)
            if isinstance(s.batches, MixtureBatches):
                shares = s.batches.shares(step + 1)
                metrics.log(
                    {
                        "step": step,
                        "mix_share": dict(zip([x.name for x in s.sources], shares.tolist(), strict=True)),
                    }
                )
            if c.spike_ratio and logged >= 5 and last_loss > c.spike_ratio * logged_mean:
                spike = f"loss spike: {last_loss:.4f}, running mean {logged_mean:.4f}"
                metrics.log({"step": step, "loss_spike": last_loss, "running_mean": logged_mean},
                            f"step {step:>6}/{c.max_steps} | {spike}")  # fmt: skip
            if math.isfinite(last_loss):
                logged_mean = last_loss if not logged else 0.9 * logged_mean + 0.1 * last_loss
                logged += 1
            time_since_log, tokens_since_log = 0.0, 0
        done = step + 1
        progress.update(
            done,
            loss="—" if last_loss is None else f"{last_loss:.3f}",
            **{"tokens/s": f"{(done - start_step) * c.tokens_per_step / train_time:,.0f}"},
        )
        # The last checkpoint is written after the loop, also when no step ran.
        if c.checkpoint_interval and done % c.checkpoint_interval == 0 and done < end:
            extra["last_loss"], extra["skipped_steps"] = last_loss, skipped
            write_checkpoint(s, ckpt, done, extra)

    progress.clear()
    if digests is not None:
        digests.close()
    steps_run = max(0, end - start_step)
    if steps_run:  # a finished run resumed again has nothing new to save
        extra["last_loss"], extra["skipped_steps"] = last_loss, skipped
        write_checkpoint(s, ckpt, end, extra)
    if end < c.max_steps:
        metrics.close()
        progress.finish("stopped", checkpoint=str(ckpt))
        say(f"stopped after step {end} of {c.max_steps} (stop_at): {ckpt}; run again to continue")
        return {"stopped_at": end, "steps_this_run": steps_run, "checkpoint": str(ckpt)}
    val_loss = run_eval(c.max_steps)
    compare_after = compare_eval(c.max_steps, "after") if compare_shards else None
    # Measured like the val loss (fixed windows), so the two compare; the last step's loss is
    # one noisy batch.
    train_sample = Sample([(x.name, t) for x, t in zip(s.sources, s.train_by_source, strict=True)],
                          c.batch_size, c.seq_len, windows, None)  # fmt: skip
    train_result = train_sample.score(s.eval_runner, s.device, s.autocast)
    train_loss = train_result.overall.loss
    train_loss_parts = {
        kind: {k: v["loss"] for k, v in part.items()} for kind, part in train_result.records().items()
    }
    metrics.log({"step": c.max_steps, "train_eval_loss": train_loss,
                 **{f"train_eval_loss_{kind}": part for kind, part in train_loss_parts.items()}})  # fmt: skip
    metrics.close()

    summary = {
        "steps": c.max_steps,
        "steps_this_run": steps_run,
        "resumed_from_step": start_step if resumed else None,
        "tokens_per_step": c.tokens_per_step,
        "time_budget": extra.get("time_budget"),
        "tokens_seen": c.max_steps * c.tokens_per_step,
        "loss_step0": extra.get("loss_step0"),
        "last_step_loss": last_loss,
        "final_train_loss": train_loss,
        "final_val_loss": val_loss,
        **({f"final_val_{kind}": part for kind, part in last_val.records().items()} if last_val else {}),
        **{f"final_train_loss_{kind}": part for kind, part in train_loss_parts.items()},
        "train_unigram_entropy": s.entropy,
        "ln_vocab_size": math.log(s.run.vocab_size),
        "train_tokens_per_s": steps_run * c.tokens_per_step / train_time if train_time else None,
        "wall_seconds": time.perf_counter() - t_start,
        "parameters": s.model.num_params(),
        "device": str(s.device),
        "precision": "bf16" if s.bf16 else "fp32",
        "data": c.data,
        "out": str(out),
        "checkpoint": str(ckpt),
        "metrics": str(out / METRICS_NAME),
        "config": c.to_dict(),
    }
    summary["ranks"] = s.world.size
    if isinstance(s.batches, MixtureBatches):
        shares = s.batches.shares(c.max_steps).tolist()
        summary["sources"] = [
            {
                "name": x.name,
                "path": x.path,
                "weight": x.weight,
                "share": share,
                "val_loss": last_val.by_source[x.name].loss
                if last_val and x.name in last_val.by_source
                else None,
            }
            for x, share in zip(s.sources, shares, strict=True)
        ]
    if compare_shards:
        summary["compare_val"] = {"run": c.compare_val, "before": extra.get("compare_val_before"),
                                  "after": compare_after}  # fmt: skip
    if c.lora_rank and main:
        from trainer.lora import save_adapters

        adapters = save_adapters(s.model.state_dict(), out, {
            "base": c.init_from, "lora_rank": c.lora_rank, "lora_alpha": c.lora_alpha,
            "lora_targets": c.lora_targets, "lora_dropout": c.lora_dropout,
        })  # fmt: skip
        summary["adapters"] = str(adapters)
    summary["final_val_perplexity"] = perplexity(val_loss) if val_loss is not None else None
    summary["final_val_bits_per_byte"] = last_val.overall.record()["bits_per_byte"] if last_val else None
    summary["skipped_steps"] = skipped
    summary["unused_tokens"] = {
        split: unused(shards, c.seq_len) or {"shards": [], "tokens": 0}
        for split, shards in (("train", s.train_shards), ("val", s.val_shards))
    }
    summary["data_order_resets"] = extra.get("data_order_resets", [])
    summary["tflops_per_device"] = tflops
    summary["mfu"] = tflops / peak if tflops is not None and peak else None
    if main:
        write_json_atomic(out / SUMMARY_NAME, summary)
    progress.finish(final_val_loss=None if val_loss is None else round(val_loss, 4))
    say(summary_text(summary))
    return summary


def write_checkpoint(s: Setup, ckpt: Path, step: int, extra: dict[str, Any]) -> None:
    """Under FSDP every rank gathers its shards into the whole state; the main rank writes it."""
    sharded = s.world.active and s.config.fsdp
    state = full_state(s.model, s.optimizer) if sharded or s.world.main else None
    if s.world.main:
        save_checkpoint(ckpt, s.model, s.optimizer, step, s.config, extra, state)
        keep_history(ckpt, step, s.config.keep_checkpoints)


def init_from(s: Setup, path: Path, say: Callable[[str], None]) -> None:
    """Continued pretraining: the weights of another run's checkpoint, nothing else of it."""
    load_base(s.model, path, s.config, s.run, say)


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


def _manifest_sha(*directories: str | Path) -> str:
    """The manifest's sha256 (one run), or a sha256 of the runs' manifest hashes (a mixture)."""
    digests = [sha256_file(Path(d) / MANIFEST_NAME) for d in directories]
    return digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"


def summary_text(s: dict[str, Any]) -> str:
    speed = s["train_tokens_per_s"]
    return "\n".join(
        [
            f"done: {s['steps']} steps ({s['steps_this_run']} in this run), "
            f"{s['tokens_seen']:,} tokens seen" + (f", {speed:,.0f} tokens/s training" if speed else ""),
            f"  loss at step 0        {_fmt(s['loss_step0'])}   (ln vocab {s['ln_vocab_size']:.4f})",
            f"  final train loss      {_fmt(s['final_train_loss'])}   "
            f"(last step {_fmt(s['last_step_loss'])})",
            f"  final val loss        {_fmt(s['final_val_loss'])}"
            + (
                f"   ({s['final_val_bits_per_byte']:.4f} bits/byte)"
                if s.get("final_val_bits_per_byte")
                else ""
            ),
            f"  train unigram entropy {_fmt(s['train_unigram_entropy'])} nats/token",
            f"  outputs: {s['checkpoint']}, {s['metrics']}, {Path(s['out']) / SUMMARY_NAME}",
        ]
    )


def main(argv: Sequence[str] | None = None, prog: str = "python -m trainer.train") -> int:
    config = parse_config(argv, prog)
    try:
        train(config)
    except TrainingError as e:  # the run went wrong (the loss diverged), not its input
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        # Bad input (corpus/errors.py) is one line and exit 2, as for every command; a bug raises.
        if not shown_as_line(e):
            raise
        print(error_line(e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
