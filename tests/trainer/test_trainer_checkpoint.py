from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from trainer.checkpoint import CheckpointError, load_checkpoint, restore, save_checkpoint
from trainer.config import TrainConfig
from trainer.model import GPT


def model_and_optimizer(config: TrainConfig) -> tuple[GPT, torch.optim.AdamW]:
    torch.manual_seed(config.seed)
    model = GPT(config.model_config(512))
    return model, model.configure_optimizer(config.lr, config.weight_decay, config.betas)


CONFIG = TrainConfig(n_layer=1, n_head=2, n_embd=16, seq_len=8, vocab_size=512, seed=3)


def test_round_trip(tmp_path: Path) -> None:
    model, optimizer = model_and_optimizer(CONFIG)
    model(torch.zeros(1, 8, dtype=torch.long), torch.ones(1, 8, dtype=torch.long))[1].backward()
    optimizer.step()
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, model, optimizer, 7, CONFIG, {"loss_step0": 6.2})
    expected_rng = torch.get_rng_state()
    torch.rand(3)  # move the RNG on; restore() must bring it back

    state = load_checkpoint(path)
    assert state["step"] == 7 and state["extra"] == {"loss_step0": 6.2}
    assert TrainConfig.from_dict(state["config"]) == CONFIG
    other, other_optimizer = model_and_optimizer(TrainConfig(**{**CONFIG.to_dict(), "seed": 4}))
    assert restore(state, other, other_optimizer) == 7
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert torch.equal(torch.get_rng_state(), expected_rng)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_failed_write_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, optimizer = model_and_optimizer(CONFIG)
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, model, optimizer, 1, CONFIG)
    before = path.read_bytes()

    def torch_save_dies(obj: Any, f: Any) -> None:
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torch_save_dies)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, optimizer, 2, CONFIG)
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no checkpoint.pt.tmp left


def test_unreadable_checkpoint_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt: cannot be read"):
        load_checkpoint(path)


def test_the_newest_checkpoints_are_kept(tiny_config) -> None:
    from trainer.train import train

    config = tiny_config(max_steps=6, checkpoint_interval=2, keep_checkpoints=3)
    train(config)
    kept = sorted((Path(config.out) / "checkpoints").glob("*.pt"))
    assert [p.name for p in kept] == ["step-00000004.pt", "step-00000006.pt"]
    assert [load_checkpoint(p)["step"] for p in kept] == [4, 6]
    assert load_checkpoint(Path(config.out) / "checkpoint.pt")["step"] == 6
