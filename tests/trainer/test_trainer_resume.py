"""What a resume accepts and refuses: the data order is part of the run, a new run owns its
folder, and the shards are verified once per manifest, not at every start."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import corpus.manifest
from trainer.checkpoint import CheckpointError, load_checkpoint
from trainer.config import TrainConfig
from trainer.metrics import read_metrics
from trainer.train import train
from trainer.verify import VERIFIED_NAME

MakeConfig = Callable[..., TrainConfig]


def steps(out: str) -> list[int]:
    return [r["step"] for r in read_metrics(out) if "loss" in r]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"seed": 2}, "seed=1, .* seed=2"),
        ({"global_batch": 8}, "global_batch=4, .* global_batch=8"),
        ({"bos_aligned": True}, "bos_aligned=False, .* bos_aligned=True"),
        ({"doc_masking": True}, "doc_masking=False, .* doc_masking=True"),
    ],
)
def test_a_resume_that_would_change_the_data_order_is_refused(
    tiny_config: MakeConfig, change: dict, field: str
) -> None:
    train(tiny_config(seed=1, max_steps=6, stop_at=3))
    with pytest.raises(CheckpointError, match=rf"checkpoint\.pt: saved with {field}: resuming would change"):
        train(tiny_config(**{"seed": 1, "max_steps": 6, **change}))
    # Nothing was trained or logged by the refused run.
    assert load_checkpoint(Path(tiny_config().out) / "checkpoint.pt")["step"] == 3


def test_changed_data_and_weights_are_refused(tiny_config: MakeConfig, run_dir: Path, tmp_path: Path) -> None:
    second = Path(shutil.copytree(run_dir, tmp_path / "second"))
    train(tiny_config(data=f"{run_dir}=0.5,{second}=0.5", max_steps=6, stop_at=3))
    with pytest.raises(
        CheckpointError, match=r"data weight of run=0\.5, this run has data weight of run=0\.7"
    ):
        train(tiny_config(data=f"{run_dir}=0.7,{second}=0.3", max_steps=6))
    with pytest.raises(CheckpointError, match=r"data=\['run', 'second'\], this run has data=\['run'\]"):
        train(tiny_config(data=str(run_dir), max_steps=6))
    # Another manifest under the same name (the data was rebuilt): refused too.
    manifest = json.loads((second / "manifest.json").read_text("utf-8"))
    manifest["config"]["rebuilt"] = True
    corpus.manifest.write_json_atomic(second / "manifest.json", manifest)
    with pytest.raises(CheckpointError, match=r"saved with data manifest of second='sha256 "):
        train(tiny_config(data=f"{run_dir}=0.5,{second}=0.5", max_steps=6))


def test_reset_data_order_resumes_and_is_logged(tiny_config: MakeConfig) -> None:
    config = tiny_config(seed=1, max_steps=6, stop_at=3)
    train(config)
    summary = train(tiny_config(seed=2, max_steps=6, reset_data_order=True))
    assert summary["resumed_from_step"] == 3 and summary["steps"] == 6
    expected = [{"field": "seed", "saved": 1, "now": 2}]
    assert summary["data_order_resets"] == [{"step": 3, "changes": expected}]
    assert [r["data_order_reset"] for r in read_metrics(config.out) if "data_order_reset" in r] == [expected]
    # The next resume compares with the new order: seed 2 resumes without the flag.
    train(tiny_config(seed=2, max_steps=8))


def test_a_moved_data_folder_with_the_same_manifest_resumes(
    tiny_config: MakeConfig, run_dir: Path, tmp_path: Path
) -> None:
    moved = Path(shutil.copytree(run_dir, tmp_path / "elsewhere" / run_dir.name))
    train(tiny_config(max_steps=6, stop_at=3))
    assert train(tiny_config(data=str(moved), max_steps=6))["resumed_from_step"] == 3


def test_a_new_run_moves_the_old_runs_history_aside(
    tiny_config: MakeConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tiny_config(max_steps=10, checkpoint_interval=2, keep_checkpoints=3, eval_interval=0)
    train(old)
    out = Path(old.out)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000008.pt", "step-00000010.pt"]
    new = tiny_config(max_steps=6, checkpoint_interval=2, keep_checkpoints=3, eval_interval=0, resume="never")
    train(new)
    # The new run's own history, not pruned by the old run's later steps.
    kept = sorted((out / "checkpoints").iterdir())
    assert [p.name for p in kept] == ["step-00000004.pt", "step-00000006.pt"]
    assert [load_checkpoint(p)["step"] for p in kept] == [4, 6]
    assert steps(new.out) == list(range(6))
    # The old run is kept whole under previous/run-001, and the run said so.
    previous = out / "previous" / "run-001"
    assert sorted(p.name for p in (previous / "checkpoints").iterdir()) == [
        "step-00000008.pt",
        "step-00000010.pt",
    ]
    assert load_checkpoint(previous / "checkpoint.pt")["step"] == 10
    assert steps(str(previous)) == list(range(10))
    assert f"the earlier run's files moved to {previous}" in capsys.readouterr().out
    # A history without checkpoint.pt (deleted by hand) belongs to another run as well.
    (out / "checkpoint.pt").unlink()
    train(tiny_config(max_steps=2, eval_interval=0, keep_checkpoints=3))
    assert (out / "previous" / "run-002" / "checkpoints" / "step-00000006.pt").exists()


def test_shards_are_verified_once_per_manifest(
    tiny_config: MakeConfig, run_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []
    real = corpus.manifest.sha256_file

    def counting(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
        read.append(Path(path).name)
        return real(path, chunk)

    monkeypatch.setattr(corpus.manifest, "sha256_file", counting)
    config = tiny_config(data=str(run_copy), max_steps=4, stop_at=2, eval_interval=0)
    train(config)
    first = [name for name in read if name.endswith(".bin")]
    assert sorted(first) == ["train_000000.bin", "train_000001.bin", "val_000000.bin"]
    read.clear()
    train(tiny_config(data=str(run_copy), max_steps=4, eval_interval=0))  # the restart
    assert not [name for name in read if name.endswith((".bin", ".idx"))]
    record = json.loads((Path(config.out) / VERIFIED_NAME).read_text("utf-8"))
    assert len(record) == 1
    # A shard rewritten in place (same manifest, new mtime) is read again, and refused when damaged.
    shard = run_copy / "val_000000.bin"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 1
    shard.write_bytes(bytes(data))
    with pytest.raises(corpus.manifest.ManifestError, match=r"val_000000\.bin: sha256 .* does not match"):
        train(tiny_config(data=str(run_copy), max_steps=6, eval_interval=0))


def test_init_from_takes_a_run_folder(
    tiny_config: MakeConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tiny_config(out=str(tmp_path / "base"), max_steps=2, eval_interval=0)
    train(base)
    train(tiny_config(out=str(tmp_path / "continued"), max_steps=2, eval_interval=0, init_from=base.out))
    assert f"weights from {Path(base.out) / 'checkpoint.pt'} (step 2)" in capsys.readouterr().out


def test_init_from_its_own_folder_loads_before_the_old_run_moves_aside(
    tiny_config: MakeConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A new run (--resume never) in the folder of the run it continues: the weights are read
    # before that run's files go to previous/run-001, then the new run owns the folder.
    base = tiny_config(out=str(tmp_path / "run"), max_steps=2, eval_interval=0)
    train(base)
    old = torch.load(Path(base.out) / "checkpoint.pt", weights_only=False)["model"]
    tiny = {"lr": 1e-12, "min_lr": 1e-12}
    train(tiny_config(out=base.out, max_steps=2, eval_interval=0, init_from=base.out, resume="never", **tiny))
    out = capsys.readouterr().out
    assert f"weights from {Path(base.out) / 'checkpoint.pt'} (step 2)" in out
    assert (Path(base.out) / "previous" / "run-001" / "checkpoint.pt").exists()
    new = torch.load(Path(base.out) / "checkpoint.pt", weights_only=False)["model"]
    # At a learning rate of 1e-12 the continued run's weights are the base run's (a fresh
    # initialisation would be far from them).
    assert all(torch.allclose(old[k], new[k], atol=1e-9) for k in old)


def test_a_verified_record_that_is_not_an_object_is_verified_again(tiny_config: MakeConfig) -> None:
    config = tiny_config(max_steps=1, eval_interval=0)
    Path(config.out).mkdir(parents=True)
    (Path(config.out) / VERIFIED_NAME).write_text("[]", "utf-8")
    train(config)
    assert isinstance(json.loads((Path(config.out) / VERIFIED_NAME).read_text("utf-8")), dict)
