"""Learning rate: linear warmup, then cosine decay to min_lr at max_steps."""

from __future__ import annotations

import math


def lr_at(step: int, lr: float, min_lr: float, warmup_steps: int, max_steps: int) -> float:
    """Learning rate of the update made at ``step`` (0-based).

    Warmup starts at lr / warmup_steps rather than 0, so step 0 is not a wasted update, and
    reaches lr at step warmup_steps - 1. The cosine then falls from lr at step warmup_steps to
    min_lr at step max_steps (which is never trained: the last update gets a little more).
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, max_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)
