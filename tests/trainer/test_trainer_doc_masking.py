"""Document masking: a packed window scores each document exactly as if it ran alone."""

from __future__ import annotations

import pytest
import torch

from trainer.model import GPT, GPTConfig


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
@pytest.mark.parametrize("attention", ["sdpa", "flex"])
@pytest.mark.parametrize("position", ["learned", "rope"])
def test_packed_and_masked_logits_equal_each_document_alone(position: str, attention: str) -> None:
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(vocab_size=64, seq_len=32, n_layer=2, n_head=2, n_embd=32, position=position)
    ).eval()
    model.doc_bos, model.attention = 0, attention
    tail = torch.randint(1, 64, (5,))  # the end of a document that began before the window
    a = torch.cat([torch.tensor([0]), torch.randint(1, 64, (9,))])
    b = torch.cat([torch.tensor([0]), torch.randint(1, 64, (13,))])
    packed = torch.cat([tail, a, b]).unsqueeze(0)  # (1, 28)
    with torch.no_grad():
        logits, _ = model(packed)
        alone = [model(part.unsqueeze(0))[0] for part in (tail, a, b)]
    torch.testing.assert_close(logits, torch.cat(alone, dim=1), atol=1e-5, rtol=1e-5)
    model.doc_bos = None  # unmasked, b sees a: its logits change
    with torch.no_grad():
        plain, _ = model(packed)
    assert not torch.allclose(plain[:, -len(b) :], alone[2], atol=1e-3)


def test_masked_rows_batch_independently() -> None:
    torch.manual_seed(1)
    model = GPT(GPTConfig(vocab_size=64, seq_len=16, n_layer=1, n_head=2, n_embd=16, position="rope")).eval()
    model.doc_bos = 0
    rows = torch.randint(0, 64, (3, 16))
    with torch.no_grad():
        together, _ = model(rows)
        one_by_one = torch.cat([model(r.unsqueeze(0))[0] for r in rows])
    torch.testing.assert_close(together, one_by_one, atol=1e-5, rtol=1e-5)


def test_the_trainer_trains_with_document_masking(tiny_config) -> None:
    from trainer.train import train

    summary = train(tiny_config(doc_masking=True, position="rope", max_steps=24))
    assert summary["final_train_loss"] < summary["loss_step0"] - 0.25
    assert summary["config"]["doc_masking"] is True


def test_end_of_document_tokens_mask_the_same_way() -> None:
    """Megatron's convention: the token ends each document, the next one starts after it."""
    torch.manual_seed(2)
    model = GPT(GPTConfig(vocab_size=64, seq_len=32, n_layer=2, n_head=2, n_embd=32, position="rope")).eval()
    model.doc_bos, model.doc_at_end = 0, True
    a = torch.cat([torch.randint(1, 64, (9,)), torch.tensor([0])])
    b = torch.cat([torch.randint(1, 64, (12,)), torch.tensor([0])])
    with torch.no_grad():
        packed, _ = model(torch.cat([a, b]).unsqueeze(0))
        alone = torch.cat([model(x.unsqueeze(0))[0] for x in (a, b)], dim=1)
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=1e-5)


def test_a_run_with_end_of_document_tokens_trains(run_dir, tmp_path, tiny_config) -> None:
    import json
    import shutil

    import numpy as np

    from corpus.manifest import build_manifest, shard_entry, write_json_atomic
    from corpus.shards.format import read_header, write_shard_files
    from trainer.data import TrainBatches, open_split
    from trainer.train import train
    from trainer.verify import verify_run

    out = tmp_path / "eod"
    out.mkdir()
    shutil.copy(run_dir / "tokenizer.json", out)
    manifest = json.loads((run_dir / "manifest.json").read_text("utf-8"))
    bos, dtype = manifest["tokenizer"]["bos_id"], np.dtype(manifest["tokenizer"]["dtype"])
    entries = []
    for shard in manifest["shards"]:
        tokens = np.asarray(open_split(verify_run(run_dir), shard["split"])[0].tokens, dtype=np.int64)
        starts = [*np.flatnonzero(tokens == bos).tolist(), len(tokens)]
        docs = [np.append(tokens[a + 1 : b], bos) for a, b in zip(starts[:-1], starts[1:], strict=True)]
        write_shard_files(out / f"{shard['name']}.bin", docs, dtype, position="end")
        entries.append(shard_entry(out, shard["name"], shard["split"]))
    info = {
        **manifest["tokenizer"],
        "document_token": {"id": bos, "token": "<|endoftext|>", "position": "end"},
    }
    write_json_atomic(out / "manifest.json", build_manifest(info, {"source": "test"}, entries))
    assert read_header(out / "val_000000.bin").document_position == "end"
    run = verify_run(out)
    assert run.doc_at_end
    aligned = TrainBatches(open_split(run, "train"), 4, 32, seed=1, bos_aligned=bos, doc_at_end=True)
    x, _ = aligned.batch(0)
    shard_ids, starts = aligned.positions(0, 4)
    for i, s in zip(shard_ids.tolist(), starts.tolist(), strict=True):  # each window starts a document
        assert s == 0 or int(aligned.shards[i].tokens[s - 1]) == bos
    summary = train(tiny_config(data=str(out), doc_masking=True, bos_aligned=True, max_steps=24))
    assert summary["final_train_loss"] < summary["loss_step0"] - 0.25


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_flex_attention_scores_as_sdpa() -> None:
    """FlexAttention's block mask (what CUDA runs) and SDPA's dense mask give the same logits and
    loss on packed rows of several documents (on CPU: FlexAttention's reference path, forward
    only: it has no CPU backward, so training with it is refused off CUDA)."""
    torch.manual_seed(3)
    config = GPTConfig(vocab_size=64, seq_len=64, n_layer=2, n_head=4, n_embd=32, position="rope")
    rows = torch.randint(1, 64, (3, 64))
    rows[:, [0, 17, 40]] = 0  # documents of 17, 23 and 24 tokens
    rows[1, 5] = 0
    targets = torch.randint(0, 64, (3, 64))
    model = GPT(config).eval()
    model.doc_bos = 0
    results = {}
    for attention in ("sdpa", "flex"):
        model.attention = attention
        with torch.no_grad():
            results[attention] = model(rows, targets)
    torch.testing.assert_close(results["flex"][0], results["sdpa"][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(results["flex"][1], results["sdpa"][1], atol=1e-6, rtol=1e-6)


def test_flex_attention_is_refused_for_training_off_cuda(tiny_config) -> None:
    from trainer.config import ConfigError
    from trainer.train import train

    with pytest.raises(ConfigError, match="attention = flex"):
        train(tiny_config(doc_masking=True, attention="flex", max_steps=2))
