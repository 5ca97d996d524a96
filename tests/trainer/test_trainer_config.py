from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from trainer.config import ConfigError, TrainConfig, field_docs, parse_config


def test_defaults_are_valid_and_every_field_is_documented() -> None:
    config = TrainConfig()
    assert config.tokens_per_step == 16 * 256 * 1
    docs = field_docs(TrainConfig)
    assert sorted(docs) == sorted(f.name for f in dataclasses.fields(TrainConfig))
    assert docs["lr"] == "Peak learning rate, reached at the end of the warmup."


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("n_layer", {"n_layer": 0}),
        ("n_layer", {"n_layer": "4"}),
        ("n_head", {"n_head": 3}),
        ("n_head", {"position": "rope", "n_embd": 12, "n_head": 4}),
        ("seq_len", {"seq_len": -1}),
        ("batch_size", {"batch_size": 0}),
        ("grad_accum", {"grad_accum": 0}),
        ("lr", {"lr": 0.0}),
        ("min_lr", {"min_lr": 2e-3}),
        ("warmup_steps", {"warmup_steps": -1}),
        ("betas", {"betas": (0.9, 1.0)}),
        ("grad_clip", {"grad_clip": -1.0}),
        ("dropout", {"dropout": 1.0}),
        ("eval_interval", {"eval_interval": -5}),
        ("checkpoint_interval", {"checkpoint_interval": -1}),
        ("resume", {"resume": "always"}),
        ("position", {"position": "alibi"}),
        ("dtype", {"dtype": "fp16"}),
        ("device", {"device": "tpu"}),
        ("compile", {"compile": "yes"}),
        ("seed", {"seed": -1}),
    ],
)
def test_validation_names_the_field(field: str, overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        TrainConfig(**overrides)


def test_config_error_is_a_value_error_and_config_is_frozen() -> None:
    assert issubclass(ConfigError, ValueError)
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().lr = 1.0  # type: ignore[misc]


def test_flags_are_generated_from_the_fields() -> None:
    config = parse_config(["--max-steps", "5", "--betas", "0.8", "0.99", "--compile", "--dtype", "fp32"])
    assert (config.max_steps, config.betas, config.compile, config.dtype) == (
        5,
        (0.8, 0.99),
        True,
        "fp32",
    )
    assert parse_config(["--no-compile"]).compile is False
    assert parse_config([]) == TrainConfig()


def test_toml_file_then_flags(tmp_path: Path) -> None:
    toml = tmp_path / "small.toml"
    toml.write_text('n_layer = 2\nlr = 1\nbetas = [0.9, 0.98]\nout = "runs/x"\n', "utf-8")
    config = parse_config(["--config", str(toml), "--lr", "0.002"])
    assert config.n_layer == 2
    assert config.betas == (0.9, 0.98)
    assert config.out == "runs/x"
    assert config.lr == 0.002  # the flag wins over the file


def test_toml_unknown_key_and_bad_value_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text("n_layers = 2\n", "utf-8")
    with pytest.raises(SystemExit) as exit_info:
        parse_config(["--config", str(toml)])
    assert exit_info.value.code == 2
    assert "unknown field(s) n_layers" in capsys.readouterr().err

    with pytest.raises(SystemExit):
        parse_config(["--n-head", "5"])
    assert "n_head (5) must divide n_embd (256)" in capsys.readouterr().err


def test_from_dict_names_unknown_keys() -> None:
    with pytest.raises(ValueError, match="checkpoint: unknown field\\(s\\) warmup"):
        TrainConfig.from_dict({"warmup": 3}, source="checkpoint")
    assert TrainConfig.from_dict({"betas": [0.5, 0.6]}).betas == (0.5, 0.6)
