"""Bits per byte: the validation loss in a unit that does not depend on the tokenizer.

bpb = (sum of the loss over the targets, in nats) / ln 2 / (UTF-8 bytes those targets stand for).
With a byte-level BPE tokenizer (ours: corpus/tokenize.py) every character of a token's string
is one byte, so each id's byte count is exact; special tokens (BOS) stand for no bytes. Another
kind of tokenizer gets no bpb rather than an estimate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, decoders


def token_bytes(tokenizer_path: str | Path) -> np.ndarray | None:
    """Bytes each token id stands for, or None when the tokenizer is not byte-level."""
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    if not isinstance(tokenizer.decoder, decoders.ByteLevel):
        return None
    special = {t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special}
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    out = np.zeros(max(vocab.values()) + 1, dtype=np.int64)
    for token, i in vocab.items():
        out[i] = 0 if token in special else len(token)
    return out


def target_bytes(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], table: np.ndarray) -> int:
    """UTF-8 bytes of every target of the batches."""
    # Targets below 0 are ones the loss skips (prompt tokens of fine-tuning data).
    return int(sum(table[t[t >= 0]].sum() for t in (y.numpy() for _, y in batches)))


def bits_per_byte(mean_loss: float, tokens: int, nbytes: int) -> float:
    return mean_loss * tokens / math.log(2) / nbytes if nbytes else math.nan
