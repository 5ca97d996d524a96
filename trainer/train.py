"""Training: ``train`` (a run, as configured) and its command line.

    python -m trainer.train --data out/sample --out runs/sample --max-steps 300
    torchrun --nproc_per_node 2 -m trainer.train --data out/sample --out runs/sample

Before step 0 the run directory is verified (manifest, sha256 of every shard, tokenizer); a
mismatch stops the run with an error naming the file. Outputs in ``--out``: checkpoint.pt,
metrics.jsonl, train_summary.json. Rerunning the same command resumes from the checkpoint.

The parts, in the order a run uses them: ``prepare`` (data, model, ranks), ``resume`` (where the
run starts), ``loop`` (the steps, checkpoints), ``evaluation`` and ``summary``.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from corpus.errors import error_line, shown_as_line
from trainer.checkpoint import checkpoint_path, load_checkpoint
from trainer.config import TrainConfig, parse_config
from trainer.distributed import close_world
from trainer.loop import TrainingError, run_loop
from trainer.prepare import prepare


def train(config: TrainConfig, stream: TextIO | None = None) -> dict[str, Any]:
    """Run (or resume) training as configured; return the summary also written to disk."""
    t_start = time.perf_counter()
    stream = stream if stream is not None else sys.stdout

    main_rank = int(os.environ.get("RANK", "0")) == 0

    def say(text: str) -> None:
        if main_rank:
            print(text, file=stream, flush=True)

    ckpt = checkpoint_path(config.out)
    state = load_checkpoint(ckpt) if config.resume == "auto" and ckpt.exists() else None
    s = prepare(config, say, state["config"] if state else None)
    try:
        return run_loop(s, ckpt, state, say, stream, t_start, config.max_steps)
    finally:
        world = s.world
        # DDP's reducer holds the process group: freed after destroy_process_group, gloo's
        # destructor joins a worker thread that waits for the GIL its caller holds (a deadlock
        # seen in tests). So the wrappers go first, then the group.
        s.runner = s.eval_runner = s.model = None  # type: ignore[assignment]
        del s
        gc.collect()
        close_world(world)


def main(argv: Sequence[str] | None = None, prog: str = "python -m trainer.train") -> int:
    config = parse_config(argv, prog)
    try:
        train(config)
    except TrainingError as e:  # the run went wrong (the loss diverged), not its input
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        # Bad input (corpus/errors.py) is one line and exit 2, as for every command; a bug raises.
        if not shown_as_line(e):
            raise
        print(error_line(e), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
