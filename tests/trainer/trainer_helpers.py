"""A small pipeline run directory built from real text: Python's LICENSE and stdlib docstrings.

Layout and files are what the pipeline writes: train/val shards through corpus.shards.format, a
byte-level BPE tokenizer.json, and manifest.json through corpus.manifest. The trainer tests'
fixtures (conftest.py) build it; tests that need its texts or tokenizer import them from here
(a module named conftest is ambiguous when several test folders have one).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import numpy as np

from corpus.manifest import build_manifest, sha256_file, shard_entry, write_json_atomic
from corpus.shards.format import token_dtype, write_shard_files

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
    config = {"source": "tests/trainer/trainer_helpers.py", "splits": {k: v[1] for k, v in SPLITS.items()}}
    write_json_atomic(directory / "manifest.json", build_manifest(tokenizer_info, config, entries))
    return directory
