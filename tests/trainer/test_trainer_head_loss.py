"""The LM head and cross-entropy by row chunks (trainer/head_loss.py) against PyTorch's plain
path: the same loss and gradients, ignored targets included, and the model's training step
the same either way."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainer import head_loss
from trainer.head_loss import IGNORE_INDEX, linear_cross_entropy
from trainer.model import GPT, GPTConfig


def plain_and_chunked(x: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, scale: float = 1.0):
    out = []
    for loss_fn in (
        lambda a, w: F.cross_entropy(a @ w.t(), targets),
        lambda a, w: linear_cross_entropy(a, w, targets),
    ):
        a, w = x.clone().requires_grad_(), weight.clone().requires_grad_()
        loss = loss_fn(a, w)
        (loss * scale).backward()
        out.append((loss.detach(), a.grad, w.grad))
    return out


@pytest.mark.parametrize("rows", [1, 37, 1030])  # under one chunk, several with a short last one
def test_same_loss_and_gradients_as_the_plain_path(rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(head_loss, "CHUNK_ROWS", 256)
    g = torch.Generator().manual_seed(rows)
    x, weight = torch.randn(rows, 48, generator=g), torch.randn(300, 48, generator=g)  # logits ~ N(0, 48)
    targets = torch.randint(0, 300, (rows,), generator=g)
    (loss, gx, gw), (loss2, gx2, gw2) = plain_and_chunked(x, weight, targets, scale=3.0)
    assert loss.item() > 10  # large logits: the max subtraction matters
    torch.testing.assert_close(loss2, loss, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(gx2, gx, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gw2, gw, rtol=1e-5, atol=1e-6)


def test_ignored_targets_count_for_nothing() -> None:
    g = torch.Generator().manual_seed(0)
    x, weight = torch.randn(600, 16, generator=g), torch.randn(50, 16, generator=g)
    targets = torch.randint(0, 50, (600,), generator=g)
    targets[::3] = IGNORE_INDEX  # prompt tokens of fine-tuning data
    (loss, gx, gw), (loss2, gx2, gw2) = plain_and_chunked(x, weight, targets)
    torch.testing.assert_close(loss2, loss)
    torch.testing.assert_close(gx2, gx)
    torch.testing.assert_close(gw2, gw)
    assert torch.all(gx2[::3] == 0)
    # No target at all: NaN, as F.cross_entropy (the trainer weighs such a micro-batch 0).
    none = torch.full((4,), IGNORE_INDEX)
    assert math.isnan(linear_cross_entropy(x[:4], weight, none).item())


def test_a_training_step_of_the_model_is_the_same_either_way() -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=700, seq_len=32, n_layer=2, n_head=2, n_embd=32))
    rows = torch.randint(0, 700, (3, 33), generator=torch.Generator().manual_seed(1))
    grads = []
    for fused in (False, True):
        model.zero_grad(set_to_none=True)
        model.fused_head_loss = fused
        logits, loss = model(rows[:, :-1], rows[:, 1:])
        assert (logits is None) == fused  # the chunked path keeps no logits
        loss.backward()
        grads.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (plain, plain_grads), (fused, fused_grads) = grads
    torch.testing.assert_close(fused, plain)
    for name, grad in plain_grads.items():  # the tied embedding's gradient sums both uses
        torch.testing.assert_close(fused_grads[name], grad, rtol=1e-5, atol=1e-7, msg=name)
    with torch.no_grad():  # evaluation keeps the plain path (and its logits)
        assert model(rows[:, :-1], rows[:, 1:])[0] is not None
