"""The evaluations a run makes, logged as metrics: the val loss (every ``eval_interval`` steps and
at the end; overall, by source, by language), compare_val's val loss before and after training
(forgetting, made visible), and the final train loss. How windows are scored: ``trainer.validation``."""

from __future__ import annotations

from collections.abc import Callable

from trainer.bpb import token_bytes
from trainer.config import ConfigError
from trainer.data import Shard, eval_batches, open_split
from trainer.metrics import Logger
from trainer.setup import Setup
from trainer.validation import Result, Sample, evaluate
from trainer.verify import verify_run

LossParts = dict[str, dict[str, float]]
"""The final train loss by source and by language: {"by_source": {name: loss}, ...}."""


class Evaluation:
    """The samples of one run, drawn once (so losses at different steps compare), and the last
    val result, which the summary reports."""

    def __init__(self, s: Setup, metrics: Logger, say: Callable[[str], None]) -> None:
        c = s.config
        self.s, self.metrics, self.say = s, metrics, say
        self.windows = c.batch_size * c.eval_batches
        table = token_bytes(s.run.tokenizer_path)
        self.val_sample = Sample([(x.name, v) for x, v in zip(s.sources, s.val_by_source, strict=True)],
                                 c.batch_size, c.seq_len, self.windows, table)  # fmt: skip
        self.last_val: Result | None = None
        self._val_missing_said = False
        self.compare_shards = _compare_shards(s)

    def val(self, step: int) -> float | None:
        """Score the val sample at ``step`` and log it; None when the split has no window."""
        c = self.s.config
        result = self.val_sample.score(self.s.eval_runner, self.s.device, self.s.autocast)
        if result.overall.tokens == 0:
            if not self._val_missing_said:
                self.say(f"note: the val split has no window of {c.seq_len + 1} tokens; no val loss")
                self._val_missing_said = True
            return None
        self.last_val = result
        overall = result.overall.record()
        self.metrics.log_eval(
            step, c.max_steps, result.overall.loss, result.overall.tokens, overall["bits_per_byte"]
        )
        parts = result.records()
        if parts:
            line = " | ".join(
                f"val loss by {kind.split('_')[1]}: "
                + ", ".join(f"{k} {v['loss']:.4f}" for k, v in part.items())
                for kind, part in parts.items()
            )
            self.metrics.log({"step": step, **{f"val_{kind}": part for kind, part in parts.items()}},
                             f"step {step:>6}/{c.max_steps} | {line}")  # fmt: skip
        return result.overall.loss

    def compare(self, step: int, when: str) -> float | None:
        """The val loss of compare_val's run (e.g. the pretraining data): forgetting, made visible."""
        c = self.s.config
        windows = eval_batches(self.compare_shards, c.batch_size, c.seq_len, c.eval_batches)
        loss, tokens = evaluate(self.s.eval_runner, windows, self.s.device, self.s.autocast)
        if not tokens:
            return None
        line = f"step {step:>6}/{c.max_steps} | {c.compare_val} val loss {when}: {loss:.4f}"
        self.metrics.log({"step": step, "compare_val_loss": loss, "when": when}, line)
        return loss

    def train_loss(self) -> tuple[float, LossParts]:
        """The final train loss, measured like the val loss (fixed windows), so the two compare;
        the last step's loss is one noisy batch."""
        s, c = self.s, self.s.config
        train_sample = Sample([(x.name, t) for x, t in zip(s.sources, s.train_by_source, strict=True)],
                              c.batch_size, c.seq_len, self.windows, None)  # fmt: skip
        train_result = train_sample.score(s.eval_runner, s.device, s.autocast)
        train_loss = train_result.overall.loss
        parts = {
            kind: {k: v["loss"] for k, v in part.items()} for kind, part in train_result.records().items()
        }
        self.metrics.log({"step": c.max_steps, "train_eval_loss": train_loss,
                          **{f"train_eval_loss_{kind}": part for kind, part in parts.items()}})  # fmt: skip
        return train_loss, parts


def _compare_shards(s: Setup) -> list[Shard]:
    """compare_val's val split (none without compare_val), refused with another tokenizer."""
    c = s.config
    if not c.compare_val:
        return []
    other = verify_run(c.compare_val, checksums=False)
    if other.manifest["tokenizer"]["sha256"] != s.run.manifest["tokenizer"]["sha256"]:
        raise ConfigError(f"compare_val: {c.compare_val} has another tokenizer than this run's data")
    return open_split(other, "val")
