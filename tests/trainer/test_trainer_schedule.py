from __future__ import annotations

import math

import pytest

from trainer.schedule import lr_at

LR, MIN_LR, WARMUP, MAX = 1e-3, 1e-4, 10, 110


def lr(step: int) -> float:
    return lr_at(step, LR, MIN_LR, WARMUP, MAX)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (0, 1e-4),  # warmup starts at lr / warmup_steps, not 0
        (4, 5e-4),
        (9, 1e-3),  # warmup reaches the peak on its last step
        (10, 1e-3),  # cosine starts at the peak
        (35, MIN_LR + 0.5 * (1 + math.cos(math.pi / 4)) * (LR - MIN_LR)),
        (60, 5.5e-4),  # halfway through the decay: the mean of lr and min_lr
        (110, 1e-4),
        (500, 1e-4),
    ],
)
def test_warmup_then_cosine(step: int, expected: float) -> None:
    assert lr(step) == pytest.approx(expected, rel=1e-12)


def test_decay_is_monotone_and_stays_above_min_lr() -> None:
    values = [lr(s) for s in range(WARMUP, MAX)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert min(values) > MIN_LR


def test_no_warmup_starts_at_peak() -> None:
    assert lr_at(0, LR, MIN_LR, 0, MAX) == LR
    assert lr_at(3, LR, MIN_LR, 5, 3) == pytest.approx(4 * LR / 5)  # warmup longer than run
