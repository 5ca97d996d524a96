"""Hugging Face transformers' GPT2LMHeadModel, the trainer bench's peer (runs in .venv-bench).

    .venv-bench/bin/python bench/peer_hf.py LAYERS HEADS WIDTH SEQ VOCAB BATCHES.npy STEPS COMPILE

Builds GPT-2 of the given shape (SDPA attention, dropout 0), then for each line on stdin ("go")
runs STEPS optimizer steps (forward, backward, AdamW) on the batches in BATCHES.npy, cycling,
and answers the seconds taken: the bench alternates it with ours, step for step the same work.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from transformers import GPT2Config, GPT2LMHeadModel


def main() -> int:
    layers, heads, width, seq, vocab = (int(a) for a in sys.argv[1:6])
    batches = torch.from_numpy(np.load(sys.argv[6]).astype(np.int64))
    steps, compiled = int(sys.argv[7]), sys.argv[8] == "1"
    torch.manual_seed(0)
    torch.set_num_threads(int(sys.argv[9]) if len(sys.argv) > 9 else torch.get_num_threads())
    config = GPT2Config(n_layer=layers, n_head=heads, n_embd=width, n_positions=seq, vocab_size=vocab,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        attn_implementation="sdpa")  # fmt: skip
    model = GPT2LMHeadModel(config)
    model.train()
    runner = torch.compile(model) if compiled else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)

    def step(i: int) -> None:
        rows = batches[i % len(batches)]
        out = runner(input_ids=rows[:, :-1], labels=rows[:, :-1])
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step(0)  # warm-up (and compilation)
    print(sum(p.numel() for p in model.parameters()), flush=True)
    for _ in sys.stdin:
        started = time.perf_counter()
        for i in range(steps):
            step(i)
        print(time.perf_counter() - started, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
