"""A time budget sizes the schedule on this machine before the first update."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from trainer.budget import steps_within
from trainer.checkpoint import load_checkpoint
from trainer.config import ConfigError, TrainConfig
from trainer.train import train

MakeConfig = Callable[..., TrainConfig]


def test_steps_within_counts_evaluations() -> None:
    # 10 s at 1 s a step and no evaluation cost: 10 steps.
    assert steps_within(10.0, 1.0, 0.0, 0) == 10
    # Each evaluation costs 1 s: with one every 4 steps, n steps cost n + ceil(n / 4) + 2.
    n = steps_within(20.0, 1.0, 1.0, 4)
    assert n + -(-n // 4) + 2 <= 20 < (n + 1) + -(-(n + 1) // 4) + 2
    assert steps_within(0.5, 1.0, 0.0, 0) == 0


def test_budget_must_be_a_non_negative_number() -> None:
    with pytest.raises(ConfigError, match="time_budget"):
        TrainConfig(time_budget=-1.0)


def test_budget_lowers_max_steps_and_resume_keeps_the_plan(tiny_config: MakeConfig, tmp_path: Path) -> None:
    out = tmp_path / "budget"
    # A budget far below 100,000 steps of this model on any machine.
    config = tiny_config(out=str(out), max_steps=100_000, warmup_steps=10_000, time_budget=3.0)
    summary = train(config)
    plan = summary["time_budget"]
    assert 1 <= plan["max_steps"] < 100_000
    assert summary["steps"] == plan["max_steps"]
    # The warmup shrinks in proportion, so the cosine still has room to decay.
    assert plan["warmup_steps"] == max(1, round(10_000 * plan["max_steps"] / 100_000))
    saved = load_checkpoint(out / "checkpoint.pt", "cpu")
    assert saved["config"]["max_steps"] == plan["max_steps"]
    # Rerunning the same command resumes the fitted schedule: nothing left to train.
    again = train(config)
    assert again["steps"] == plan["max_steps"] and again["steps_this_run"] == 0
    assert json.loads((out / "train_summary.json").read_text("utf-8"))["time_budget"] == plan
