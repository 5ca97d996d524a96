"""Model FLOPs utilisation: the compute a step needs over what the device could do.

FLOPs per token as PaLM (appendix B) and nanoGPT count them: 6N for the weights' matrix
multiplies forward and backward (N = parameters without the position table), plus 12 x layers
x width x seq_len for attention's QK^T and AV (not halved for the causal mask, as llm.c and
nanoGPT count it too, so figures compare). Peak: dense bf16 tensor-core TFLOP/s per device
from the vendors' data sheets; a device not in the table has no MFU unless ``peak_tflops`` is
given.
"""

from __future__ import annotations

import torch

PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 80GB HBM3": 989.0,  # the SXM part's CUDA name
    "H100 PCIe": 756.0,
    "H100": 756.0,  # another H100 name: the lower (PCIe) figure
    "A100": 312.0,
    "L4": 121.0,
}


def flops_per_token(params: int, n_layer: int, n_embd: int, seq_len: int) -> float:
    return 6.0 * params + 12.0 * n_layer * n_embd * seq_len


def peak_tflops(device: torch.device, override: float = 0.0) -> float | None:
    """The device's peak TFLOP/s: ``override`` when > 0, else the table entry whose name the
    CUDA device name contains (longest first), else None (CPUs, unknown GPUs)."""
    if override > 0:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key in sorted(PEAK_BF16_TFLOPS, key=len, reverse=True):
        if key in name:
            return PEAK_BF16_TFLOPS[key]
    return None
