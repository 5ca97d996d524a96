"""Train a small supervised fastText model in numpy and write it in fastText's binary format, so
tests can load it with fasttext-predict (which predicts but cannot train).

The model is fastText's supervised one with ``wordNgrams=1, minn=maxn=0``: a document's hidden
vector is the mean of its words' input vectors (plus the end-of-line token ``</s>``), and the
label probabilities are ``softmax(W @ hidden)``. Format (fastText 0.9, version 12): magic and
version, the arguments, the dictionary (words then labels), the input matrix, the output matrix.
"""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import numpy as np

EOS = "</s>"


def _tokens(text: str) -> list[str]:
    return text.split() + [EOS]  # fastText splits on whitespace; a line ends with </s>


def train(
    texts: list[str], labels: list[str], dim: int = 16, epochs: int = 200, lr: float = 2.0, seed: int = 0
):
    """Full-batch gradient descent on softmax cross-entropy; returns what ``save`` needs."""
    counts = Counter(t for text in texts for t in _tokens(text))
    vocab = sorted(counts)
    index = {w: i for i, w in enumerate(vocab)}
    label_names = sorted(set(labels))
    y = np.array([label_names.index(label) for label in labels])
    a = np.zeros((len(texts), len(vocab)), dtype=np.float32)
    for row, text in enumerate(texts):
        ids = [index[t] for t in _tokens(text)]
        np.add.at(a[row], ids, 1.0 / len(ids))
    rng = np.random.default_rng(seed)
    emb = rng.uniform(-1 / dim, 1 / dim, size=(len(vocab), dim)).astype(np.float32)
    out = np.zeros((len(label_names), dim), dtype=np.float32)
    onehot = np.eye(len(label_names), dtype=np.float32)[y]
    for _ in range(epochs):
        hidden = a @ emb
        logits = hidden @ out.T
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        grad_logits = (p - onehot) / len(texts)
        grad_out = grad_logits.T @ hidden
        grad_emb = a.T @ (grad_logits @ out)
        out -= lr * grad_out
        emb -= lr * grad_emb
    return vocab, counts, label_names, Counter(labels), emb, out


def save(
    path: str | Path, vocab, counts, label_names, label_counts, emb: np.ndarray, out: np.ndarray
) -> None:
    dim = emb.shape[1]
    with open(path, "wb") as f:
        f.write(struct.pack("<ii", 793712314, 12))
        # dim, ws, epoch, minCount, neg, wordNgrams, loss=softmax(3), model=sup(3), bucket, minn,
        # maxn, lrUpdateRate, t
        f.write(struct.pack("<12id", dim, 5, 1, 1, 5, 1, 3, 3, 0, 0, 0, 100, 1e-4))
        entries = [(w, counts[w], 0) for w in vocab] + [
            (f"__label__{n}", label_counts[n], 1) for n in label_names
        ]
        ntokens = sum(c for _, c, _ in entries)
        f.write(struct.pack("<iiiqq", len(entries), len(vocab), len(label_names), ntokens, -1))
        for word, count, kind in entries:
            f.write(word.encode("utf-8") + b"\0" + struct.pack("<qb", count, kind))
        f.write(struct.pack("<?", False))
        f.write(struct.pack("<qq", *emb.shape) + emb.astype("<f4").tobytes())
        f.write(struct.pack("<?", False))
        f.write(struct.pack("<qq", *out.shape) + out.astype("<f4").tobytes())
