"""LoRA (Hu et al. 2021) on our GPT through ``peft``: low-rank adapters on chosen Linear layers,
the base weights frozen; adapters saved alone, and merged into the base weights for export.

peft's ``inject_adapter_in_model`` wraps each targeted ``nn.Linear`` in place (the base layer
becomes ``<name>.base_layer``, the adapters ``<name>.lora_A.default`` and ``.lora_B.default``),
so our model keeps its own forward and training loop. An adapter adds (alpha / rank) * B A to
its layer's weight; B starts at zero, so training starts from the base model exactly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

ADAPTERS_NAME = "adapters.safetensors"
ADAPTER_CONFIG_NAME = "adapter_config.json"


def add_lora(model: nn.Module, rank: int, alpha: float, targets: list[str], dropout: float = 0.0) -> int:
    """Wrap the targeted layers, freeze everything else; return the trainable parameter count."""
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")
    inject_adapter_in_model(config, model)
    for name, p in model.named_parameters():
        p.requires_grad = "lora_" in name
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def is_lora_state(weights: dict[str, torch.Tensor]) -> bool:
    return any("lora_A" in k for k in weights)


def adapter_weights(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in weights.items() if "lora_" in k}


def save_adapters(weights: dict[str, torch.Tensor], folder: str | os.PathLike, config: dict) -> Path:
    """The adapters alone (safetensors) and their settings; a few MB where the model is GBs."""
    from safetensors.torch import save_file

    folder = Path(folder)
    path = folder / ADAPTERS_NAME
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in adapter_weights(weights).items()}, str(tmp))
    os.replace(tmp, path)
    (folder / ADAPTER_CONFIG_NAME).write_text(json.dumps(config, indent=1, sort_keys=True) + "\n", "utf-8")
    return path


def load_adapters(folder: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors.torch import load_file

    folder = Path(folder)
    config = json.loads((folder / ADAPTER_CONFIG_NAME).read_text("utf-8"))
    return load_file(str(folder / ADAPTERS_NAME)), config


def merge(weights: dict[str, torch.Tensor], rank: int, alpha: float) -> dict[str, torch.Tensor]:
    """Plain weights (our GPT's names) from a LoRA model's state or base weights plus adapters:
    W + (alpha / rank) * B A for every adapted layer."""
    scaling = alpha / rank
    out: dict[str, torch.Tensor] = {}
    for key, value in weights.items():
        if "lora_" in key:
            continue
        out[key.replace(".base_layer.", ".")] = value
    for key in weights:
        if ".lora_A." in key and key.endswith(".weight"):
            layer = key.split(".lora_A.")[0]
            a = weights[key].float()
            b = weights[key.replace(".lora_A.", ".lora_B.")].float()
            name = f"{layer}.weight"
            out[name] = (out[name].float() + scaling * (b @ a)).to(out[name].dtype)
    return out
