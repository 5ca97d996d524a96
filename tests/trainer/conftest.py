"""The trainer tests' fixtures: a small pipeline run directory built from real text
(trainer_helpers.py), a copy of it per test, and a tiny training config."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from trainer_helpers import build_run

from trainer.config import TrainConfig


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session; tests that change files use ``run_copy``."""
    return build_run(tmp_path_factory.mktemp("pipeline") / "run")


@pytest.fixture
def run_copy(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


@pytest.fixture
def tiny_config(run_dir: Path, tmp_path: Path) -> Callable[..., TrainConfig]:
    """A model small enough for a few CPU steps in well under a second each."""

    def make(**overrides: Any) -> TrainConfig:
        values: dict[str, Any] = {
            "data": str(run_dir),
            "out": str(tmp_path / "out"),
            "n_layer": 2,
            "n_head": 2,
            "n_embd": 32,
            "seq_len": 32,
            "batch_size": 4,
            "lr": 3e-3,
            "min_lr": 3e-4,
            "warmup_steps": 2,
            "max_steps": 6,
            "eval_interval": 3,
            "eval_batches": 2,
            "log_interval": 1,
            "checkpoint_interval": 3,
            "dtype": "fp32",
            "device": "cpu",
        }
        values.update(overrides)
        return TrainConfig(**values)

    return make
