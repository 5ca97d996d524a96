"""Document masking: a packed window scores each document exactly as if it ran alone."""

from __future__ import annotations

import pytest
import torch

from trainer.model import GPT, GPTConfig


@pytest.mark.parametrize("position", ["learned", "rope"])
def test_packed_and_masked_logits_equal_each_document_alone(position: str) -> None:
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(vocab_size=64, seq_len=32, n_layer=2, n_head=2, n_embd=32, position=position)
    ).eval()
    model.doc_bos = 0
    tail = torch.randint(1, 64, (5,))  # the end of a document that began before the window
    a = torch.cat([torch.tensor([0]), torch.randint(1, 64, (9,))])
    b = torch.cat([torch.tensor([0]), torch.randint(1, 64, (13,))])
    packed = torch.cat([tail, a, b]).unsqueeze(0)  # (1, 28)
    with torch.no_grad():
        logits, _ = model(packed)
        alone = [model(part.unsqueeze(0))[0] for part in (tail, a, b)]
    torch.testing.assert_close(logits, torch.cat(alone, dim=1), atol=1e-5, rtol=1e-5)
    model.doc_bos = None  # unmasked, b sees a: its logits change
    with torch.no_grad():
        plain, _ = model(packed)
    assert not torch.allclose(plain[:, -len(b) :], alone[2], atol=1e-3)


def test_masked_rows_batch_independently() -> None:
    torch.manual_seed(1)
    model = GPT(GPTConfig(vocab_size=64, seq_len=16, n_layer=1, n_head=2, n_embd=16, position="rope")).eval()
    model.doc_bos = 0
    rows = torch.randint(0, 64, (3, 16))
    with torch.no_grad():
        together, _ = model(rows)
        one_by_one = torch.cat([model(r.unsqueeze(0))[0] for r in rows])
    torch.testing.assert_close(together, one_by_one, atol=1e-5, rtol=1e-5)


def test_the_trainer_trains_with_document_masking(tiny_config) -> None:
    from trainer.train import train

    summary = train(tiny_config(doc_masking=True, position="rope", max_steps=24))
    assert summary["final_train_loss"] < summary["loss_step0"] - 0.25
    assert summary["config"]["doc_masking"] is True
