"""`corpus export` gives transformers folders whose logits match ours, `lm_eval` runs on them
offline; `corpus generate` samples reproducibly; `corpus plan` sizes runs and fits a law."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import corpus_cli

from corpus.shards.format import open_tokens
from trainer.load import load_trained

transformers = pytest.importorskip("transformers", reason="the hf extra: pip install -e '.[hf]'")


@pytest.fixture(scope="module")
def rope_training(code_corpus: Path) -> Path:
    out = code_corpus.parent.parent / "runs" / "code-rope"
    rc, stdout, err = corpus_cli(
        "train", "--data", str(code_corpus), "--out", str(out), "--n-layer", "2", "--n-head", "2",
        "--n-embd", "32", "--seq-len", "32", "--batch-size", "4", "--max-steps", "4",
        "--eval-interval", "0", "--position", "rope", "--dtype", "fp32", "--device", "cpu",
        "--warmup-steps", "1",
    )  # fmt: skip
    assert rc == 0, stdout + err
    return out


def real_windows(run: Path, length: int, rows: int) -> list[list[int]]:
    """Token rows from the start of the run's val shard: real documents, as the model saw them."""
    tokens = np.asarray(open_tokens(run / "val_000000.bin"))
    return [tokens[i * length : (i + 1) * length].astype(np.int64).tolist() for i in range(rows)]


@pytest.mark.parametrize("which", ["learned", "rope"])
def test_exported_logits_match_ours(which: str, code_corpus, code_training, rope_training, tmp_path) -> None:
    run = code_training if which == "learned" else rope_training
    folder = tmp_path / "hf"
    rc, out, err = corpus_cli("export", str(run / "checkpoint.pt"), "--hf", str(folder))
    assert rc == 0, err
    assert out == f"exported: {folder} (load with transformers.AutoModelForCausalLM.from_pretrained)\n"
    config = json.loads((folder / "config.json").read_text("utf-8"))
    assert config["architectures"] == (["GPT2LMHeadModel"] if which == "learned" else ["GPTNeoXForCausalLM"])
    model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True)
    model.eval()
    ours = load_trained(run / "checkpoint.pt")
    ids = real_windows(code_corpus, 32, 3)
    with torch.no_grad():
        theirs = model(torch.tensor(ids)).logits
        mine = ours.model(torch.tensor(ids))[0][..., : ours.tokenizer_vocab]
    assert theirs.shape == mine.shape == (3, 32, 512)  # the padded rows trimmed
    assert torch.allclose(theirs, mine, atol=1e-4, rtol=0), float((theirs - mine).abs().max())
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    text = "def dedent(text):"
    assert tokenizer(text)["input_ids"] == tokenizer.backend_tokenizer.encode(text).ids
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == ours.bos_id


@pytest.mark.slow
def test_lm_eval_runs_offline_on_the_export(code_training, sample_corpus, tmp_path, monkeypatch) -> None:
    lm_eval = pytest.importorskip("lm_eval", reason="the hf extra: pip install -e '.[hf]'")
    from lm_eval.tasks import TaskManager

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    folder = tmp_path / "hf"
    assert corpus_cli("export", str(code_training / "checkpoint.pt"), "--hf", str(folder))[0] == 0
    # Cloze items from real text: the sample's kept English documents; the true next word
    # against three words from other documents.
    import pyarrow.parquet as pq

    run = sample_corpus[0]
    rows = [r for p in sorted((run / "docs").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    texts = [r["text"] for r in rows if r["language"] == "en"]
    words = [re.findall(r"[A-Za-z]{4,}", t) for t in texts]
    items = []
    for i, w in enumerate(words[:12]):
        others = [words[(i + k) % len(words)][30] for k in (3, 5, 7)]
        items.append(
            {"context": " ".join(w[:20]), "choices": [" " + w[20], *(" " + o for o in others)], "answer": 0}
        )
    data = tmp_path / "cloze.jsonl"
    data.write_text("".join(json.dumps(x) + "\n" for x in items), "utf-8")
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "cloze.yaml").write_text(
        "task: debian_reference_cloze\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {data}\ntest_split: test\noutput_type: multiple_choice\n"
        'doc_to_text: "{{context}}"\ndoc_to_choice: "{{choices}}"\ndoc_to_target: "{{answer}}"\n'
        "metric_list:\n  - metric: acc\n",
        "utf-8",
    )
    results = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={folder},dtype=float32", tasks=["debian_reference_cloze"],
        task_manager=TaskManager(include_path=str(tasks)), device="cpu", batch_size=4,
    )  # fmt: skip
    acc = results["results"]["debian_reference_cloze"]["acc,none"]
    assert 0.0 <= acc <= 1.0
    assert results["samples"] is None or len(results["samples"]["debian_reference_cloze"]) == len(items)


def test_generate_is_seeded(code_training: Path) -> None:
    ckpt = str(code_training / "checkpoint.pt")
    args = ("generate", ckpt, "--prompt", "def ", "--max-tokens", "12", "--seed", "3")
    rc, first, err = corpus_cli(*args)
    assert rc == 0, err
    assert first.startswith("def ") and corpus_cli(*args)[1] == first
    rc, greedy, _ = corpus_cli(
        "generate", ckpt, "--prompt", "def ", "--max-tokens", "12", "--temperature", "0"
    )
    assert rc == 0 and greedy == corpus_cli("generate", ckpt, "--prompt", "def ", "--max-tokens", "12",
                                            "--temperature", "0", "--seed", "9")[1]  # fmt: skip
    rc, _, err = corpus_cli("generate", ckpt, "--top-p", "0")
    assert rc == 2 and "0 < top_p <= 1" in err


def test_generate_and_export_take_the_run_folder(code_training: Path, tmp_path: Path) -> None:
    # A training run's folder stands for its checkpoint.pt, as `corpus train --out` names it.
    args = ("--prompt", "def ", "--max-tokens", "8", "--seed", "1")
    rc, from_file, err = corpus_cli("generate", str(code_training / "checkpoint.pt"), *args)
    assert rc == 0, err
    rc, from_folder, err = corpus_cli("generate", str(code_training), *args)
    assert rc == 0, err
    assert from_folder == from_file
    rc, _, err = corpus_cli("export", str(code_training), "--hf", str(tmp_path / "hf-folder"))
    assert rc == 0, err
    rc, _, err = corpus_cli("export", str(code_training / "checkpoint.pt"), "--hf", str(tmp_path / "hf-file"))
    assert rc == 0, err
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        assert (tmp_path / "hf-folder" / name).read_bytes() == (tmp_path / "hf-file" / name).read_bytes()


@pytest.mark.parametrize("command", [["generate"], ["export", "--hf", "{tmp}/hf"]])
def test_a_folder_without_a_checkpoint_is_named(command: list[str], tmp_path: Path) -> None:
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    argv = [command[0], str(folder), *(a.replace("{tmp}", str(tmp_path)) for a in command[1:])]
    rc, _, err = corpus_cli(*argv)
    assert rc == 2
    assert err == f"error: {folder}: a folder without checkpoint.pt; is it a training run?\n"
    assert not (tmp_path / "hf").exists()


def test_plan_pairs_model_and_data(sample_corpus) -> None:
    run = sample_corpus[0]
    rc, out, _ = corpus_cli("plan", str(run), "--params", "5e6", "--tokens-per-s", "2000", "--seq-len", "256",
                            "--json")  # fmt: skip
    assert rc == 0
    p = json.loads(out)
    assert p["tokens"] == 100_000_000 and p["corpus_tokens"] == 721_513
    assert p["epochs"] == pytest.approx(100_000_000 / 721_513)
    assert p["seconds"] == pytest.approx(50_000.0)
    n, shape = 5e6, p["shape"]
    assert p["flops"] == pytest.approx(1e8 * (6 * n + 12 * shape["n_layer"] * shape["n_embd"] * 256))
    # A compute budget gives back the size whose compute-optimal run spends it.
    rc, out, _ = corpus_cli("plan", str(run), "--compute", str(p["flops"]), "--seq-len", "256", "--json")
    assert rc == 0 and json.loads(out)["params"] == pytest.approx(5e6, rel=0.02)
    rc, _, err = corpus_cli("plan", str(run), "--params", "5e6", "--compute", "1e18")
    assert rc == 2 and err == "error: --params and --compute: give one of them (or neither)\n"


def test_plan_of_a_run_alone_tells_the_models_it_supports(code_corpus: Path) -> None:
    # No --params or --compute: the compute-optimal model at one epoch of the corpus and at four
    # (~20 tokens per parameter), from the manifest's training tokens.
    tokens = json.loads((code_corpus / "manifest.json").read_text("utf-8"))["totals"]["train"]["tokens"]
    one, four = int(tokens / 20), int(4 * tokens / 20)
    rc, out, err = corpus_cli("plan", str(code_corpus), "--seq-len", "128")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == f"corpus: {tokens:,} training tokens"
    assert lines[1].startswith(f"at 1 epoch: {one:,} parameters (without embeddings), e.g. ")
    assert lines[2].startswith(f"at 4 epochs: {four:,} parameters (without embeddings), e.g. ")
    assert f"; {20 * one:,} tokens, " in lines[1] and f"; {20 * four:,} tokens, " in lines[2]
    assert lines[3] == f"this corpus supports about {one:,} parameters at one epoch, {four:,} at 4 epochs"
    rc, out, _ = corpus_cli("plan", str(code_corpus), "--seq-len", "128", "--json", "--tokens-per-s", "1000")
    assert rc == 0
    models = json.loads(out)["models"]
    assert [(m["epochs"], m["params"], m["tokens"]) for m in models] == [
        (1, one, 20 * one),
        (4, four, 20 * four),
    ]
    for m in models:
        layers, width = m["shape"]["n_layer"], m["shape"]["n_embd"]
        assert m["flops"] == pytest.approx(m["tokens"] * (6 * m["params"] + 12 * layers * width * 128))
        assert m["epochs"] * tokens == pytest.approx(m["tokens"], abs=20 * m["epochs"])
        assert m["seconds"] == pytest.approx(m["tokens"] / 1000)


def test_plan_fits_a_scaling_law(tmp_path: Path) -> None:
    # Final losses of a sweep that follow L = 8 N^-0.25 + 1.7, one run off the curve.
    runs = []
    for i, n in enumerate([1e5, 3e5, 1e6, 3e6, 1e7, 3e7]):
        loss = 8 * n**-0.25 + 1.7 + (0.05 if i == 3 else 0.0)
        run = tmp_path / f"run{i}"
        run.mkdir()
        (run / "train_summary.json").write_text(json.dumps({"parameters": int(n), "final_val_loss": loss}))
        runs.append(str(run))
    rc, out, err = corpus_cli("plan", "--fit", *runs, "--plot", str(tmp_path / "fit.svg"), "--json")
    assert rc == 0, err
    fit = json.loads(out)["fit"]
    assert fit["alpha"] == pytest.approx(0.25, abs=0.03) and fit["E"] == pytest.approx(1.7, abs=0.05)
    assert (tmp_path / "fit.svg").read_text("utf-8").count("<path") > 5
    rc, _, err = corpus_cli("plan", "--fit", *runs[:2])
    assert rc == 2 and "at least 3 model sizes" in err


def test_plan_fits_a_sweep_of_our_own_runs(code_corpus: Path, tmp_path: Path) -> None:
    # Three real training runs of three widths on the same data; the fit goes through them.
    runs = []
    for width in ("16", "32", "64"):
        out = tmp_path / f"w{width}"
        rc, stdout, err = corpus_cli(
            "train", "--data", str(code_corpus), "--out", str(out), "--n-layer", "1", "--n-head", "2",
            "--n-embd", width, "--seq-len", "64", "--batch-size", "4", "--max-steps", "30", "--lr", "1e-2",
            "--min-lr", "1e-3", "--eval-interval", "0", "--eval-batches", "4", "--dtype", "fp32",
            "--device", "cpu", "--warmup-steps", "3",
        )  # fmt: skip
        assert rc == 0, stdout + err
        runs.append(str(out))
    rc, out, err = corpus_cli("plan", "--fit", *runs, "--plot", str(tmp_path / "fit.png"))
    assert rc == 0, err
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == runs
    assert lines[3].startswith("L(N) = ") and lines[4] == f"plot: {tmp_path / 'fit.png'}"
    assert (tmp_path / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
