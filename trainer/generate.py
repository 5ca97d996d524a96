"""Sample text from a trained model: temperature, top-k, nucleus (top-p), seeded, for a quick
look at what a model learned."""

from __future__ import annotations

import torch

from corpus.errors import InputError
from trainer.model import GPT


@torch.no_grad()
def sample(
    model: GPT,
    prompt: list[int],
    max_tokens: int,
    temperature: float = 0.8,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
    vocab: int | None = None,
    stop: int | None = None,
) -> list[int]:
    """The ids after ``prompt``; ``vocab`` limits choices to the tokenizer's ids (the model's
    rows may be padded); ``stop`` ends at that id (not included). temperature 0: greedy."""
    if not prompt:
        raise InputError("the prompt has no tokens")
    if temperature < 0 or not 0 < top_p <= 1 or top_k < 0:
        raise InputError("temperature >= 0, 0 < top_p <= 1 and top_k >= 0 are needed")
    generator = torch.Generator().manual_seed(seed)
    ids = torch.tensor([prompt], dtype=torch.long)
    out: list[int] = []
    for _ in range(max_tokens):
        logits = model(ids[:, -model.config.seq_len :])[0][0, -1].float()  # (V,)
        if vocab is not None:
            logits = logits[:vocab]
        if temperature == 0:
            token = int(logits.argmax())
        else:
            logits = logits / temperature
            if top_k:
                kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = torch.softmax(logits, dim=-1)
            if top_p < 1:
                sorted_p, order = probs.sort(descending=True)
                # Keep the smallest set whose mass reaches top_p (the first token always).
                drop = sorted_p.cumsum(0) - sorted_p >= top_p
                probs = probs.scatter(0, order, sorted_p.masked_fill(drop, 0.0))
                probs = probs / probs.sum()
            token = int(torch.multinomial(probs, 1, generator=generator))
        if token == stop:
            break
        out.append(token)
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return out
