"""A finished run's summary: the dict written to ``train_summary.json`` (and returned by
``trainer.train.train``) and the lines printed at the end."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.evaluation import LossParts
from trainer.metrics import METRICS_NAME, perplexity
from trainer.mixture import MixtureBatches
from trainer.setup import Setup
from trainer.train_data import unused
from trainer.validation import Result

SUMMARY_NAME = "train_summary.json"


@dataclass
class Outcome:
    """What the loop and the final evaluations measured, besides the Setup and the checkpoint's
    ``extra``."""

    resumed_from_step: int | None
    steps_run: int
    last_loss: float | None
    """The last logged step's loss (mean over the ranks)."""
    train_loss: float
    train_parts: LossParts
    val_loss: float | None
    last_val: Result | None
    train_time: float
    """Seconds in training steps, this run."""
    wall_seconds: float
    compare: dict[str, Any] | None
    """compare_val's loss before and after; None without compare_val's val split."""
    adapters: str | None
    skipped: int
    tflops: float | None
    mfu: float | None


def build(s: Setup, ckpt: Path, extra: dict[str, Any], o: Outcome) -> dict[str, Any]:
    c = s.config
    out = Path(c.out)
    last_val = o.last_val
    summary = {
        "steps": c.max_steps,
        "steps_this_run": o.steps_run,
        "resumed_from_step": o.resumed_from_step,
        "tokens_per_step": c.tokens_per_step,
        "time_budget": extra.get("time_budget"),
        "tokens_seen": c.max_steps * c.tokens_per_step,
        "loss_step0": extra.get("loss_step0"),
        "last_step_loss": o.last_loss,
        "final_train_loss": o.train_loss,
        "final_val_loss": o.val_loss,
        **({f"final_val_{kind}": part for kind, part in last_val.records().items()} if last_val else {}),
        **{f"final_train_loss_{kind}": part for kind, part in o.train_parts.items()},
        "train_unigram_entropy": s.entropy,
        "ln_vocab_size": math.log(s.run.vocab_size),
        "train_tokens_per_s": o.steps_run * c.tokens_per_step / o.train_time if o.train_time else None,
        "wall_seconds": o.wall_seconds,
        "parameters": s.model.num_params(),
        "device": str(s.device),
        "precision": "bf16" if s.bf16 else "fp32",
        "data": c.data,
        "out": str(out),
        "checkpoint": str(ckpt),
        "metrics": str(out / METRICS_NAME),
        "config": c.to_dict(),
    }
    summary["ranks"] = s.world.size
    if isinstance(s.batches, MixtureBatches):
        summary["sources"] = _sources(s, last_val)
    if o.compare is not None:
        summary["compare_val"] = o.compare
    if o.adapters is not None:
        summary["adapters"] = o.adapters
    summary["final_val_perplexity"] = perplexity(o.val_loss) if o.val_loss is not None else None
    summary["final_val_bits_per_byte"] = last_val.overall.record()["bits_per_byte"] if last_val else None
    summary["skipped_steps"] = o.skipped
    summary["unused_tokens"] = {
        split: unused(shards, c.seq_len) or {"shards": [], "tokens": 0}
        for split, shards in (("train", s.train_shards), ("val", s.val_shards))
    }
    summary["data_order_resets"] = extra.get("data_order_resets", [])
    summary["tflops_per_device"] = o.tflops
    summary["mfu"] = o.mfu
    return summary


def _sources(s: Setup, last_val: Result | None) -> list[dict[str, Any]]:
    """A mixture's sources: weight, share of the windows drawn, and val loss."""
    assert isinstance(s.batches, MixtureBatches)
    shares = s.batches.shares(s.config.max_steps).tolist()
    return [
        {
            "name": x.name,
            "path": x.path,
            "weight": x.weight,
            "share": share,
            "val_loss": last_val.by_source[x.name].loss
            if last_val and x.name in last_val.by_source
            else None,
        }
        for x, share in zip(s.sources, shares, strict=True)
    ]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"


def summary_text(s: dict[str, Any]) -> str:
    speed = s["train_tokens_per_s"]
    return "\n".join(
        [
            f"done: {s['steps']} steps ({s['steps_this_run']} in this run), "
            f"{s['tokens_seen']:,} tokens seen" + (f", {speed:,.0f} tokens/s training" if speed else ""),
            f"  loss at step 0        {_fmt(s['loss_step0'])}   (ln vocab {s['ln_vocab_size']:.4f})",
            f"  final train loss      {_fmt(s['final_train_loss'])}   "
            f"(last step {_fmt(s['last_step_loss'])})",
            f"  final val loss        {_fmt(s['final_val_loss'])}"
            + (
                f"   ({s['final_val_bits_per_byte']:.4f} bits/byte)"
                if s.get("final_val_bits_per_byte")
                else ""
            ),
            f"  train unigram entropy {_fmt(s['train_unigram_entropy'])} nats/token",
            f"  outputs: {s['checkpoint']}, {s['metrics']}, {Path(s['out']) / SUMMARY_NAME}",
        ]
    )
