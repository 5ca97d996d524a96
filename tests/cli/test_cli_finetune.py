"""Fine-tuning: instruction data to masked shards (`corpus sft`), then full and LoRA fine-tuning
from a pretrained checkpoint (`corpus train --init-from ... [--lora-rank]`): the response-token
loss falls, LoRA leaves the base weights bit-identical, adapters are saved alone and merge into
the base weights, and the pretraining val loss before and after is reported."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from cli_helpers import corpus_cli
from corpus_helpers import STDLIB

from corpus.shards.format import open_tokens
from trainer.checkpoint import load_checkpoint
from trainer.load import load_trained
from trainer.lora import ADAPTERS_NAME, load_adapters, merge
from trainer.metrics import read_metrics

pytest.importorskip("peft", reason="the hf extra: pip install -e '.[hf]'")

MODULES = [
    "textwrap.py",
    "heapq.py",
    "shlex.py",
    "string.py",
    "difflib.py",
    "bisect.py",
    "statistics.py",
    "random.py",
]


def qa_pairs() -> list[dict]:
    """Real question/answer text under the PSF licence: for each documented function of a few
    stdlib modules, "What does module.function do?" and the first paragraph of its docstring."""
    pairs = []
    for module in MODULES:
        tree = ast.parse((STDLIB / module).read_text("utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                doc = ast.get_docstring(node)
                if doc:
                    answer = doc.split("\n\n")[0].strip()
                    name = f"{module[:-3]}.{node.name}"
                    pairs.append({"id": name, "prompt": f"What does {name} do?", "response": answer})
    return pairs


@pytest.fixture(scope="module")
def sft_data(code_corpus: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sft")
    pairs = qa_pairs()
    assert len(pairs) >= 40
    lines = [json.dumps(p) for p in pairs]
    # Records the job must reject, each with its reason.
    lines += [
        '{"prompt": "What does textwrap.fill do?"',  # cut short: not JSON
        json.dumps({"id": "no-response", "prompt": "What does heapq.merge do?"}),
        json.dumps({"id": "empty", "prompt": "What does shlex.split do?", "response": "  "}),
        json.dumps(
            {"id": "long", "prompt": "Quote difflib.", "response": (STDLIB / "difflib.py").read_text()}
        ),
        json.dumps(
            {
                "id": "chat",
                "messages": [
                    {"role": "user", "content": "What does bisect.insort do?"},
                    {"role": "assistant", "content": pairs[0]["response"]},
                ],
            }
        ),  # fmt: skip
    ]
    (root / "qa.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    out = root / "data"
    rc, stdout, err = corpus_cli(
        "sft", "--input", str(root / "qa.jsonl"), "--tokenizer-from", str(code_corpus),
        "--output", str(out), "--max-tokens", "400", "--val-fraction", "0.3",
    )  # fmt: skip
    assert rc == 0, err
    assert stdout.startswith(f"sft data: {len(pairs) + 5} records, ")
    return out


def test_sft_data_masks_responses_and_rejects_with_reasons(sft_data: Path, code_corpus: Path) -> None:
    summary = json.loads((sft_data / "summary.json").read_text("utf-8"))
    assert summary["stages"][0]["rejected_by_reason"] == {
        "sft_bad_json": 1, "sft_empty_response": 1, "sft_missing_field": 1, "sft_too_long": 1,
    }  # fmt: skip
    docs = summary["documents"]
    assert docs["in"] == docs["kept"] + docs["rejected"]
    rejected = pq.read_table(sft_data / "rejected" / "sft.parquet").to_pylist()
    assert {r["reason"] for r in rejected} == set(summary["stages"][0]["rejected_by_reason"])
    rc, out, _ = corpus_cli("shards", "verify", str(sft_data))
    assert rc == 0, out
    # Every example: the document token (mask 0), prompt tokens (0), response tokens (1), and
    # the document token again that ends it (1).
    manifest = json.loads((sft_data / "manifest.json").read_text("utf-8"))
    bos = manifest["tokenizer"]["bos_id"]
    assert (
        manifest["tokenizer"]["sha256"]
        == json.loads((code_corpus / "manifest.json").read_text())["tokenizer"]["sha256"]
    )
    shard = manifest["shards"][0]
    tokens = np.asarray(open_tokens(sft_data / shard["bin"]))
    mask = np.fromfile(sft_data / shard["mask"], dtype=np.uint8)
    lineage = pq.read_table(sft_data / shard["docs"]).to_pylist()
    start = 0
    for row in lineage:
        t, m = tokens[start : start + row["tokens"]], mask[start : start + row["tokens"]]
        assert t[0] == bos and m[0] == 0 and t[-1] == bos and m[-1] == 1
        assert int(m.sum()) == row["response_tokens"] > 1
        first = int(np.argmax(m))  # the prompt is one run of zeros, then the response
        assert not m[:first].any() and m[first:].all()
        start += row["tokens"]


def finetune(code_training: Path, data: Path, out: Path, code_corpus: Path, *extra: str) -> dict:
    rc, stdout, err = corpus_cli(
        "train", "--data", str(data), "--out", str(out), "--init-from", str(code_training / "checkpoint.pt"),
        "--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--seq-len", "128", "--batch-size", "4",
        "--max-steps", "60", "--lr", "3e-2", "--min-lr", "3e-3", "--warmup-steps", "2",
        "--eval-interval", "30", "--eval-batches", "4", "--log-interval", "10", "--dtype", "fp32",
        "--device", "cpu", "--bos-aligned", "--doc-masking", "--compare-val", str(code_corpus), *extra,
    )  # fmt: skip
    assert rc == 0, stdout + err
    return json.loads((out / "train_summary.json").read_text("utf-8"))


def val_losses(out: Path) -> list[float]:
    return [r["val_loss"] for r in read_metrics(out) if "val_loss" in r]


def test_lora_learns_responses_and_leaves_the_base_untouched(code_training, sft_data, code_corpus, tmp_path):
    out = tmp_path / "lora"
    summary = finetune(code_training, sft_data, out, code_corpus, "--lora-rank", "8", "--lora-alpha", "32")
    losses = val_losses(out)
    # Response tokens of held-out questions: a rank-8 adapter on a 1-layer, 32-wide model moves
    # them less than full fine-tuning does (below), but it moves them.
    assert losses[-1] < losses[0] - 0.05, losses
    train_losses = [r["loss"] for r in read_metrics(out) if "loss" in r]
    assert summary["final_train_loss"] < train_losses[0] - 0.1
    # Forgetting, made visible: the pretraining val loss before and after.
    compare = summary["compare_val"]
    assert compare["run"] == str(code_corpus) and compare["before"] > 0 and compare["after"] > 0
    # The base weights are bit-identical; only adapters changed.
    base = load_checkpoint(code_training / "checkpoint.pt")["model"]
    tuned = load_checkpoint(out / "checkpoint.pt")["model"]
    frozen = {k.replace(".base_layer.", "."): v for k, v in tuned.items() if "lora_" not in k}
    assert set(frozen) == set(base)
    assert all(torch.equal(frozen[k], base[k]) for k in base)
    # Adapters alone, and merged into the base they give the tuned model's logits.
    adapters, config = load_adapters(out)
    assert (out / ADAPTERS_NAME).stat().st_size < 100_000 and all("lora_" in k for k in adapters)
    assert config["lora_rank"] == 8 and config["base"] == str(code_training / "checkpoint.pt")
    merged = merge({**base, **adapters}, 8, 32.0)
    tuned_model = load_trained(out / "checkpoint.pt", str(code_corpus))  # merges the checkpoint's adapters
    ids = torch.from_numpy(np.asarray(open_tokens(sft_data / "train_000000.bin"))[:32].astype(np.int64))[None]
    plain = load_trained(code_training / "checkpoint.pt")
    plain.model.load_state_dict(merged)
    with torch.no_grad():
        assert torch.allclose(plain.model(ids)[0], tuned_model.model(ids)[0], atol=1e-5)
        assert not torch.allclose(
            load_trained(code_training / "checkpoint.pt").model(ids)[0], tuned_model.model(ids)[0]
        )


def test_full_finetuning_with_the_mask(code_training, sft_data, code_corpus, tmp_path):
    out = tmp_path / "full"
    summary = finetune(code_training, sft_data, out, code_corpus)
    losses = val_losses(out)
    assert losses[-1] < losses[0] - 0.2, losses
    assert "adapters" not in summary and summary["compare_val"]["after"] is not None


def test_replaying_pretraining_data(code_training, sft_data, code_corpus, tmp_path):
    out = tmp_path / "mix"
    rc, stdout, err = corpus_cli(
        "train", "--data", f"{sft_data}=0.7,{code_corpus}=0.3", "--out", str(out),
        "--init-from", str(code_training / "checkpoint.pt"), "--n-layer", "1", "--n-head", "2",
        "--n-embd", "32", "--seq-len", "128", "--batch-size", "8", "--max-steps", "10",
        "--eval-interval", "0", "--log-interval", "1", "--dtype", "fp32", "--device", "cpu",
        "--lora-rank", "4",
    )  # fmt: skip
    assert rc == 0, stdout + err
    shares = [r["mix_share"] for r in read_metrics(out) if "mix_share" in r][-1]
    assert shares[sft_data.name] + shares[code_corpus.name] == pytest.approx(1.0)
    assert 0.3 < shares[sft_data.name] < 1.0
