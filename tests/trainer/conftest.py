"""A small pipeline run directory built from real text: Python's LICENSE and stdlib docstrings.

Layout and files are what the pipeline writes: train/val shards through corpus.shards, a
byte-level BPE tokenizer.json, and manifest.json through corpus.manifest.
"""

from __future__ import annotations

import ast
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from corpus.manifest import build_manifest, sha256_file, shard_entry, write_json_atomic
from corpus.shards import token_dtype, write_shard_files
from trainer.config import TrainConfig

STDLIB = Path(sys.base_prefix, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}")
BOS = "<|endoftext|>"
# Which real texts go where: two train shards so sampling across shards is exercised.
SPLITS = {
    "train_000000": ("train", ["LICENSE.txt", "textwrap.py", "argparse.py"]),
    "train_000001": ("train", ["json/__init__.py", "difflib.py"]),
    "val_000000": ("val", ["heapq.py", "fractions.py"]),
}


def documents(name: str) -> list[str]:
    """LICENSE.txt split at its blank-line-separated sections; a module's docstrings, one each."""
    text = (STDLIB / name).read_text("utf-8")
    if name.endswith(".txt"):
        return [part.strip() for part in text.split("\n\n\n") if part.strip()]
    tree = ast.parse(text)
    nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docs = [ast.get_docstring(n) for n in ast.walk(tree) if isinstance(n, nodes)]
    return [d for d in docs if d and d.strip()]


def train_tokenizer(texts: list[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=[BOS],  # first special token: id 0
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def build_run(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    texts = {shard: [d for f in files for d in documents(f)] for shard, (_, files) in SPLITS.items()}
    tokenizer = train_tokenizer([t for docs in texts.values() for t in docs])
    tokenizer.save(str(directory / "tokenizer.json"))
    vocab_size = tokenizer.get_vocab_size()
    bos_id = tokenizer.token_to_id(BOS)
    assert bos_id == 0
    dtype = token_dtype(vocab_size)
    entries = []
    for shard, (split, _) in SPLITS.items():
        encoded = tokenizer.encode_batch(texts[shard])
        docs = [np.array([bos_id, *e.ids], dtype=np.int64) for e in encoded]
        write_shard_files(directory / f"{shard}.bin", docs, dtype)
        entries.append(shard_entry(directory, shard, split))
    tokenizer_info = {
        "file": "tokenizer.json",
        "sha256": sha256_file(directory / "tokenizer.json"),
        "vocab_size": vocab_size,
        "bos_id": bos_id,
        "special_tokens": {BOS: bos_id},
        "dtype": dtype.name,
    }
    config = {"source": "tests/trainer/conftest.py", "splits": {k: v[1] for k, v in SPLITS.items()}}
    write_json_atomic(directory / "manifest.json", build_manifest(tokenizer_info, config, entries))
    return directory


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session; tests that change files use ``run_copy``."""
    return build_run(tmp_path_factory.mktemp("pipeline") / "run")


@pytest.fixture
def run_copy(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


@pytest.fixture
def tiny_config(run_dir: Path, tmp_path: Path) -> Callable[..., TrainConfig]:
    """A model small enough for a few CPU steps in well under a second each."""

    def make(**overrides: Any) -> TrainConfig:
        values: dict[str, Any] = {
            "data": str(run_dir),
            "out": str(tmp_path / "out"),
            "n_layer": 2,
            "n_head": 2,
            "n_embd": 32,
            "seq_len": 32,
            "batch_size": 4,
            "lr": 3e-3,
            "min_lr": 3e-4,
            "warmup_steps": 2,
            "max_steps": 6,
            "eval_interval": 3,
            "eval_batches": 2,
            "log_interval": 1,
            "checkpoint_interval": 3,
            "dtype": "fp32",
            "device": "cpu",
        }
        values.update(overrides)
        return TrainConfig(**values)

    return make
