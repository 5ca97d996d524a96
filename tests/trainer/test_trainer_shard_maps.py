"""Any number of shards within the file-descriptor limit: a run of 5,000 shards trains under
`ulimit -n 256`, each map opened when first read and the least recently used closed."""

from __future__ import annotations

import errno
import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from trainer_helpers import BOS, SPLITS, documents, train_tokenizer

from corpus.errors import InputError
from corpus.manifest import build_manifest, sha256_file, shard_entry, write_json_atomic
from corpus.shards.format import token_dtype, write_shard_files
from trainer.shard_maps import LazyTokens, MapPool

SHARDS = 5000


def many_shards(directory: Path, count: int) -> Path:
    """The tests' real documents (stdlib docstrings, Python's licence) dealt round-robin into
    ``count`` train shards, and a val shard of the val documents."""
    directory.mkdir(parents=True)
    texts = {split: [d for f in files for d in documents(f)] for split, files in SPLITS.values()}
    tokenizer = train_tokenizer([t for docs in texts.values() for t in docs])
    tokenizer.save(str(directory / "tokenizer.json"))
    bos = tokenizer.token_to_id(BOS)
    dtype = token_dtype(tokenizer.get_vocab_size())
    encode = lambda docs: [np.array([bos, *e.ids], dtype=np.int64) for e in tokenizer.encode_batch(docs)]  # noqa: E731
    train = encode(texts["train"])
    entries = []
    for i in range(count):
        name = f"train_{i:06d}"
        write_shard_files(
            directory / f"{name}.bin", [train[i % len(train)], train[(i + 7) % len(train)]], dtype
        )
        entries.append(shard_entry(directory, name, "train"))
    write_shard_files(directory / "val_000000.bin", encode(texts["val"]), dtype)
    entries.append(shard_entry(directory, "val_000000", "val"))
    info = {"file": "tokenizer.json", "sha256": sha256_file(directory / "tokenizer.json"),
            "vocab_size": tokenizer.get_vocab_size(), "bos_id": bos, "special_tokens": {BOS: bos},
            "dtype": dtype.name}  # fmt: skip
    write_json_atomic(directory / "manifest.json", build_manifest(info, {"source": __file__}, entries))
    return directory


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def test_five_thousand_shards_train_under_ulimit_256(tmp_path: Path) -> None:
    run = many_shards(tmp_path / "run", SHARDS)
    out = tmp_path / "out"
    argv = ["--data", str(run), "--out", str(out), "--n-layer", "1", "--n-head", "2", "--n-embd", "32",
            "--seq-len", "32", "--batch-size", "8", "--max-steps", "3", "--eval-interval", "0",
            "--eval-batches", "2", "--device", "cpu", "--dtype", "fp32"]  # fmt: skip
    command = [sys.executable, "-m", "trainer.train", *argv]
    done = subprocess.run(command, capture_output=True, text=True, preexec_fn=_limit_descriptors, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text("utf-8"))
    assert summary["steps"] == 3 and summary["final_val_loss"] > 0
    assert f"train: {SHARDS} shards" in done.stdout
    # Shards too short for one window are counted, not left out silently.
    short = [
        e for e in json.loads((run / "manifest.json").read_text("utf-8"))["shards"]
        if e["split"] == "train" and e["tokens"] <= 32
    ]  # fmt: skip
    assert summary["unused_tokens"]["train"] == {
        "shards": [e["name"] for e in short], "tokens": sum(e["tokens"] for e in short)
    }  # fmt: skip


def test_the_pool_keeps_at_most_its_limit_open(run_dir: Path) -> None:
    pool = MapPool(limit=2)
    paths = sorted(run_dir.glob("*.bin"))
    from corpus.shards.format import open_tokens

    views = [LazyTokens(p, 0, lambda p=p: open_tokens(p), pool) for p in paths]
    first = [int(v[0]) for v in views] + [int(v[0]) for v in views]
    assert first == [0] * 6 and pool.opened == 6 and len(pool._open) == 2  # reopened after eviction
    assert np.array_equal(np.asarray(views[0]), open_tokens(paths[0]))


def test_out_of_descriptors_is_one_line_naming_the_shard(tmp_path: Path) -> None:
    def no_descriptor_left() -> np.ndarray:
        raise OSError(errno.EMFILE, "Too many open files")

    with pytest.raises(
        InputError, match=r"train_000001\.bin: cannot be opened, the process has no file descriptor"
    ):
        LazyTokens(tmp_path / "train_000001.bin", 10, no_descriptor_left, MapPool(4))[0]
