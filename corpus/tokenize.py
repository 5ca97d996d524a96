"""Tokenization with Hugging Face ``tokenizers``: train a byte-level BPE or load tokenizer.json.

Every document is encoded as ``[bos] + encode(text)``: the document-start token lets the trainer
find boundaries and is what llm.c's shards expect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from corpus.errors import InputError
from corpus.shards.format import token_dtype


def train_bpe(texts: Iterable[str], vocab_size: int, bos_token: str) -> Tokenizer:
    """Byte-level BPE (GPT-2 style pre-tokenisation, no unknown tokens) trained on ``texts``."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[bos_token],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


SAMPLE_BUCKET_BITS = 16
"""The tokenizer's training sample is chosen in 65,536 buckets of the 63-bit id hash."""


def sample_bucket(doc_id_hash: int) -> int:
    return doc_id_hash >> (63 - SAMPLE_BUCKET_BITS)


def sample_cutoff(bucket_bytes: dict[int, int], max_bytes: int) -> int:
    """How many of the lowest id-hash buckets the sample takes: as many as fit ``max_bytes``
    (at least the first non-empty one, so a tiny budget still trains on something)."""
    used, cutoff = 0, 0
    for bucket in sorted(bucket_bytes):
        if used + bucket_bytes[bucket] > max_bytes and used > 0:
            break
        used += bucket_bytes[bucket]
        cutoff = bucket + 1
    return cutoff


def load_tokenizer(data: str) -> Tokenizer:
    """A tokenizer from the JSON text of tokenizer.json."""
    return Tokenizer.from_str(data)


def tokenizer_identity(
    tokenizer_json: str, bos_token: str, file: str = "tokenizer.json", position: str = "start"
) -> dict[str, Any]:
    """What the manifest records so a trainer can refuse shards of another tokenizer."""
    tokenizer = load_tokenizer(tokenizer_json)
    bos_id = tokenizer.token_to_id(bos_token)
    if bos_id is None:
        raise InputError(f"{file}: the document-start token {bos_token!r} is not in the vocabulary")
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    specials = {t.content: i for i, t in tokenizer.get_added_tokens_decoder().items() if t.special}
    return {
        "file": file,
        "sha256": hashlib.sha256(tokenizer_json.encode("utf-8")).hexdigest(),
        "vocab_size": vocab_size,
        "bos_id": bos_id,
        "document_token": {"id": bos_id, "token": bos_token, "position": position},
        "special_tokens": {name: i for i, name in sorted((i, n) for n, i in specials.items())},
        "dtype": token_dtype(vocab_size).name,
    }


class DocumentEncoder:
    """Encodes batches of documents to token arrays that start with the document token."""

    def __init__(self, tokenizer_json: str, bos_token: str, position: str = "start") -> None:
        """``position``: the document token first (start) or last (end: Megatron's EOD)."""
        self.position = position
        self.tokenizer = load_tokenizer(tokenizer_json)
        bos_id = self.tokenizer.token_to_id(bos_token)
        if bos_id is None:
            raise InputError(f"document-start token {bos_token!r} is not in the vocabulary")
        self.bos_id = bos_id
        self.dtype = token_dtype(self.tokenizer.get_vocab_size(with_added_tokens=True))

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        encodings = self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        out = []
        for enc in encodings:
            ids = np.empty(len(enc.ids) + 1, dtype=self.dtype)
            if self.position == "start":
                ids[0] = self.bos_id
                ids[1:] = enc.ids
            else:
                ids[:-1] = enc.ids
                ids[-1] = self.bos_id
            out.append(ids)
        return out
