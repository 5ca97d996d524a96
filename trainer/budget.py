"""Fit a run to a time budget: time a few passes on this machine, then size the schedule.

Machines differ by 5x and more (bf16 instructions or not, core count, a GPU), so a demo or a
smoke run states how long it may take rather than how many steps, and the schedule (max_steps,
warmup_steps) is chosen before the first update so that the learning-rate curve is the one of a
run planned for that length.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from trainer.setup import Setup

MARGIN = 1.1
"""Optimizer step, gradient clipping and logging on top of the timed forward and backward."""


@dataclass(frozen=True)
class Plan:
    seconds: float
    """The budget."""
    step_seconds: float
    """Measured forward + backward of one optimizer step (all micro-batches), with MARGIN."""
    eval_seconds: float
    """Measured forward passes of one evaluation."""
    max_steps: int
    warmup_steps: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "step_seconds": round(self.step_seconds, 4),
            "eval_seconds": round(self.eval_seconds, 4),
            "max_steps": self.max_steps,
            "warmup_steps": self.warmup_steps,
        }


def _timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn`` after one untimed call (compilation, allocator warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def steps_within(seconds: float, step: float, per_eval: float, eval_interval: int) -> int:
    """The most steps n with n * step + evaluations <= seconds (an evaluation every
    ``eval_interval`` steps from step 0, one at the end, and the final train-loss pass)."""
    best = 0
    n = max(1, int(seconds / step))
    while n > 0:
        evals = (math.ceil(n / eval_interval) if eval_interval else 0) + 2
        if n * step + evals * per_eval <= seconds:
            best = n
            break
        n -= max(1, n // 50)
    return best


def fit(s: Setup, deadline: float) -> Plan:
    """Time forward + backward on the first training batch and forward on an evaluation batch,
    leaving weights, optimizer and random state as they were; plan max_steps to end by
    ``deadline`` (a ``time.perf_counter()`` value; never more than the configured max_steps,
    never fewer than 1)."""
    c = s.config
    x, y = s.batches.batch(0, 0)
    x, y = x.to(s.device), y.to(s.device)

    def forward_backward() -> None:
        with s.autocast():
            _, loss = s.runner(x, y)
        loss.backward()

    @torch.no_grad()
    def forward() -> None:
        with s.autocast():
            s.runner(x, y)

    rng = torch.get_rng_state()
    fb = _timed(forward_backward, s.device, repeats=2)
    s.optimizer.zero_grad(set_to_none=True)
    fwd = _timed(forward, s.device, repeats=2)
    torch.set_rng_state(rng)
    step = fb * c.grad_accum * MARGIN
    per_eval = fwd * c.eval_batches
    steps = steps_within(deadline - time.perf_counter(), step, per_eval, c.eval_interval)
    max_steps = max(1, min(c.max_steps, steps))
    scaled = round(c.warmup_steps * max_steps / c.max_steps)
    warmup = min(c.warmup_steps, max(1 if c.warmup_steps else 0, scaled))
    return Plan(c.time_budget, step, per_eval, max_steps, warmup)


def apply(s: Setup, plan: Plan) -> Setup:
    return replace(s, config=replace(s.config, max_steps=plan.max_steps, warmup_steps=plan.warmup_steps))
