"""Runs the `corpus` command builds on: a small corpus of real Python source files (one of them,
http/cookies.py, holds a literal <script> element, so reports must escape it) and a few training
steps on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import corpus_cli
from corpus_helpers import STDLIB

# Real text with a clear licence (the PSF licence): Python's own library sources.
SOURCES = [
    "http/cookies.py",
    "textwrap.py",
    "string.py",
    "heapq.py",
    "fractions.py",
    "difflib.py",
    "shlex.py",
]

CONFIG = """name = "code"
[language]
languages = []
min_score = 0.0
[quality]
preset = "minimal"
[tokenizer]
vocab_size = 512
[shard]
val_fraction = 0.3
"""


@pytest.fixture(scope="session")
def code_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("code")
    with open(root / "code.jsonl", "w", encoding="utf-8") as f:
        for name in SOURCES:
            text = (STDLIB / name).read_text("utf-8")
            url = f"https://github.com/python/cpython/blob/3.11/Lib/{name}"
            f.write(json.dumps({"id": f"Lib/{name}", "url": url, "text": text}) + "\n")
    (root / "code.toml").write_text(CONFIG, "utf-8")
    rc, out, err = corpus_cli(
        "build",
        "--input",
        str(root / "code.jsonl"),
        "--output",
        str(root / "out"),
        "--config",
        str(root / "code.toml"),
    )
    assert rc == 0, out + err
    return root / "out" / "code"


@pytest.fixture(scope="session")
def code_training(code_corpus: Path) -> Path:
    out = code_corpus.parent.parent / "runs" / "code"
    rc, stdout, err = corpus_cli(
        "train", "--data", str(code_corpus), "--out", str(out), "--n-layer", "1", "--n-head", "2",
        "--n-embd", "32", "--seq-len", "32", "--batch-size", "4", "--max-steps", "6",
        "--eval-interval", "3", "--eval-batches", "2", "--log-interval", "1", "--dtype", "fp32",
        "--device", "cpu", "--warmup-steps", "2",
    )  # fmt: skip
    assert rc == 0, stdout + err
    return out
