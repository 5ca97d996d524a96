"""Runs the `corpus` command builds on: a small corpus of real Python source (one document,
a method of http/cookies.py, writes a literal <script> element, so reports must escape it) and a
few training steps on it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from cli_helpers import corpus_cli
from corpus_helpers import STDLIB

# Real text with a clear licence (the PSF licence): Python's own library sources, whole files and
# one method, Morsel.js_output of http/cookies.py, which writes a <script> element.
SOURCES = [
    "http/cookies.py:Morsel.js_output",
    "textwrap.py",
    "string.py",
    "heapq.py",
    "fractions.py",
    "difflib.py",
    "shlex.py",
]


def source_text(spec: str) -> str:
    name, _, qualname = spec.partition(":")
    text = (STDLIB / name).read_text("utf-8")
    if not qualname:
        return text
    node: ast.AST = ast.parse(text)
    for part in qualname.split("."):
        node = next(n for n in ast.iter_child_nodes(node) if getattr(n, "name", None) == part)
    segment = ast.get_source_segment(text, node)
    assert segment is not None
    return segment


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
        for spec in SOURCES:
            name = spec.partition(":")[0]
            url = f"https://github.com/python/cpython/blob/3.11/Lib/{name}"
            f.write(json.dumps({"id": f"Lib/{spec}", "url": url, "text": source_text(spec)}) + "\n")
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
        "--n-embd", "32", "--seq-len", "128", "--batch-size", "4", "--max-steps", "80",
        "--lr", "1e-2", "--min-lr", "1e-3", "--eval-interval", "40", "--eval-batches", "2",
        "--log-interval", "10", "--dtype", "fp32", "--device", "cpu", "--warmup-steps", "5",
    )  # fmt: skip
    assert rc == 0, stdout + err
    return out
