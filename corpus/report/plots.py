"""The report's plots: matplotlib figures as inline SVG text (no files, no fonts fetched: text is
drawn as paths), deterministic for the same facts."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402  (after the backend is chosen)

matplotlib.rcParams.update({"svg.hashsalt": "corpus-report", "svg.fonttype": "path", "font.size": 9})

KEPT, REJECTED = "#2f7d4f", "#b5452f"


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _figure(width: float = 6.4, height: float = 3.0):
    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot()


def funnel(rows: Sequence[dict]) -> str:
    fig, ax = _figure()
    stages = [r["stage"] for r in rows]
    ax.bar(stages, [r["kept"] for r in rows], color=KEPT, label="kept")
    ax.bar(
        stages,
        [r["rejected"] for r in rows],
        bottom=[r["kept"] for r in rows],
        color=REJECTED,
        label="rejected",
    )
    ax.set_ylabel("documents")
    ax.tick_params(axis="x", rotation=35)
    ax.legend(loc="lower left", framealpha=0.9)
    ax.set_title("Documents through the stages")
    return _svg(fig)


def horizontal_bars(
    labels: Sequence[str], values: Sequence[float], title: str, xlabel: str, color: str = REJECTED
) -> str:
    fig, ax = _figure(6.4, max(1.6, 0.28 * len(labels) + 0.9))
    ax.barh(list(labels)[::-1], list(values)[::-1], color=color)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return _svg(fig)


def length_histograms(edges: Sequence[int], kept: Sequence[int], rejected: Sequence[int]) -> str:
    fig, ax = _figure()
    x = list(range(len(kept)))
    ax.bar([i - 0.2 for i in x], kept, width=0.4, color=KEPT, label="kept")
    ax.bar([i + 0.2 for i in x], rejected, width=0.4, color=REJECTED, label="rejected")
    labels = [_bytes(e) for e in edges[:-1]]
    ax.set_xticks(x[::2], labels[::2], rotation=35)
    ax.set_xlabel("document length (bytes of text, from)")
    ax.set_ylabel("documents")
    ax.set_yscale("symlog")
    ax.legend(frameon=False)
    ax.set_title("Document lengths, kept vs rejected")
    return _svg(fig)


def values_against_threshold(values: Sequence[float], threshold: float, comparison: str, title: str) -> str:
    fig, ax = _figure(6.4, 2.4)
    ax.hist(values, bins=30, color=REJECTED)
    ax.axvline(
        threshold, color="black", linestyle="--", label=f"threshold ({comparison} {threshold:g} rejects)"
    )
    ax.set_ylabel("rejected documents")
    ax.set_title(title)
    ax.legend(frameon=False)
    return _svg(fig)


def score_histogram(counts: Sequence[int], threshold: float | None) -> str:
    fig, ax = _figure(6.4, 2.4)
    ax.bar(
        [i / len(counts) + 0.5 / len(counts) for i in range(len(counts))],
        counts,
        width=1 / len(counts),
        color=KEPT,
    )
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", label=f"min_score {threshold:g}")
        ax.legend(frameon=False)
    ax.set_xlabel("language score (lid.176)")
    ax.set_ylabel("kept documents")
    ax.set_title("Language scores of kept documents")
    return _svg(fig)


def cluster_sizes(distribution: dict[str, int]) -> str:
    fig, ax = _figure(6.4, 2.8)
    sizes = [int(k) for k in distribution]
    ax.scatter(sizes, list(distribution.values()), color=REJECTED, s=14)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cluster size (documents)")
    ax.set_ylabel("clusters")
    ax.set_title("Near-duplicate cluster sizes")
    return _svg(fig)


def tokens_per_shard(names: Sequence[str], tokens: Sequence[int]) -> str:
    fig, ax = _figure(6.4, 2.6)
    ax.bar(range(len(names)), tokens, color=KEPT)
    step = max(1, len(names) // 12)
    ax.set_xticks(range(0, len(names), step), list(names)[::step], rotation=35)
    ax.set_ylabel("tokens")
    ax.set_title("Tokens per shard")
    return _svg(fig)


def training_curves(train: Sequence[dict], val: Sequence[dict]) -> str:
    fig, ax = _figure()
    if train:
        ax.plot([r["step"] for r in train], [r["loss"] for r in train], color="#4063a8", label="train loss")
    if val:
        ax.plot(
            [r["step"] for r in val],
            [r["val_loss"] for r in val],
            "o-",
            color="#c07a1c",
            label="validation loss",
        )
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.legend(frameon=False)
    ax.set_title("Training")
    return _svg(fig)


def _bytes(n: int) -> str:
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n // size} {unit}"
    return f"{n} B"
