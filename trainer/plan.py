"""Sizing a run: what model a corpus supports, the compute and time it takes, and a scaling law
fitted to our own small runs.

- Compute-optimal pairing (Hoffmann et al. 2022, "Chinchilla"): about 20 training tokens per
  parameter, with C = D x FLOPs per token, FLOPs per token = 6N + 12 x layers x width x seq_len
  (trainer/flops.py: the attention term that 6N leaves out).
- Repeating data: up to about 4 epochs cost little against fresh tokens (Muennighoff et al. 2023,
  "Scaling Data-Constrained Language Models"); beyond that returns fall off.
- Fit: L(N) = A * N^-alpha + E to the final validation losses of a sweep, by scipy's robust
  least squares (soft L1), so one bad run does not bend the curve.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.errors import InputError, load_json
from trainer.flops import flops_per_token

TOKENS_PER_PARAM = 20.0
MAX_USEFUL_EPOCHS = 4.0
ASPECT = 64
"""Width per layer of the shape suggested for a parameter count (n_embd = 64 x n_layer)."""


@dataclass(frozen=True)
class Shape:
    n_layer: int
    n_embd: int

    @property
    def params(self) -> int:
        """Parameters without embeddings: 12 x layers x width^2 (attention 4C^2, MLP 8C^2)."""
        return 12 * self.n_layer * self.n_embd**2


def shape_for(params: float, head: int = 64) -> Shape:
    """A GPT shape near ``params`` non-embedding parameters, width a multiple of ``head``."""
    layers = max(1, round((params / (12 * ASPECT**2)) ** (1 / 3)))
    width = max(head, round(math.sqrt(params / (12 * layers)) / head) * head)
    return Shape(layers, width)


def plan(
    corpus_tokens: int,
    seq_len: int,
    params: float | None = None,
    compute: float | None = None,
    tokens_per_s: float | None = None,
) -> dict[str, Any]:
    """For a model size (``params``) or a compute budget (``compute`` FLOPs): the optimal
    pairing, epochs of this corpus it needs, and the time at ``tokens_per_s``."""
    if (params is None) == (compute is None):
        raise InputError("give a model size (--params) or a compute budget (--compute), one of them")
    if params is None:
        assert compute is not None
        # C = 20 N x (6 N + attention): solve for N with the attention term of the shape N
        # implies, until the shape stops changing.
        n = math.sqrt(compute / (6 * TOKENS_PER_PARAM))
        for _ in range(20):
            n = _solve(compute, shape_for(n), seq_len)
        params = n
    shape = shape_for(params)
    tokens = TOKENS_PER_PARAM * params
    per_token = flops_per_token(int(params), shape.n_layer, shape.n_embd, seq_len)
    flops = tokens * per_token
    result: dict[str, Any] = {
        "corpus_tokens": corpus_tokens,
        "params": int(params),
        "shape": {"n_layer": shape.n_layer, "n_embd": shape.n_embd, "params": shape.params},
        "tokens": int(tokens),
        "flops": flops,
        "attention_share": 12 * shape.n_layer * shape.n_embd * seq_len / per_token,
        "epochs": tokens / corpus_tokens if corpus_tokens else math.inf,
        "largest_model_one_epoch": int(corpus_tokens / TOKENS_PER_PARAM),
        "largest_model_useful": int(MAX_USEFUL_EPOCHS * corpus_tokens / TOKENS_PER_PARAM),
    }
    if tokens_per_s:
        result["tokens_per_s"] = tokens_per_s
        result["seconds"] = tokens / tokens_per_s
    return result


def _solve(compute: float, shape: Shape, seq_len: int) -> float:
    """N with 20 N (6 N + a) = C, a the attention FLOPs per token of ``shape``."""
    a = 12 * shape.n_layer * shape.n_embd * seq_len
    k = TOKENS_PER_PARAM
    return (-k * a + math.sqrt((k * a) ** 2 + 4 * 6 * k * compute)) / (2 * 6 * k)


def render(p: dict[str, Any]) -> str:
    lines = [
        f"corpus: {p['corpus_tokens']:,} training tokens",
        f"model: {p['params']:,} parameters (without embeddings), e.g. {p['shape']['n_layer']} layers x "
        f"{p['shape']['n_embd']} wide ({p['shape']['params']:,})",
        f"compute-optimal data: {p['tokens']:,} tokens (~{TOKENS_PER_PARAM:g} per parameter) = "
        f"{p['epochs']:.2f} epochs of this corpus",
        f"compute: {p['flops']:.3g} FLOPs (6ND plus attention, {100 * p['attention_share']:.1f}% of it)",
    ]
    if p["epochs"] > MAX_USEFUL_EPOCHS:
        lines.append(
            f"warning: more than {MAX_USEFUL_EPOCHS:g} epochs; repeated tokens are worth less and less "
            "(a smaller model or more data)"
        )
    if "seconds" in p:
        lines.append(f"time: {_duration(p['seconds'])} at {p['tokens_per_s']:,.0f} tokens/s")
    lines.append(_supports(p))
    return "\n".join(lines) + "\n"


def _supports(p: dict[str, Any]) -> str:
    return (
        f"this corpus supports about {p['largest_model_one_epoch']:,} parameters at one epoch, "
        f"{p['largest_model_useful']:,} at {MAX_USEFUL_EPOCHS:g} epochs"
    )


def capacity(corpus_tokens: int, seq_len: int, tokens_per_s: float | None = None) -> dict[str, Any]:
    """With no model size or budget given: the compute-optimal model this corpus feeds at one
    epoch and at MAX_USEFUL_EPOCHS (~20 tokens per parameter, the corpus seen that often), each
    a :func:`plan` with its ``epochs``."""
    models = []
    for epochs in (1.0, MAX_USEFUL_EPOCHS):
        # The parameter count is the one the capacity line gives, so the two agree exactly.
        params = int(epochs * corpus_tokens / TOKENS_PER_PARAM)
        models.append(
            plan(corpus_tokens, seq_len, params=params, tokens_per_s=tokens_per_s) | {"epochs": epochs}
        )
    return {
        "corpus_tokens": corpus_tokens,
        "largest_model_one_epoch": models[0]["largest_model_one_epoch"],
        "largest_model_useful": models[0]["largest_model_useful"],
        "models": models,
    }


def render_capacity(c: dict[str, Any]) -> str:
    lines = [f"corpus: {c['corpus_tokens']:,} training tokens"]
    for p in c["models"]:
        line = (
            f"at {p['epochs']:g} epoch{'' if p['epochs'] == 1 else 's'}: {p['params']:,} parameters "
            f"(without embeddings), e.g. {p['shape']['n_layer']} layers x {p['shape']['n_embd']} wide; "
            f"{p['tokens']:,} tokens, {p['flops']:.3g} FLOPs"
        )
        if "seconds" in p:
            line += f", {_duration(p['seconds'])} at {p['tokens_per_s']:,.0f} tokens/s"
        lines.append(line)
    lines.append(_supports(c))
    lines.append("(--params or --compute: the plan for one model size or compute budget)")
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.1f} minutes"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"


def read_sweep(runs: list[str | os.PathLike]) -> list[tuple[int, float, str]]:
    """(parameters, final validation loss, run) of finished training runs."""
    points = []
    for run in runs:
        path = Path(run) / "train_summary.json"
        if not path.exists():
            raise InputError(f"{path}: missing; is {run} a finished training run?")
        summary = load_json(path)
        if summary.get("final_val_loss") is None:
            raise InputError(f"{path}: no final validation loss (the val split was too small?)")
        points.append((int(summary["parameters"]), float(summary["final_val_loss"]), str(run)))
    return sorted(points)


def fit_scaling_law(points: list[tuple[int, float, str]]) -> dict[str, float]:
    """A, alpha, E of L(N) = A N^-alpha + E, by robust least squares in log-parameter space."""
    import numpy as np
    from scipy.optimize import least_squares

    if len({n for n, _, _ in points}) < 3:
        raise InputError("a fit of A, alpha and E needs runs of at least 3 model sizes")
    n = np.array([p[0] for p in points], dtype=float)
    loss = np.array([p[1] for p in points], dtype=float)
    scale = n.min()

    def residuals(x: np.ndarray) -> np.ndarray:
        log_a, alpha, e = x
        return np.exp(log_a) * (n / scale) ** -alpha + e - loss

    start = np.array([math.log(max(loss.max() - loss.min(), 1e-3)), 0.3, max(loss.min() - 0.1, 0.0)])
    # Residuals beyond ~2% of the spread of losses count linearly, not squared: one diverged or
    # unlucky run moves the fit little.
    f_scale = max(1e-4, 0.02 * float(loss.max() - loss.min()))
    fit = least_squares(residuals, start, loss="soft_l1", f_scale=f_scale,
                        bounds=([-20, 0.0, 0.0], [20, 3.0, loss.min()]))  # fmt: skip
    log_a, alpha, e = fit.x
    a = math.exp(log_a) * scale**alpha  # back to L = A N^-alpha + E in plain parameters
    predicted = a * n**-alpha + e
    return {
        "A": a,
        "alpha": float(alpha),
        "E": float(e),
        "rmse": float(np.sqrt(np.mean((predicted - loss) ** 2))),
    }


def fit_plot(points: list[tuple[int, float, str]], fit: dict[str, float], path: Path) -> Path:
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    n = np.array([p[0] for p in points], dtype=float)
    ax.scatter(n, [p[1] for p in points], color="#b5452f", label="runs", zorder=3)
    grid = np.geomspace(n.min() / 2, n.max() * 4, 100)
    ax.plot(grid, fit["A"] * grid ** -fit["alpha"] + fit["E"], color="#1f3b4d",
            label=f"L = {fit['A']:.3g} N^-{fit['alpha']:.3f} + {fit['E']:.3f}")  # fmt: skip
    ax.axhline(fit["E"], color="gray", linestyle=":", label="irreducible E")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("final validation loss")
    ax.legend(frameon=False)
    fig.savefig(path, bbox_inches="tight", metadata={"Date": None} if path.suffix == ".svg" else None)
    return path
