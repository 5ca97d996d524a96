"""``corpus plan RUN``: the model a corpus supports, compute and time; ``--fit RUNS``: a scaling
law fitted to a sweep of training runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from corpus.errors import InputError, load_json


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "plan",
        help="size a training run for a corpus (compute-optimal pairing), or fit a scaling law",
        description="For a model size (--params) or a compute budget (--compute): the compute-optimal "
        "pairing (~20 tokens per parameter, C = 6ND plus attention), epochs of the corpus it needs and "
        "the time at a tokens/s figure. With --fit: L(N) = A N^-alpha + E fitted to training runs.",
    )
    p.add_argument("run", nargs="?", help="the corpus run (its manifest's training tokens)")
    p.add_argument("--params", type=float, help="model size: parameters without embeddings (e.g. 124e6)")
    p.add_argument("--compute", type=float, help="compute budget in FLOPs (e.g. 1e18)")
    p.add_argument("--seq-len", type=int, default=1024, help="sequence length, for attention (default 1024)")
    p.add_argument("--tokens-per-s", type=float, help="training speed (default: from --train's summary)")
    p.add_argument("--train", help="a training run whose measured tokens/s to use")
    p.add_argument("--fit", nargs="+", metavar="TRAIN_RUN", help="fit a scaling law to these runs")
    p.add_argument("--plot", default="scaling_fit.svg", help="where --fit draws its plot (.svg or .png)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trainer import plan

    if args.fit:
        points = plan.read_sweep(args.fit)
        fit = plan.fit_scaling_law(points)
        plot = plan.fit_plot(points, fit, Path(args.plot))
        if args.json:
            print(json.dumps({"fit": fit, "points": points, "plot": str(plot)}, indent=1))
        else:
            for n, loss, name in points:
                print(f"{name}: {n:,} parameters, final val loss {loss:.4f}")
            print(f"L(N) = {fit['A']:.4g} * N^-{fit['alpha']:.4f} + {fit['E']:.4f} (rmse {fit['rmse']:.4f})")
            print(f"plot: {plot}")
        return 0
    if not args.run:
        raise InputError("give the corpus run to plan for (or --fit TRAIN_RUNS)")
    if args.params is not None and args.compute is not None:
        raise InputError("--params and --compute: give one of them (or neither)")
    from corpus.manifest import load_manifest

    manifest = load_manifest(args.run)
    tokens = manifest["totals"].get("train", {}).get("tokens", 0)
    speed = args.tokens_per_s
    if speed is None and args.train:
        speed = load_json(Path(args.train) / "train_summary.json").get("train_tokens_per_s")
    if args.params is None and args.compute is None:
        # No size or budget: what the corpus itself supports, at one epoch and at four.
        if not tokens:
            raise InputError(f"{args.run}: no training tokens in its manifest; nothing to size a model by")
        result = plan.capacity(tokens, args.seq_len, speed)
        render = plan.render_capacity
    else:
        result = plan.plan(tokens, args.seq_len, args.params, args.compute, speed)
        render = plan.render
    print(json.dumps(result, indent=1) + "\n" if args.json else render(result), end="")
    return 0
