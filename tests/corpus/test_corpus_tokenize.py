"""corpus/tokenize.py: a byte-level BPE trained on real multilingual text."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from corpus_helpers import STDLIB
from tokenizers import Tokenizer

from corpus.tokenize import DocumentEncoder, load_tokenizer, tokenizer_identity, train_bpe

BOS = "<|endoftext|>"
PAGES = ["ch01.de.html#_console_basics", "ch01.fr.html#_console_basics", "ch01.ja.html#_console_basics"]


@pytest.fixture(scope="module")
def texts(page_text) -> list[str]:
    return [(STDLIB / "LICENSE.txt").read_text("utf-8"), *(page_text(p) for p in PAGES)]


@pytest.fixture(scope="module")
def tokenizer_json(texts: list[str]) -> str:
    return train_bpe(texts, 600, BOS).to_str()


def test_training_twice_gives_byte_identical_json(texts: list[str], tokenizer_json: str) -> None:
    again = train_bpe(iter(texts), 600, BOS).to_str()
    assert again.encode() == tokenizer_json.encode()


def test_vocabulary_and_specials(tokenizer_json: str) -> None:
    tokenizer = load_tokenizer(tokenizer_json)
    assert tokenizer.get_vocab_size(with_added_tokens=True) == 600
    assert tokenizer.token_to_id(BOS) == 0
    data = json.loads(tokenizer_json)
    assert data["model"]["type"] == "BPE"
    assert (data["pre_tokenizer"]["type"], data["pre_tokenizer"]["add_prefix_space"]) == ("ByteLevel", False)
    assert data["decoder"]["type"] == "ByteLevel"


def test_round_trip_multilingual(tokenizer_json: str, texts: list[str], paragraphs: dict[str, str]) -> None:
    tokenizer = Tokenizer.from_str(tokenizer_json)
    encoder = DocumentEncoder(tokenizer_json, BOS)
    # Including text the tokenizer never saw (Italian, Spanish pages are not in its training set)
    # and characters outside it (the byte alphabet covers every byte).
    samples = [*texts, *paragraphs.values(), "🐧 Debian\u00a0GNU/Linux\t\u3000第10章\n\n\n  "]
    for text, ids in zip(samples, encoder.encode(samples), strict=True):
        assert ids[0] == encoder.bos_id
        assert BOS not in tokenizer.decode(ids[1:].tolist(), skip_special_tokens=False)
        assert tokenizer.decode(ids[1:].tolist()) == text


def test_every_document_starts_with_bos_and_uses_uint16(
    tokenizer_json: str, paragraphs: dict[str, str]
) -> None:
    encoder = DocumentEncoder(tokenizer_json, BOS)
    out = encoder.encode([paragraphs["de"], "", paragraphs["ja"]])
    assert [a.dtype for a in out] == [np.dtype(np.uint16)] * 3
    assert [int(a[0]) for a in out] == [0, 0, 0]
    np.testing.assert_array_equal(out[1], np.array([0], dtype=np.uint16))  # empty text: BOS only
    assert all(0 not in a[1:] for a in out)  # BOS never appears inside a document


def test_tokenizer_identity(tokenizer_json: str) -> None:
    assert tokenizer_identity(tokenizer_json, BOS) == {
        "file": "tokenizer.json",
        "sha256": hashlib.sha256(tokenizer_json.encode("utf-8")).hexdigest(),
        "vocab_size": 600,
        "bos_id": 0,
        "document_token": {"id": 0, "token": BOS, "position": "start"},
        "special_tokens": {BOS: 0},
        "dtype": "uint16",
    }
    assert tokenizer_identity(tokenizer_json, BOS, position="end")["document_token"]["position"] == "end"


def test_unknown_bos_token_is_an_error_naming_the_file(tokenizer_json: str) -> None:
    with pytest.raises(
        ValueError, match=r"^run/tokenizer.json: the document-start token '<s>' is not in the vocabulary$"
    ):
        tokenizer_identity(tokenizer_json, "<s>", file="run/tokenizer.json")
    with pytest.raises(ValueError, match="document-start token '<s>' is not in the vocabulary"):
        DocumentEncoder(tokenizer_json, "<s>")


def test_large_vocabulary_needs_uint32(texts: list[str]) -> None:
    # A vocabulary above 65,536 ids needs uint32 shards; pad it with added tokens, not training.
    tokenizer = train_bpe(texts[:1], 300, BOS)
    tokenizer.add_tokens([f"<extra_{i}>" for i in range(65_300)])
    identity = tokenizer_identity(tokenizer.to_str(), BOS)
    assert (identity["vocab_size"], identity["dtype"]) == (65_600, "uint32")
    assert DocumentEncoder(tokenizer.to_str(), BOS).encode(["<extra_65299>"])[0].tolist() == [0, 65_599]
