"""Export a checkpoint as a Hugging Face ``transformers`` folder: safetensors weights, config,
and our tokenizer.json as a fast tokenizer, so the model loads anywhere (``AutoModelForCausalLM``,
``lm_eval``'s HFLM, vLLM, ...).

Our GPT maps onto two standard architectures without approximation:

- learned positions -> ``GPT2LMHeadModel`` (its Conv1D weights are our Linear weights transposed;
  exact GELU, ``activation_function="gelu"``; our LayerNorms have no bias: zeros);
- rotary positions -> ``GPTNeoXForCausalLM`` (sequential residual, rotary on the whole head with
  the same half-split pairing as ours; its fused QKV is ordered per head, ours q|k|v).

Biases it expects and we do not have are zeros. The vocabulary is trimmed to the tokenizer's
(the model pads it to a multiple of 64). ``transformers`` is an optional extra (``.[hf]``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from corpus.errors import InputError
from trainer.load import Trained, load_trained


class ExportError(InputError):
    """A checkpoint cannot be exported (a missing extra, a tokenizer without the document token)."""


def _zeros(n: int) -> torch.Tensor:
    return torch.zeros(n, dtype=torch.float32)


def gpt2_state(t: Trained) -> tuple[dict, dict[str, torch.Tensor]]:
    c, w, V = t.config, t.model.state_dict(), t.tokenizer_vocab
    C = c["n_embd"]
    config = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": V,
        "n_positions": c["seq_len"], "n_ctx": c["seq_len"], "n_embd": C, "n_layer": c["n_layer"],
        "n_head": c["n_head"], "n_inner": 4 * C, "activation_function": "gelu",
        "layer_norm_epsilon": 1e-5, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
        "tie_word_embeddings": True, "scale_attn_weights": True, "bos_token_id": t.bos_id,
        "eos_token_id": t.bos_id,
    }  # fmt: skip
    out = {
        "transformer.wte.weight": w["tok_emb.weight"][:V],
        "transformer.wpe.weight": w["pos_emb.weight"],
        "transformer.ln_f.weight": w["ln_f.weight"],
        "transformer.ln_f.bias": _zeros(C),
    }
    for i in range(c["n_layer"]):
        ours, theirs = f"blocks.{i}.", f"transformer.h.{i}."
        out |= {
            theirs + "ln_1.weight": w[ours + "ln_1.weight"],
            theirs + "ln_1.bias": _zeros(C),
            theirs + "ln_2.weight": w[ours + "ln_2.weight"],
            theirs + "ln_2.bias": _zeros(C),
            theirs + "attn.c_attn.weight": w[ours + "attn.qkv.weight"].T,
            theirs + "attn.c_attn.bias": _zeros(3 * C),
            theirs + "attn.c_proj.weight": w[ours + "attn.proj.weight"].T,
            theirs + "attn.c_proj.bias": _zeros(C),
            theirs + "mlp.c_fc.weight": w[ours + "mlp.fc.weight"].T,
            theirs + "mlp.c_fc.bias": _zeros(4 * C),
            theirs + "mlp.c_proj.weight": w[ours + "mlp.proj.weight"].T,
            theirs + "mlp.c_proj.bias": _zeros(C),
        }
    return config, out


def neox_state(t: Trained) -> tuple[dict, dict[str, torch.Tensor]]:
    c, w, V = t.config, t.model.state_dict(), t.tokenizer_vocab
    C, H = c["n_embd"], c["n_head"]
    D = C // H
    config = {
        "architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "vocab_size": V,
        "hidden_size": C, "num_hidden_layers": c["n_layer"], "num_attention_heads": H,
        "intermediate_size": 4 * C, "hidden_act": "gelu", "max_position_embeddings": c["seq_len"],
        "layer_norm_eps": 1e-5, "use_parallel_residual": False, "tie_word_embeddings": False,
        "attention_bias": True, "attention_dropout": 0.0, "hidden_dropout": 0.0,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 1.0},
        "rotary_pct": 1.0, "rotary_emb_base": 10000.0, "bos_token_id": t.bos_id, "eos_token_id": t.bos_id,
    }  # fmt: skip
    out = {
        "gpt_neox.embed_in.weight": w["tok_emb.weight"][:V],
        "gpt_neox.final_layer_norm.weight": w["ln_f.weight"],
        "gpt_neox.final_layer_norm.bias": _zeros(C),
        "embed_out.weight": w["lm_head.weight"][:V],
    }
    for i in range(c["n_layer"]):
        ours, theirs = f"blocks.{i}.", f"gpt_neox.layers.{i}."
        q, k, v = w[ours + "attn.qkv.weight"].split(C, dim=0)  # (C, C) each, rows head by head
        per_head = torch.stack([x.view(H, D, C) for x in (q, k, v)], dim=1)  # (H, 3, D, C)
        out |= {
            theirs + "input_layernorm.weight": w[ours + "ln_1.weight"],
            theirs + "input_layernorm.bias": _zeros(C),
            theirs + "post_attention_layernorm.weight": w[ours + "ln_2.weight"],
            theirs + "post_attention_layernorm.bias": _zeros(C),
            theirs + "attention.query_key_value.weight": per_head.reshape(3 * C, C),
            theirs + "attention.query_key_value.bias": _zeros(3 * C),
            theirs + "attention.dense.weight": w[ours + "attn.proj.weight"],
            theirs + "attention.dense.bias": _zeros(C),
            theirs + "mlp.dense_h_to_4h.weight": w[ours + "mlp.fc.weight"],
            theirs + "mlp.dense_h_to_4h.bias": _zeros(4 * C),
            theirs + "mlp.dense_4h_to_h.weight": w[ours + "mlp.proj.weight"],
            theirs + "mlp.dense_4h_to_h.bias": _zeros(C),
        }
    return config, out


def export_hf(checkpoint: str | os.PathLike, out: str | os.PathLike, data: str | None = None) -> Path:
    """Write the folder; return its path. The tokenizer is our tokenizer.json, wrapped as a
    ``PreTrainedTokenizerFast`` whose BOS, EOS and padding token is the document token."""
    try:
        from safetensors.torch import save_file
        from transformers import PreTrainedTokenizerFast
    except ImportError as e:
        raise ExportError(f"export needs the hf extra: pip install -e '.[hf]' ({e})") from e
    trained = load_trained(checkpoint, data)
    position = trained.config.get("position", "learned")
    config, weights = gpt2_state(trained) if position == "learned" else neox_state(trained)
    if trained.doc_at_end:
        config["bos_token_id"] = None  # the token ends documents (Megatron's EOD): EOS only
    config.update({"torch_dtype": "float32", "dtype": "float32", "transformers_version": _version()})
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in weights.items()}
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", "utf-8")
    (folder / "generation_config.json").write_text(
        json.dumps({"bos_token_id": config["bos_token_id"], "eos_token_id": trained.bos_id,
                    "pad_token_id": trained.bos_id}, indent=2) + "\n", "utf-8",
    )  # fmt: skip
    token = _token_text(trained)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(trained.tokenizer_path), bos_token=token, eos_token=token, pad_token=token,
        model_max_length=trained.config["seq_len"],
    )  # fmt: skip
    tokenizer.save_pretrained(str(folder))
    return folder


def _token_text(trained: Trained) -> str:
    from tokenizers import Tokenizer

    text = Tokenizer.from_file(str(trained.tokenizer_path)).id_to_token(trained.bos_id)
    if text is None:
        raise ExportError(f"{trained.tokenizer_path}: no token with the document token's id {trained.bos_id}")
    return text


def _version() -> str:
    import transformers

    return transformers.__version__
