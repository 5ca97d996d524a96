from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.manifest import ManifestError, write_json_atomic
from corpus.shards.format import HEADER_BYTES
from trainer.config import ConfigError
from trainer.train import main
from trainer.verify import model_vocab_size, verify_run


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def edit_manifest(run: Path, edit) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((run / "manifest.json").read_text("utf-8"))
    edit(manifest)
    write_json_atomic(run / "manifest.json", manifest)


def test_an_intact_run_verifies(run_dir: Path) -> None:
    run = verify_run(run_dir)
    assert (run.vocab_size, run.bos_id) == (512, 0)
    assert run.tokenizer_path == run_dir / "tokenizer.json"
    assert [s["name"] for s in run.shards("val")] == ["val_000000"]


def test_one_changed_token_byte_is_refused(run_copy: Path) -> None:
    flip_byte(run_copy / "train_000001.bin", HEADER_BYTES + 101)
    with pytest.raises(ManifestError, match=r"train_000001\.bin: sha256 \w+ does not match"):
        verify_run(run_copy)


def test_one_changed_index_byte_is_refused(run_copy: Path) -> None:
    flip_byte(run_copy / "val_000000.idx", 40)
    with pytest.raises(ManifestError, match=r"val_000000\.idx: sha256"):
        verify_run(run_copy)


def test_another_tokenizer_file_is_refused(run_copy: Path) -> None:
    tokenizer = json.loads((run_copy / "tokenizer.json").read_text("utf-8"))
    tokenizer["model"]["merges"] = tokenizer["model"]["merges"][:-1]
    (run_copy / "tokenizer.json").write_text(json.dumps(tokenizer), "utf-8")
    with pytest.raises(ManifestError, match=r"tokenizer\.json: sha256 \w+ does not match"):
        verify_run(run_copy)


def test_manifest_vocabulary_must_match_the_tokenizer(run_copy: Path) -> None:
    edit_manifest(run_copy, lambda m: m["tokenizer"].update(vocab_size=8192))
    with pytest.raises(
        ManifestError, match=r"tokenizer\.json: vocabulary of 512 tokens, the manifest says 8192"
    ):
        verify_run(run_copy)


def test_manifest_special_ids_must_match_the_tokenizer(run_copy: Path) -> None:
    edit_manifest(run_copy, lambda m: m["tokenizer"].update(special_tokens={"<|endoftext|>": 1}))
    with pytest.raises(ManifestError, match=r"tokenizer\.json: special token '<\|endoftext\|>'"):
        verify_run(run_copy)


def test_shard_not_starting_with_bos_is_refused(run_copy: Path) -> None:
    from trainer.data import open_split

    # A consistent manifest that names another id as BOS: the shards contradict it.
    def claim_bos_is_one(m: dict) -> None:  # type: ignore[type-arg]
        m["tokenizer"].update(bos_id=1, special_tokens={})

    edit_manifest(run_copy, claim_bos_is_one)
    with pytest.raises(ManifestError, match=r"train_000000\.bin: first token is 0, not .* 1"):
        open_split(verify_run(run_copy), "train")


def test_missing_manifest_is_refused(run_copy: Path) -> None:
    (run_copy / "manifest.json").unlink()
    with pytest.raises(ManifestError, match=r"manifest\.json: no manifest"):
        verify_run(run_copy)


def test_model_vocabulary_must_hold_every_token() -> None:
    assert model_vocab_size(0, 512) == 512
    assert model_vocab_size(0, 8001) == 8064
    assert model_vocab_size(1024, 512) == 1024
    with pytest.raises(ConfigError, match="vocab_size 500 is smaller than the tokenizer's"):
        model_vocab_size(500, 512)


def test_a_run_without_train_shards_is_refused(
    run_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def only_val(m: dict) -> None:  # type: ignore[type-arg]
        m["shards"] = [s for s in m["shards"] if s["split"] == "val"]

    edit_manifest(run_copy, only_val)
    assert main(["--data", str(run_copy), "--out", str(tmp_path / "out")]) == 2
    assert "manifest.json: no shard of split 'train'" in capsys.readouterr().err


def test_cli_refuses_before_step_zero(
    run_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flip_byte(run_copy / "train_000000.bin", HEADER_BYTES)
    out = tmp_path / "out"
    assert main(["--data", str(run_copy), "--out", str(out), "--max-steps", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "train_000000.bin: sha256" in err
    assert not out.exists()
