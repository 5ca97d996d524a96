"""The demo's training settings: which model, vocabulary and learning rate reach the lowest
validation bits per byte in the demo's two minutes on this machine.

    python -m bench.demo_sweep [--seconds 120] [--only NAME,...] [--report BENCHMARKS.md]

Every row is a real ``corpus train`` on the bundled sample's corpus (built once per vocabulary
with ``corpus build --vocab-size``) under the same ``--time-budget``: the trainer times a few steps
and sizes its schedule to fit (warmup a tenth of it, as the demo's 30 of 300), so a small model
takes more steps and a large one fewer. A row whose run finished under the same budget is read
back, not trained again (delete ``--work`` to redo all). Bits per
byte is the comparison (it does not depend on the tokenizer). The rows run one after another (the
machine's cores are all one row's); the table goes to BENCHMARKS.md's ``demo_sweep`` section and
bench/results/demo_sweep.json. The Makefile's demo settings are the table's best row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.report import write_section

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(sys.executable).parent / "corpus"

# name, vocabulary, train flags. The first is the demo as it was (4 x 256 at 1e-3, vocab 8192).
ROWS: list[tuple[str, int, list[str]]] = [
    ("4x256 lr1e-3 v8192", 8192, ["--n-layer", "4", "--n-embd", "256", "--n-head", "4", "--lr", "1e-3"]),
    ("4x256 lr3e-3 v8192", 8192, ["--n-layer", "4", "--n-embd", "256", "--n-head", "4", "--lr", "3e-3"]),
    ("4x256 lr2e-3 v8192", 8192, ["--n-layer", "4", "--n-embd", "256", "--n-head", "4", "--lr", "2e-3"]),
    ("2x256 lr2e-3 v8192", 8192, ["--n-layer", "2", "--n-embd", "256", "--n-head", "4", "--lr", "2e-3"]),
    ("4x192 lr2e-3 v8192", 8192, ["--n-layer", "4", "--n-embd", "192", "--n-head", "3", "--lr", "2e-3"]),
    ("4x256 lr1e-3 v4096", 4096, ["--n-layer", "4", "--n-embd", "256", "--n-head", "4", "--lr", "1e-3"]),
    ("4x256 lr2e-3 v4096", 4096, ["--n-layer", "4", "--n-embd", "256", "--n-head", "4", "--lr", "2e-3"]),
    ("4x256 lr1e-3 v4096 batch 8", 4096,
     ["--n-layer", "4", "--n-embd", "256", "--n-head", "4", "--lr", "1e-3", "--batch-size", "8"]),
    ("2x256 lr1e-3 v8192", 8192, ["--n-layer", "2", "--n-embd", "256", "--n-head", "4", "--lr", "1e-3"]),
    ("2x256 lr2e-3 v8192 batch 8", 8192,
     ["--n-layer", "2", "--n-embd", "256", "--n-head", "4", "--lr", "2e-3", "--batch-size", "8"]),
    ("2x256 lr1e-3 v8192 batch 8", 8192,
     ["--n-layer", "2", "--n-embd", "256", "--n-head", "4", "--lr", "1e-3", "--batch-size", "8"]),
    ("1x256 lr2e-3 v8192 batch 8", 8192,
     ["--n-layer", "1", "--n-embd", "256", "--n-head", "4", "--lr", "2e-3", "--batch-size", "8"]),
    ("1x256 lr1e-3 v8192 batch 8", 8192,
     ["--n-layer", "1", "--n-embd", "256", "--n-head", "4", "--lr", "1e-3", "--batch-size", "8"]),
    ("2x256 lr2e-3 v8192 batch 4", 8192,
     ["--n-layer", "2", "--n-embd", "256", "--n-head", "4", "--lr", "2e-3", "--batch-size", "4"]),
    ("2x256 lr1e-3 v8192 batch 4", 8192,
     ["--n-layer", "2", "--n-embd", "256", "--n-head", "4", "--lr", "1e-3", "--batch-size", "4"]),
]  # fmt: skip


# The Makefile's TRAIN_FLAGS: the best two-layer row (a one-layer model ties with it here).
DEMO = "2x256 lr1e-3 v8192 batch 4"


def corpus_for(vocab: int, work: Path) -> Path:
    out = work / "corpora"
    name = f"v{vocab}"
    if not (out / name / "manifest.json").exists():
        subprocess.run(
            [str(CORPUS), "build", "--input", str(ROOT / "data/sample/*.warc.gz"), "--output", str(out),
             "--name", name, "--config", str(ROOT / "configs/sample.toml"), "--vocab-size", str(vocab),
             "--force"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return out / name


def run_row(name: str, vocab: int, flags: list[str], seconds: float, work: Path) -> dict:
    data = corpus_for(vocab, work)
    out = work / "runs" / name.replace(" ", "_")
    done = out / "train_summary.json"
    if done.exists() and json.loads(done.read_text("utf-8"))["config"].get("time_budget") == seconds:
        return row(name, vocab, flags, json.loads(done.read_text("utf-8")))  # kept from an earlier sweep
    subprocess.run(
        [str(CORPUS), "train", "--data", str(data), "--out", str(out), "--resume", "never",
         "--max-steps", "3000", "--warmup-steps", "300", "--time-budget", str(seconds), *flags],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return row(name, vocab, flags, json.loads(done.read_text("utf-8")))


def row(name: str, vocab: int, flags: list[str], s: dict) -> dict:
    return {
        "name": name,
        "vocab": vocab,
        "flags": flags,
        "wall_s": round(s["wall_seconds"], 1),
        "steps": s["steps"],
        "tokens_seen": s["tokens_seen"],
        "parameters": s["parameters"],
        "final_val_loss": s["final_val_loss"],
        "final_val_bits_per_byte": s["final_val_bits_per_byte"],
        "train_unigram_entropy": s["train_unigram_entropy"],
    }


def table(rows: list[dict], seconds: float) -> str:
    best = min(rows, key=lambda r: r["final_val_bits_per_byte"])
    lines = [
        f"### The demo's training: {seconds:.0f} s on this machine ({os.cpu_count()} cores)",
        "",
        "`python -m bench.demo_sweep`: each row is `corpus train --time-budget "
        f"{seconds:.0f}` on the sample's corpus at that vocabulary; lower bits per byte is better.",
        "",
        "| settings | steps | tokens seen | val loss (nats) | val bits/byte |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        mark = " **(best)**" if r is best else ""
        mark += " **(demo)**" if r["name"] == DEMO else ""
        lines.append(
            f"| {r['name']}{mark} | {r['steps']} | {r['tokens_seen']:,} | {r['final_val_loss']:.3f} "
            f"| {r['final_val_bits_per_byte']:.3f} |"
        )
    lines += [
        "",
        "More optimizer steps beat a larger model or batch in two minutes: 2 layers over 4, 4 or 8",
        "sequences a step over 16, 1e-3 over higher rates, vocabulary 8,192 over 4,096. The demo takes",
        f"the {DEMO!r} row (Makefile TRAIN_FLAGS); rows within a few hundredths of a bit per byte are",
        "ties (the trainer sizes each run's steps from its own timing).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.demo_sweep", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=120.0, help="training budget of every row")
    p.add_argument("--only", help="comma-separated row names (default: all)")
    p.add_argument("--work", default=str(ROOT / "out" / "demo-sweep"), help="corpora and runs")
    p.add_argument("--report", default=str(ROOT / "BENCHMARKS.md"))
    p.add_argument("--results", default=str(ROOT / "bench" / "results" / "demo_sweep.json"))
    a = p.parse_args(argv)
    wanted = set(a.only.split(",")) if a.only else None
    work = Path(a.work)
    rows = []
    for name, vocab, flags in ROWS:
        if wanted is not None and name not in wanted:
            continue
        rows.append(run_row(name, vocab, flags, a.seconds, work))
        r = rows[-1]
        print(f"{name}: {r['steps']} steps, val {r['final_val_bits_per_byte']:.4f} bits/byte", flush=True)
    if not rows:
        p.error("no row matches --only")
    Path(a.results).write_text(json.dumps({"seconds": a.seconds, "rows": rows}, indent=1) + "\n", "utf-8")
    body = table(rows, a.seconds)
    write_section(Path(a.report), "demo_sweep", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
