"""The step loop of a prepared run: one optimizer update per step (``train_step``), the metrics
of the logged steps, non-finite steps skipped (and a run of them stopped), the periodic
evaluations and checkpoints, and at the end the last checkpoint, the final evaluations and the
summary (``trainer.summary``)."""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import nn

from corpus.manifest import write_json_atomic
from corpus.progress import Progress
from trainer import summary as run_summary
from trainer.checkpoint import full_state, keep_history, save_checkpoint
from trainer.data import IGNORE
from trainer.distributed import mean
from trainer.evaluation import Evaluation
from trainer.flops import flops_per_token, peak_tflops
from trainer.metrics import Logger, MetricsLogger, SilentLogger
from trainer.mixture import MixtureBatches
from trainer.resume import Start, begin
from trainer.schedule import lr_at
from trainer.setup import Setup


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


def write_checkpoint(s: Setup, ckpt: Path, step: int, extra: dict[str, Any]) -> None:
    """Under FSDP every rank gathers its shards into the whole state; the main rank writes it."""
    sharded = s.world.active and s.config.fsdp
    state = full_state(s.model, s.optimizer) if sharded or s.world.main else None
    if s.world.main:
        save_checkpoint(ckpt, s.model, s.optimizer, step, s.config, extra, state)
        keep_history(ckpt, step, s.config.keep_checkpoints)


def run_loop(
    s: Setup, ckpt: Path, state: dict[str, Any] | None, say: Callable[[str], None], stream: TextIO,
    t_start: float, asked_steps: int,
) -> dict[str, Any]:  # fmt: skip
    """Resume or start (``trainer.resume``), train to ``stop_at`` or ``max_steps``; the summary,
    or where the run stopped."""
    s, start = begin(s, ckpt, state, say, t_start, asked_steps)
    loop = Loop(s, ckpt, start, say, stream)
    for step in range(start.step, loop.end):
        loop.step(step)
    return loop.finish(t_start)


@dataclass
class Counters:
    """What the loop carries from step to step (and into the summary)."""

    skipped: int
    """Non-finite steps, over the whole run (the checkpoint keeps the count)."""
    last_loss: float | None
    """The last logged step's loss, the mean over the ranks."""
    bad_in_row: int = 0
    logged_mean: float = 0.0
    """A running mean of the logged losses, which a loss spike is measured against."""
    logged: int = 0
    train_time: float = 0.0
    time_since_log: float = 0.0
    tokens_since_log: int = 0
    tflops: float | None = None
    """Per device, at the last logged step."""


class Loop:
    """One run's loop from ``start.step`` to ``end``: made before the first step (the metrics file,
    the evaluations' samples, compare_val's loss before training, the progress line), then
    ``step`` for each step and ``finish`` once."""

    def __init__(
        self, s: Setup, ckpt: Path, start: Start, say: Callable[[str], None], stream: TextIO
    ) -> None:
        c = s.config
        self.s, self.ckpt, self.start, self.say = s, ckpt, start, say
        self.extra = start.extra
        self.flops_token = flops_per_token(
            s.model.num_params(exclude_embeddings=True), c.n_layer, c.n_embd, c.seq_len
        )
        self.peak = peak_tflops(s.device, c.peak_tflops)
        self.counters = Counters(int(self.extra.get("skipped_steps", 0)), self.extra.get("last_loss"))
        out, main = Path(c.out), s.world.main
        self.metrics: Logger = (
            MetricsLogger(out, start.step if start.resumed else None, stream, c.tensorboard)
            if main
            else SilentLogger()
        )
        self._log_data_order_reset()
        self.digests = (out / "batches.jsonl").open("a", encoding="utf-8") if c.log_batches and main else None
        self.evaluation = Evaluation(s, self.metrics, say)
        if self.evaluation.compare_shards and "compare_val_before" not in self.extra:
            self.extra["compare_val_before"] = self.evaluation.compare(start.step, "before")
        s.model.train()
        self.end = min(c.stop_at, c.max_steps) if c.stop_at else c.max_steps
        # A redrawn line on a terminal (stderr) and heartbeat.json for `corpus status`, main rank only.
        self.progress = Progress(f"train {out}", out if main else None, draw=None if main else False)
        self.progress.stage("training", c.max_steps, "steps")
        self.progress.update(start.step)

    def _log_data_order_reset(self) -> None:
        changes, step, c = self.start.order_changes, self.start.step, self.s.config
        if not changes:
            return
        reset = {"step": step, "changes": [{"field": f, "saved": a, "now": b} for f, a, b in changes]}
        self.extra["data_order_resets"] = [*self.extra.get("data_order_resets", []), reset]
        self.metrics.log({"step": step, "data_order_reset": reset["changes"]},
                         f"step {step:>6}/{c.max_steps} | --reset-data-order: the data order changes here ("
                         + ", ".join(f"{f}: {a!r} -> {b!r}" for f, a, b in changes) + ")")  # fmt: skip

    def step(self, step: int) -> None:
        s, c, n = self.s, self.s.config, self.counters
        self.progress.clear()  # log lines print below it; it is drawn again after the step
        if c.eval_interval and step % c.eval_interval == 0:
            self.evaluation.val(step)
        t0 = time.perf_counter()
        loss, grad_norm, lr, ok = train_step(s, step)
        self._count_skipped(step, ok)
        if self.digests is not None:
            self.digests.write(json.dumps({"step": step, "batch": s.batches.global_digest(step)}) + "\n")
        log_now = step % c.log_interval == 0 or step == c.max_steps - 1
        if log_now:
            # .item() waits for the device: only log steps pay for it, and the time taken just
            # below then includes the work queued since the last log. The loss is the mean over
            # the ranks (every rank takes part: log steps are the same on all).
            n.last_loss = mean(loss, s.world).item()
        elapsed = time.perf_counter() - t0
        n.train_time += elapsed
        n.time_since_log += elapsed
        n.tokens_since_log += c.tokens_per_step
        if log_now:
            self._log(step, lr, float(grad_norm))
        done = step + 1
        self.progress.update(
            done,
            loss="—" if n.last_loss is None else f"{n.last_loss:.3f}",
            **{"tokens/s": f"{(done - self.start.step) * c.tokens_per_step / n.train_time:,.0f}"},
        )
        # The last checkpoint is written after the loop, also when no step ran.
        if c.checkpoint_interval and done % c.checkpoint_interval == 0 and done < self.end:
            self.extra["last_loss"], self.extra["skipped_steps"] = n.last_loss, n.skipped
            write_checkpoint(s, self.ckpt, done, self.extra)

    def _count_skipped(self, step: int, ok: bool) -> None:
        c, n = self.s.config, self.counters
        if ok:
            n.bad_in_row = 0
            return
        n.skipped, n.bad_in_row = n.skipped + 1, n.bad_in_row + 1
        why = "non-finite loss or gradient norm"
        self.metrics.log({"step": step, "skipped": why}, f"step {step:>6}/{c.max_steps} | skipped: {why}")
        if n.bad_in_row >= c.max_bad_steps:
            raise TrainingError(
                f"{n.bad_in_row} steps in a row with a non-finite loss or gradient norm (step "
                f"{step}); lower lr, check the data, or raise max_bad_steps"
            )

    def _log(self, step: int, lr: float, grad_norm: float) -> None:
        """A logged step's metrics: loss, speed, MFU, a mixture's shares, a loss spike."""
        s, c, n = self.s, self.s.config, self.counters
        last_loss = n.last_loss
        assert last_loss is not None
        if step == 0:
            self.extra["loss_step0"] = last_loss
        speed = n.tokens_since_log / n.time_since_log
        n.tflops = speed / s.world.size * self.flops_token / 1e12
        mfu = n.tflops / self.peak if self.peak else None
        self.metrics.log_train(step, c.max_steps, last_loss, lr, speed, grad_norm, n.tflops, mfu)
        if isinstance(s.batches, MixtureBatches):
            shares = s.batches.shares(step + 1)
            self.metrics.log(
                {
                    "step": step,
                    "mix_share": dict(zip([x.name for x in s.sources], shares.tolist(), strict=True)),
                }
            )
        if c.spike_ratio and n.logged >= 5 and last_loss > c.spike_ratio * n.logged_mean:
            spike = f"loss spike: {last_loss:.4f}, running mean {n.logged_mean:.4f}"
            self.metrics.log({"step": step, "loss_spike": last_loss, "running_mean": n.logged_mean},
                             f"step {step:>6}/{c.max_steps} | {spike}")  # fmt: skip
        if math.isfinite(last_loss):
            n.logged_mean = last_loss if not n.logged else 0.9 * n.logged_mean + 0.1 * last_loss
            n.logged += 1
        n.time_since_log, n.tokens_since_log = 0.0, 0

    def finish(self, t_start: float) -> dict[str, Any]:
        """The last checkpoint; at ``stop_at``, where the run stopped; else the final evaluations
        and the summary, written to train_summary.json."""
        s, c, n = self.s, self.s.config, self.counters
        self.progress.clear()
        if self.digests is not None:
            self.digests.close()
        steps_run = max(0, self.end - self.start.step)
        if steps_run:  # a finished run resumed again has nothing new to save
            self.extra["last_loss"], self.extra["skipped_steps"] = n.last_loss, n.skipped
            write_checkpoint(s, self.ckpt, self.end, self.extra)
        if self.end < c.max_steps:
            return self._stopped(steps_run)
        summary = self._summary(steps_run, t_start)
        if s.world.main:
            write_json_atomic(Path(c.out) / run_summary.SUMMARY_NAME, summary)
        val_loss = summary["final_val_loss"]
        self.progress.finish(final_val_loss=None if val_loss is None else round(val_loss, 4))
        self.say(run_summary.summary_text(summary))
        return summary

    def _stopped(self, steps_run: int) -> dict[str, Any]:
        """At ``stop_at``: no final evaluations, the checkpoint to continue from."""
        end, ckpt = self.end, self.ckpt
        self.metrics.close()
        self.progress.finish("stopped", checkpoint=str(ckpt))
        self.say(
            f"stopped after step {end} of {self.s.config.max_steps} (stop_at): {ckpt}; run again to continue"
        )
        return {"stopped_at": end, "steps_this_run": steps_run, "checkpoint": str(ckpt)}

    def _summary(self, steps_run: int, t_start: float) -> dict[str, Any]:
        """The final evaluations (val, compare_val after, train), then the summary's dict."""
        c, n, evaluation = self.s.config, self.counters, self.evaluation
        val_loss = evaluation.val(c.max_steps)
        compare_after = evaluation.compare(c.max_steps, "after") if evaluation.compare_shards else None
        train_loss, train_parts = evaluation.train_loss()
        self.metrics.close()
        wall_seconds = time.perf_counter() - t_start
        compare = None
        if evaluation.compare_shards:
            compare = {
                "run": c.compare_val,
                "before": self.extra.get("compare_val_before"),
                "after": compare_after,
            }
        outcome = run_summary.Outcome(
            resumed_from_step=self.start.step if self.start.resumed else None,
            steps_run=steps_run,
            last_loss=n.last_loss,
            train_loss=train_loss,
            train_parts=train_parts,
            val_loss=val_loss,
            last_val=evaluation.last_val,
            train_time=n.train_time,
            wall_seconds=wall_seconds,
            compare=compare,
            adapters=self._save_adapters(),
            skipped=n.skipped,
            tflops=n.tflops,
            mfu=n.tflops / self.peak if n.tflops is not None and self.peak else None,
        )
        return run_summary.build(self.s, self.ckpt, self.extra, outcome)

    def _save_adapters(self) -> str | None:
        """LoRA: the adapters alone, beside the checkpoint (main rank)."""
        c = self.s.config
        if not (c.lora_rank and self.s.world.main):
            return None
        from trainer.lora import save_adapters

        adapters = save_adapters(self.s.model.state_dict(), Path(c.out), {
            "base": c.init_from, "lora_rank": c.lora_rank, "lora_alpha": c.lora_alpha,
            "lora_targets": c.lora_targets, "lora_dropout": c.lora_dropout,
        })  # fmt: skip
        return str(adapters)
