"""A trained model back from its checkpoint, with the tokenizer of the data it was trained on:
what export, generation and fine-tuning start from."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.errors import InputError
from trainer.checkpoint import CheckpointError, checkpoint_file, load_checkpoint
from trainer.lora import is_lora_state, merge
from trainer.mixture import parse_data
from trainer.model import GPT, GPTConfig
from trainer.verify import verify_run


@dataclass
class Trained:
    model: GPT
    config: dict[str, Any]
    """The training run's TrainConfig fields as saved."""
    step: int
    tokenizer_path: Path
    tokenizer_vocab: int
    """Tokens the tokenizer has; the model's vocabulary may be padded beyond it."""
    bos_id: int
    doc_at_end: bool
    manifest: dict[str, Any]


def load_trained(checkpoint: str | os.PathLike, data: str | None = None) -> Trained:
    """The model of ``checkpoint`` (a checkpoint file or a training run's folder) in eval mode on
    the CPU, in fp32; ``data``: the pipeline run whose tokenizer it used (default: the first one
    it was trained on, as saved)."""
    path = checkpoint_file(checkpoint)
    state = load_checkpoint(path)
    cfg = state["config"]
    weights = {k.removeprefix("_orig_mod."): v for k, v in state["model"].items()}
    if is_lora_state(weights):  # a LoRA run's checkpoint: its adapters merged into the base
        weights = merge(weights, cfg["lora_rank"], cfg["lora_alpha"])
    if "lm_head.weight" not in weights:
        raise CheckpointError(f"{path}: no lm_head.weight among the model weights")
    vocab = weights["lm_head.weight"].shape[0]
    model = GPT(
        GPTConfig(
            vocab_size=vocab, seq_len=cfg["seq_len"], n_layer=cfg["n_layer"], n_head=cfg["n_head"],
            n_embd=cfg["n_embd"], position=cfg.get("position", "learned"),
        )
    )  # fmt: skip
    weights.setdefault("tok_emb.weight", weights["lm_head.weight"])  # tied: saved once or twice
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit the model (missing {missing}, unexpected {unexpected})"
        )
    model.float().eval()
    source = data or parse_data(cfg["data"])[0].path
    try:
        run = verify_run(source, checksums=False)
    except (InputError, OSError) as e:  # another ValueError is a bug, not a missing run
        raise CheckpointError(
            f"{path}: the tokenizer of its data is needed: {e} (give the run with --data)"
        ) from e
    if run.manifest["tokenizer"]["sha256"] != state["extra"].get(
        "tokenizer_sha256", run.manifest["tokenizer"]["sha256"]
    ):
        raise CheckpointError(f"{path}: trained with another tokenizer than {run.tokenizer_path}")
    if run.vocab_size > vocab:
        raise CheckpointError(
            f"{path}: the model has {vocab} token rows, the tokenizer {run.vocab_size} tokens"
        )
    return Trained(model, cfg, int(state["step"]), run.tokenizer_path, run.vocab_size, run.bos_id,
                   run.doc_at_end, run.manifest)  # fmt: skip
