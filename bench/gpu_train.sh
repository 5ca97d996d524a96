#!/usr/bin/env bash
# The trainer on one GPU: a 124M GPT (12 layers x 768, 12 heads, seq 1024, GPT-2's shape), bf16,
# compiled, on the shards `make demo` builds from the bundled sample; prints tokens/s and MFU
# (trainer/flops.py: 6N + attention FLOPs over the GPU's bf16 peak, H100/H200/A100/L4 known)
# and writes bench/results/gpu/ (metrics.jsonl, train_summary.json, nvidia-smi.txt); then the
# same model with document masking through FlexAttention, for half the steps (masked/).
#
#   make setup && make pipeline && bash bench/gpu_train.sh [STEPS]     # a few minutes
#
# The sample holds ~0.7M training tokens, so the run cycles through many epochs: this measures
# speed, not what the model learns. llm.c reaches about 38-41% MFU by the same formula on H100.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-200}"
DATA="${DATA:-out/sample}"
OUT="bench/results/gpu"
PY="${PY:-.venv/bin/python}"
test -f "$DATA/manifest.json" || { echo "no $DATA/manifest.json: run 'make pipeline' first" >&2; exit 2; }
"$PY" -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible to torch')"
rm -rf "$OUT" && mkdir -p "$OUT"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
train() {  # OUT_DIR STEPS [extra flags]
    local out="$1" steps="$2"
    shift 2
    "$PY" -m trainer.train --data "$DATA" --out "$out" --resume never \
        --n-layer 12 --n-head 12 --n-embd 768 --seq-len 1024 --position learned \
        --batch-size 16 --grad-accum 4 --max-steps "$steps" --warmup-steps 20 --lr 6e-4 --min-lr 6e-5 \
        --dtype bf16 --compile --device cuda --eval-interval 0 --eval-batches 4 --log-interval 10 \
        --checkpoint-interval 0 "$@"
}
train "$OUT" "$STEPS"
# The same model with document masking (attention within each packed document, positions
# restarting): FlexAttention's block-sparse mask, compiled (attention = auto on CUDA).
train "$OUT/masked" "$((STEPS / 2))" --doc-masking --bos-aligned
"$PY" - "$OUT" <<'PY'
import json, sys
from pathlib import Path

import torch

out = Path(sys.argv[1])


def measure(folder: Path) -> dict:
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line]
    steady = [r for r in rows if "loss" in r and r["step"] >= 20]  # after compilation and warm-up
    summary = json.loads((folder / "train_summary.json").read_text())
    median = lambda xs: sorted(xs)[len(xs) // 2] if xs else None  # noqa: E731
    return {"parameters": summary["parameters"], "steps": summary["steps"],
            "median_tokens_per_s": median([r["tokens_per_s"] for r in steady]),
            "median_mfu": median([r["mfu"] for r in steady if r.get("mfu") is not None])}


result = {"gpu": torch.cuda.get_device_name(0), **measure(out), "doc_masking_flex": measure(out / "masked")}
(out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
print(json.dumps(result))
summary = {"parameters": result["parameters"], "steps": result["steps"]}
tok, mfu = result["median_tokens_per_s"], result["median_mfu"]
masked = result["doc_masking_flex"]
from bench.report import write_section

mfu_text = f"{100 * mfu:.1f}% MFU" if mfu is not None else "no MFU (GPU not in trainer/flops.py)"
write_section(Path("BENCHMARKS.md"), "gpu", "\n".join([
    "## The trainer on a GPU (`bench/gpu_train.sh`)",
    "",
    f"{result['gpu']}: a {summary['parameters'] / 1e6:.0f}M GPT (12 x 768, seq 1024), bf16, compiled, "
    f"batch 16 x 4 micro-steps, {summary['steps']} steps on the sample's shards: median "
    f"**{tok:,.0f} tokens/s, {mfu_text}** (target >= 40%; steps from 20 on).",
    f"- With document masking (FlexAttention, `--doc-masking --bos-aligned`), {masked['steps']} steps: "
    f"{masked['median_tokens_per_s']:,.0f} tokens/s"
    + (f", {100 * masked['median_mfu']:.1f}% MFU" if masked["median_mfu"] is not None else "") + ".",
]))
PY
