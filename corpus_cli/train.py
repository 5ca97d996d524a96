"""``corpus train``: pretrain a GPT on a run's shards (trainer/train.py; torchrun for more ranks)."""

from __future__ import annotations

from collections.abc import Sequence

HELP = "train a GPT on a corpus run's shards (checkpoints, resume, DDP/FSDP via torchrun)"


def main(argv: Sequence[str]) -> int:
    from trainer.train import main as train_main

    return train_main(argv, prog="corpus train")
