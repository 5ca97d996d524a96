from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import trainer.loop as loop_module
from trainer.checkpoint import CheckpointError, load_checkpoint
from trainer.config import TrainConfig
from trainer.metrics import read_metrics
from trainer.train import main, train

MakeConfig = Callable[..., TrainConfig]


class Crash(Exception):
    """Stands in for a killed process right after a checkpoint reached the disk."""


def losses(out: str | Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_metrics(out) if "loss" in r]


def test_cli_trains_and_loss_decreases(
    tiny_config: MakeConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config()
    out = tmp_path / "cli"
    argv = ["--data", config.data, "--out", str(out), "--n-layer", "2", "--n-head", "2"]
    argv += ["--n-embd", "32", "--seq-len", "32", "--batch-size", "8", "--lr", "3e-3"]
    argv += ["--warmup-steps", "3", "--max-steps", "40", "--eval-interval", "20"]
    argv += ["--eval-batches", "4", "--log-interval", "10", "--device", "cpu", "--dtype", "fp32"]
    assert main(argv) == 0

    summary = json.loads((out / "train_summary.json").read_text("utf-8"))
    assert abs(summary["loss_step0"] - math.log(512)) < 0.1
    # 40 steps on ~35k tokens: well below the uniform loss, near the unigram entropy.
    assert summary["final_train_loss"] < summary["loss_step0"] - 0.6
    assert summary["final_val_loss"] < summary["loss_step0"] - 0.4
    assert 4.0 < summary["train_unigram_entropy"] < math.log(512)
    assert summary["steps"] == summary["steps_this_run"] == 40
    assert summary["tokens_seen"] == 40 * 8 * 32

    records = read_metrics(out)
    assert [s for s, _ in losses(out)] == [0, 10, 20, 30, 39]
    assert [r["step"] for r in records if "val_loss" in r] == [0, 20, 40]
    assert all(r["tokens_per_s"] > 0 and r["lr"] > 0 for r in records if "loss" in r)

    printed = capsys.readouterr().out
    assert "loss at step 0" in printed and "final val loss" in printed
    assert "train unigram entropy" in printed and str(out / "checkpoint.pt") in printed


def test_resume_matches_an_uninterrupted_run(
    tiny_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dropout makes the result depend on the restored RNG state too.
    straight = tiny_config(out=str(tmp_path / "straight"), dropout=0.1)
    interrupted = tiny_config(out=str(tmp_path / "interrupted"), dropout=0.1)
    train(straight)

    save = loop_module.save_checkpoint

    def save_then_crash(*args: Any, **kwargs: Any) -> None:
        save(*args, **kwargs)
        if args[3] == 3:
            raise Crash

    monkeypatch.setattr(loop_module, "save_checkpoint", save_then_crash)
    with pytest.raises(Crash):
        train(interrupted)
    monkeypatch.undo()
    assert load_checkpoint(Path(interrupted.out) / "checkpoint.pt")["step"] == 3

    summary = train(interrupted)
    assert summary["resumed_from_step"] == 3 and summary["steps_this_run"] == 3

    a = load_checkpoint(Path(straight.out) / "checkpoint.pt")
    b = load_checkpoint(Path(interrupted.out) / "checkpoint.pt")
    assert a["step"] == b["step"] == 6
    assert a["model"].keys() == b["model"].keys()
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    for key, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][key][name]), (key, name)
    # One record per step, as if never interrupted, with the same losses.
    assert losses(straight.out) == losses(interrupted.out)
    val = [(r["step"], r["val_loss"]) for r in read_metrics(straight.out) if "val_loss" in r]
    assert val == [(r["step"], r["val_loss"]) for r in read_metrics(interrupted.out) if "val_loss" in r]
    assert summary["loss_step0"] == losses(straight.out)[0][1]
    assert not list(Path(interrupted.out).glob("*.tmp"))


def test_finished_run_resumes_to_a_summary_and_never_restarts(tiny_config: MakeConfig) -> None:
    config = tiny_config(max_steps=3, eval_interval=0)
    first = train(config)
    again = train(config)
    assert again["steps_this_run"] == 0 and again["resumed_from_step"] == 3
    assert again["final_val_loss"] == first["final_val_loss"]
    assert again["loss_step0"] == first["loss_step0"]

    fresh = train(tiny_config(max_steps=3, eval_interval=0, resume="never"))
    assert fresh["steps_this_run"] == 3 and fresh["resumed_from_step"] is None
    assert [s for s, _ in losses(config.out)] == [0, 1, 2]


def test_resume_into_another_model_shape_is_refused(tiny_config: MakeConfig) -> None:
    train(tiny_config(max_steps=1))
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt: saved with n_embd=32, .* n_embd=64"):
        train(tiny_config(max_steps=2, n_embd=64))


def test_checkpoint_past_max_steps_is_refused(tiny_config: MakeConfig) -> None:
    train(tiny_config(max_steps=3, eval_interval=0))
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt: at step 3, past max_steps 2"):
        train(tiny_config(max_steps=2, eval_interval=0))


def test_grad_accum_and_rope_train(tiny_config: MakeConfig) -> None:
    summary = train(tiny_config(max_steps=2, grad_accum=2, position="rope", checkpoint_interval=0))
    assert summary["tokens_seen"] == 2 * 2 * 4 * 32
    assert math.isfinite(summary["final_val_loss"])
