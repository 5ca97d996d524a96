"""Bits per byte from the tokenizer's own byte table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from trainer.bpb import bits_per_byte, token_bytes
from trainer.data import open_split
from trainer.train import train
from trainer.verify import verify_run


def test_token_bytes_add_up_to_the_decoded_text(run_dir: Path) -> None:
    run = verify_run(run_dir)
    table = token_bytes(run.tokenizer_path)
    assert table is not None and table[run.bos_id] == 0
    tokens = np.asarray(open_split(run, "val")[0].tokens, dtype=np.int64)
    tokenizer = Tokenizer.from_file(str(run.tokenizer_path))
    starts = [*np.flatnonzero(tokens == run.bos_id).tolist(), len(tokens)]
    pairs = zip(starts[:-1], starts[1:], strict=True)
    text_bytes = sum(len(tokenizer.decode(tokens[a + 1 : b].tolist()).encode("utf-8")) for a, b in pairs)
    assert int(table[tokens].sum()) == text_bytes  # the real Python docstrings of the val split


def test_summary_and_metrics_report_bits_per_byte(tiny_config) -> None:
    summary = train(tiny_config())
    bpb = summary["final_val_bits_per_byte"]
    assert 0 < bpb < summary["final_val_loss"] / math.log(2)  # more than one byte per token
    assert summary["final_val_perplexity"] == math.exp(summary["final_val_loss"])
    assert bits_per_byte(2.0, 10, 0) != bits_per_byte(2.0, 10, 0)  # no bytes: NaN
