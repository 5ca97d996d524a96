"""Metrics: one JSON object per line in ``<out>/metrics.jsonl``, and a readable line on stdout."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import torch

from corpus.errors import InputError

METRICS_NAME = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def tensorboard_missing() -> str | None:
    """Why TensorBoard scalars cannot be written here, or None when they can."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401 - needs the tensorboard package
    except ImportError:
        return "the tensorboard package is not installed: pip install -e '.[tensorboard]'"
    return None


def scalars(record: dict[str, Any], prefix: str = "") -> list[tuple[str, float]]:
    """The numbers of a metrics record as (tag, value), nested dicts as tag/key; the step, text,
    flags and missing values are not scalars."""
    out: list[tuple[str, float]] = []
    for key, value in record.items():
        if key == "step" and not prefix:
            continue
        if isinstance(value, dict):
            out += scalars(value, f"{prefix}{key}/")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out.append((prefix + key, float(value)))
    return out


def perplexity(loss: float) -> float:
    """exp(loss), inf past what a float holds (a diverged run)."""
    return math.exp(loss) if loss < 700 else math.inf


class MetricsLogger:
    """Appends records to metrics.jsonl.

    ``resume_step``: a run resumed from a checkpoint at step s drops records with step >= s, which
    the interrupted run wrote after its checkpoint; the resumed run writes them again, so the file
    reads as one uninterrupted run. ``None`` starts a new file.

    ``tensorboard``: every record's numbers also go to <out>/tensorboard as scalars at its step,
    flushed per record as the JSON lines are. A resumed run purges the events from its step on
    and a new run all earlier ones (TensorBoard's purge_step: hidden, not deleted), so the board
    too reads as one run.
    """

    def __init__(
        self,
        out: str | os.PathLike,
        resume_step: int | None = None,
        stream: TextIO | None = None,
        tensorboard: bool = False,
    ) -> None:
        self.path = Path(out) / METRICS_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.stream = stream if stream is not None else sys.stdout
        kept = self._records_before(resume_step) if resume_step is not None else []
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), "utf-8")
        os.replace(tmp, self.path)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._board = None
        if tensorboard:
            missing = tensorboard_missing()
            if missing:
                raise InputError(f"tensorboard: {missing}")
            from torch.utils.tensorboard import SummaryWriter

            purge = resume_step if resume_step is not None else 0
            self._board = SummaryWriter(str(Path(out) / TENSORBOARD_DIR), purge_step=purge)

    def _records_before(self, step: int) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text("utf-8").splitlines():
            # A crash can cut the last line short; it is after the checkpoint anyway.
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("step", step) < step:
                records.append(record)
        return records

    def log(self, record: dict[str, Any], line: str | None = None) -> None:
        self._file.write(json.dumps(record) + "\n")
        # Flushed per record so `tail -f` and a crash both see every line written.
        self._file.flush()
        if self._board is not None and isinstance(record.get("step"), int):
            for tag, value in scalars(record):
                self._board.add_scalar(tag, value, record["step"])
            self._board.flush()
        if line is not None:
            print(line, file=self.stream, flush=True)

    def log_train(
        self,
        step: int,
        max_steps: int,
        loss: float,
        lr: float,
        tokens_per_s: float,
        grad_norm: float,
        tflops: float | None = None,
        mfu: float | None = None,
    ) -> None:
        """``tokens_per_s`` over all ranks; ``tflops`` per device; ``mfu`` when its peak is known."""
        record = {
            "step": step,
            "loss": loss,
            "lr": lr,
            "tokens_per_s": tokens_per_s,
            "grad_norm": grad_norm,
            "tflops": tflops,
            "mfu": mfu,
        }
        if torch.cuda.is_available():
            record["memory_gb"] = torch.cuda.max_memory_allocated() / 1e9
        line = (
            f"step {step:>6}/{max_steps} | loss {loss:7.4f} | lr {lr:.2e} | "
            f"{tokens_per_s:9,.0f} tok/s | grad norm {grad_norm:6.3f}"
        )
        if mfu is not None:
            line += f" | MFU {100 * mfu:4.1f}%"
        self.log(record, line)

    def log_eval(
        self, step: int, max_steps: int, val_loss: float, tokens: int, bpb: float | None = None
    ) -> None:
        """``bpb``: bits per byte of the same targets (None when the tokenizer has no byte table)."""
        record = {
            "step": step,
            "val_loss": val_loss,
            "val_perplexity": perplexity(val_loss),
            "val_tokens": tokens,
        }
        line = f"step {step:>6}/{max_steps} | val loss {val_loss:7.4f} ({tokens:,} tokens)"
        if bpb is not None:
            record["val_bpb"] = bpb
            line += f" | {bpb:.4f} bits/byte"
        self.log(record, line)

    def close(self) -> None:
        self._file.close()
        if self._board is not None:
            self._board.close()


class SilentLogger:
    """The metrics logger of a rank other than the main one: it writes nothing."""

    def log(self, *_a: Any, **_k: Any) -> None:
        pass

    log_train = log_eval = log

    def close(self) -> None:
        pass


Logger = MetricsLogger | SilentLogger


def read_metrics(out: str | os.PathLike) -> list[dict[str, Any]]:
    path = Path(out) / METRICS_NAME
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
