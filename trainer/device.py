"""Where a run computes: the device named by ``--device`` (``auto``: CUDA when there is one),
whether it runs bf16 natively, and the autocast contexts the loop and the evaluations enter."""

from __future__ import annotations

import contextlib

import torch

from trainer.config import ConfigError
from trainer.setup import Autocast


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {name!r}: MPS is not available on this machine")
    return device


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 runs natively; emulated bf16 on an older CPU is slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # Private probes, looked up defensively: they are the only way torch exposes the CPU's
        # bf16 instructions (AVX512-BF16, AMX).
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return False


def make_autocast(device: torch.device, bf16: bool) -> Autocast:
    """A factory of fresh contexts: one autocast object is not meant to be entered twice."""
    if not bf16:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
