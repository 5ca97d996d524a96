"""Data parallelism for real: ``torchrun`` with two CPU processes on the gloo backend.

Two ranks with one micro-step must train like one rank with two micro-steps (the same global
batches, gradients averaged over the same tokens), and a checkpoint written by one number of
ranks must resume on another with the very same sequence of global batches.

Tolerance: fp32 on the CPU. Gradients summed by gloo over two ranks could differ from one
rank's accumulation by rounding; measured here over 6 steps of this model they are bit-identical
(losses and parameters, difference 0.0). The asserts allow 1e-5 (relative for losses, absolute
for parameters) for other reduction orders (more ranks, other backends); a real error (a rank
training on the wrong rows, a loss not averaged) moves them by 1e-3 or more. No
dropout: each rank draws its own masks, which one rank with micro-steps cannot reproduce.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainer.checkpoint import load_checkpoint
from trainer.config import ConfigError, TrainConfig
from trainer.distributed import World
from trainer.metrics import read_metrics
from trainer.prepare import split_global_batch

pytestmark = pytest.mark.slow  # torchrun with two ranks

TOL = 1e-5
TINY = ["--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--seq-len", "32", "--lr", "3e-3",
        "--min-lr", "3e-4", "--warmup-steps", "2", "--max-steps", "6", "--eval-interval", "0",
        "--eval-batches", "2", "--log-interval", "1", "--checkpoint-interval", "0", "--dtype", "fp32",
        "--device", "cpu", "--log-batches"]  # fmt: skip


def train(run_dir: Path, out: Path, ranks: int, *flags: str) -> None:
    args = ["-m", "trainer.train", "--data", str(run_dir), "--out", str(out), *TINY, *flags]
    if ranks > 1:
        args = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def losses(out: Path) -> list[float]:
    return [r["loss"] for r in read_metrics(out) if "loss" in r]


def digests(out: Path) -> list[tuple[int, str]]:
    lines = (out / "batches.jsonl").read_text("utf-8").splitlines()
    return [(r["step"], r["batch"]) for r in map(json.loads, lines)]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_checkpoint(a / "checkpoint.pt")["model"], load_checkpoint(b / "checkpoint.pt")["model"]
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], atol=TOL, rtol=0, msg=name)


def test_two_ranks_train_like_one_rank_with_two_micro_steps(run_dir: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    train(run_dir, one, 1, "--batch-size", "4", "--grad-accum", "2")
    train(run_dir, two, 2, "--batch-size", "4")
    assert digests(one) == digests(two) and len(digests(one)) == 6
    assert losses(one) == pytest.approx(losses(two), rel=TOL) and len(losses(one)) == 6
    assert losses(one)[-1] < losses(one)[0]
    assert_same_weights(one, two)
    summary = json.loads((two / "train_summary.json").read_text("utf-8"))
    assert summary["ranks"] == 2 and summary["tokens_seen"] == 6 * 8 * 32


def test_a_checkpoint_resumes_on_another_number_of_ranks(run_dir: Path, tmp_path: Path) -> None:
    straight, shrink, grow = tmp_path / "straight", tmp_path / "shrink", tmp_path / "grow"
    train(run_dir, straight, 1, "--batch-size", "4", "--grad-accum", "2")
    train(run_dir, shrink, 2, "--batch-size", "4", "--stop-at", "3")  # 2 ranks, then 1
    assert load_checkpoint(shrink / "checkpoint.pt")["step"] == 3
    train(run_dir, shrink, 1, "--batch-size", "4")
    train(run_dir, grow, 1, "--batch-size", "2", "--grad-accum", "4", "--stop-at", "3")  # 1, then 2
    train(run_dir, grow, 2, "--batch-size", "4")
    expected = digests(straight)
    assert digests(shrink) == expected and digests(grow) == expected  # hashes of every global batch
    for out in (shrink, grow):
        assert losses(out) == pytest.approx(losses(straight), rel=TOL)
        assert_same_weights(straight, out)


def test_a_global_batch_the_ranks_cannot_divide_is_refused(tiny_config) -> None:
    config = tiny_config(batch_size=4, grad_accum=1)
    assert split_global_batch(config, World(0, 2), {"global_batch": 16}).grad_accum == 2
    with pytest.raises(ConfigError, match="global_batch: 12 sequences per step cannot be split"):
        split_global_batch(config, World(0, 2), {"global_batch": 12})
    assert (
        split_global_batch(
            TrainConfig(**{**config.to_dict(), "global_batch": 0}), World(0, 3), None
        ).global_batch
        == 12
    )


def test_fsdp_trains_like_one_rank_and_its_checkpoints_move_between_layouts(
    run_dir: Path, tmp_path: Path
) -> None:
    """FSDP2 (parameters, gradients and optimizer state sharded over 2 ranks) trains like one
    rank with two micro-steps; its checkpoint (gathered whole) resumes on one plain rank, and a
    plain rank's checkpoint resumes under FSDP."""
    straight, shrink, grow = tmp_path / "straight", tmp_path / "fsdp-to-1", tmp_path / "1-to-fsdp"
    train(run_dir, straight, 1, "--batch-size", "4", "--grad-accum", "2")
    train(run_dir, shrink, 2, "--batch-size", "4", "--fsdp", "--stop-at", "3")
    train(run_dir, shrink, 1, "--batch-size", "4")
    train(run_dir, grow, 1, "--batch-size", "4", "--grad-accum", "2", "--stop-at", "3")
    train(run_dir, grow, 2, "--batch-size", "4", "--fsdp")
    for out in (shrink, grow):
        assert digests(out) == digests(straight)
        assert losses(out) == pytest.approx(losses(straight), rel=TOL)
        assert_same_weights(straight, out)


def test_a_damaged_shard_stops_every_rank_with_the_main_ranks_error(run_copy: Path, tmp_path: Path) -> None:
    # Only rank 0 reads the checksums; the others must learn its verdict and stop too, not wait
    # at a barrier it never reaches until the collective's 30-minute timeout.
    shard = run_copy / "val_000000.bin"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 1
    shard.write_bytes(bytes(data))
    args = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "trainer.train",
            "--data", str(run_copy), "--out", str(tmp_path / "out"), *TINY]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0
    assert done.stderr.count("val_000000.bin: sha256") >= 2, done.stderr[-3000:]  # rank 0's and rank 1's line
