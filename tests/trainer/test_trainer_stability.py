"""Non-finite steps skipped, MFU, activation checkpointing and continued pretraining."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from trainer.checkpoint import CheckpointError, load_checkpoint
from trainer.flops import flops_per_token, peak_tflops
from trainer.loop import TrainingError, train_step
from trainer.metrics import read_metrics
from trainer.prepare import prepare
from trainer.train import train


def test_a_non_finite_step_is_skipped_and_the_weights_stay(tiny_config) -> None:
    s = prepare(tiny_config(), lambda _t: None)
    with torch.no_grad():
        s.model.ln_f.weight[0] = math.nan
    before = {k: v.clone() for k, v in s.model.state_dict().items()}
    loss, grad_norm, _, ok = train_step(s, 0)
    assert not ok and not math.isfinite(float(loss))
    for k, v in s.model.state_dict().items():
        assert torch.allclose(v, before[k], equal_nan=True), k
    assert not s.optimizer.state  # AdamW never stepped
    with torch.no_grad():
        s.model.ln_f.weight[0] = 1.0
    assert train_step(s, 1)[3]


def test_a_diverging_run_stops_with_a_clear_error(tiny_config) -> None:
    config = tiny_config(lr=1e4, min_lr=0.0, grad_clip=0.0, max_steps=40, max_bad_steps=3, warmup_steps=0)
    with pytest.raises(TrainingError, match="3 steps in a row with a non-finite loss"):
        train(config)
    skipped = [r for r in read_metrics(config.out) if "skipped" in r]
    assert len(skipped) == 3


def test_flops_and_mfu(tiny_config) -> None:
    assert flops_per_token(1000, 2, 32, 64) == 6 * 1000 + 12 * 2 * 32 * 64
    assert peak_tflops(torch.device("cpu")) is None and peak_tflops(torch.device("cpu"), 2.0) == 2.0
    config = tiny_config(peak_tflops=0.5)
    summary = train(config)
    logged = [r for r in read_metrics(config.out) if "loss" in r]
    assert all(r["tflops"] > 0 and r["mfu"] == pytest.approx(r["tflops"] / 0.5) for r in logged)
    assert summary["mfu"] == pytest.approx(summary["tflops_per_device"] / 0.5)


def test_activation_checkpointing_gives_the_same_gradients(tiny_config) -> None:
    grads = []
    for on in (False, True):
        s = prepare(tiny_config(activation_checkpointing=on, dropout=0.0), lambda _t: None)
        x, y = s.batches.batch(0)
        _, loss = s.model(x, y)
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in s.model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-6, rtol=1e-5, msg=name)


def test_continued_pretraining_starts_from_the_weights_only(tiny_config, tmp_path: Path) -> None:
    first = tiny_config(out=str(tmp_path / "first"), max_steps=20, eval_interval=0)
    done = train(first)
    source = Path(first.out) / "checkpoint.pt"
    second = train(tiny_config(out=str(tmp_path / "second"), init_from=str(source), max_steps=4))
    assert second["loss_step0"] < done["loss_step0"] - 0.5  # starts where the first run ended
    assert second["resumed_from_step"] is None and second["steps"] == 4  # its own schedule
    with pytest.raises(CheckpointError, match="n_embd=32"):
        train(tiny_config(out=str(tmp_path / "wide"), init_from=str(source), n_embd=64))
    state = load_checkpoint(source)
    state["extra"]["tokenizer_sha256"] = "0" * 64
    other = tmp_path / "other.pt"
    torch.save(state, other)
    with pytest.raises(CheckpointError, match="another tokenizer"):
        train(tiny_config(out=str(tmp_path / "third"), init_from=str(other)))
