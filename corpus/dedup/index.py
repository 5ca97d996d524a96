"""A near-duplicate index one can query and grow: ``datasketch.MinHashLSH`` over our signatures.

For single-machine, incremental or cross-dataset dedup: index a corpus once, then check each new
batch against it (and against itself) and add what survives::

    index = NearDuplicateIndex(NearDedupConfig())
    index.add(["a", "b"], [text_a, text_b])
    kept, removed = index.deduplicate(["c", "d"], [text_c, text_d])   # removed: {"d": "a"}
    index.save("corpus.lsh")   # NearDuplicateIndex.load("corpus.lsh") later

The signatures are the pipeline's own (``corpus.dedup.minhash``, equal to datasketch's
``MinHash``) and the LSH bands the same. Decisions differ from the Beam stage in two ways:
candidates are decided by the signatures' estimated Jaccard at ``config.threshold`` (the index
keeps no shingle sets), and a new document is checked against what is already indexed, first
come first kept, rather than clusters choosing by ``keep``. ``storage_config``
is passed to ``MinHashLSH`` (e.g. ``{"type": "redis", ...}``); the signatures kept for verification
live in this object and are saved with it.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datasketch import LeanMinHash, MinHashLSH

from corpus.config import NearDedupConfig
from corpus.dedup import minhash
from corpus.dedup.shingles import shingle_hashes
from corpus.errors import InputError

_FORMAT = 1


class NearDuplicateIndex:
    def __init__(self, config: NearDedupConfig, storage_config: dict[str, Any] | None = None) -> None:
        self.config = config
        bands, rows = config.lsh_shape()
        self.lsh = MinHashLSH(
            num_perm=config.num_perm,
            params=(bands, rows),
            storage_config=storage_config or {"type": "dict"},
        )
        self.signatures: dict[str, np.ndarray] = {}
        self.keys: set[str] = set()
        """Every key added, including documents without a word (never candidates)."""

    def __len__(self) -> int:
        return len(self.keys)

    def minhashes(self, texts: Sequence[str]) -> list[LeanMinHash | None]:
        """datasketch ``LeanMinHash`` per text (None for a text without a single word)."""
        hashes, offsets = shingle_hashes(texts, self.config.ngram, self.config.shingle)
        sigs = minhash.signatures(hashes, offsets, self.config.num_perm, self.config.seed)
        present = np.diff(offsets) > 0
        return [
            LeanMinHash(seed=self.config.seed, hashvalues=s, scheme="affine32") if p else None
            for s, p in zip(sigs, present, strict=True)
        ]

    def add(self, keys: Sequence[str], texts: Sequence[str]) -> None:
        """Index documents as they are (no dedup); keys must be new."""
        with self.lsh.insertion_session() as session:
            for key, m in zip(keys, self.minhashes(texts), strict=True):
                if key in self.keys:
                    raise ValueError(f"key {key!r} is already in the index")
                self.keys.add(key)
                if m is not None:
                    session.insert(key, m)
                    self.signatures[key] = m.hashvalues

    def query(self, text: str) -> list[tuple[str, float]]:
        """Indexed documents whose estimated Jaccard with ``text`` reaches the threshold, best first."""
        (m,) = self.minhashes([text])
        return [] if m is None else self._matches(m)

    def _matches(self, m: LeanMinHash) -> list[tuple[str, float]]:
        found = []
        for key in self.lsh.query(m):
            sim = minhash.estimated_jaccard(self.signatures[key], m.hashvalues)
            if sim >= self.config.threshold:
                found.append((key, sim))
        return sorted(found, key=lambda kv: (-kv[1], kv[0]))

    def deduplicate(self, keys: Sequence[str], texts: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        """Check a new batch against the index and itself, in order; add the survivors.

        Returns (kept keys, {removed key: key of the indexed document it duplicates})."""
        kept: list[str] = []
        removed: dict[str, str] = {}
        for key, m in zip(keys, self.minhashes(texts), strict=True):
            if key in self.keys:
                raise ValueError(f"key {key!r} is already in the index")
            matches = [] if m is None else self._matches(m)
            if matches:
                removed[key] = matches[0][0]
                continue
            kept.append(key)
            self.keys.add(key)
            if m is not None:
                self.lsh.insert(key, m)
                self.signatures[key] = m.hashvalues
        return kept, removed

    def save(self, path: str | Path) -> None:
        tmp = Path(f"{path}.tmp")
        with open(tmp, "wb") as f:
            pickle.dump({"format": _FORMAT, "index": self}, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)

    @staticmethod
    def load(path: str | Path) -> NearDuplicateIndex:
        with open(path, "rb") as f:
            data = pickle.load(f)
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise InputError(f"{path}: not a near-duplicate index of format {_FORMAT}")
        return data["index"]
