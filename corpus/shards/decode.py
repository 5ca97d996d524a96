"""``corpus shards decode``: one document of a run's shards back to text, found by its id, by
shard and position, or by a token offset inside a shard; with its source URL from the shard's
lineage file (``*.docs.parquet``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.errors import InputError
from corpus.manifest import load_manifest
from corpus.shards.format import open_tokens, read_index


@dataclass(frozen=True)
class Decoded:
    shard: str
    position: int
    """The document's number in its shard."""
    token_offset: int
    """Its first token, counted from the shard's first token."""
    id: str | None
    url: str | None
    tokens: np.ndarray
    text: str


def _shard_entry(manifest: dict, name: str) -> dict:
    for shard in manifest["shards"]:
        if name in (shard["name"], shard["bin"], shard["idx"]):
            return shard
    names = ", ".join(s["name"] for s in manifest["shards"][:5])
    raise InputError(f"no shard {name!r} in the manifest (shards: {names}, ...)")


def find_id(directory: Path, manifest: dict, doc_id: str) -> tuple[str, int]:
    """(shard name, position) of a document id, from the lineage files."""
    for shard in manifest["shards"]:
        if not shard.get("docs"):
            continue
        ids = pq.read_table(directory / shard["docs"], columns=["id"]).column("id")
        hit = pc.index(ids, doc_id).as_py()
        if hit >= 0:
            return shard["name"], hit
    raise InputError(
        f"no document with id {doc_id!r} in the shards of {directory} (rejected or deduplicated?)"
    )


def decode(
    directory: str | os.PathLike,
    doc_id: str | None = None,
    shard: str | None = None,
    position: int | None = None,
    offset: int | None = None,
) -> Decoded:
    """Exactly one way of naming the document: ``doc_id``, or ``shard`` with ``position`` or
    ``offset``."""
    from tokenizers import Tokenizer  # lazy: keeps the CLI's --help fast

    directory = Path(directory)
    manifest = load_manifest(directory)
    if doc_id is not None:
        shard, position = find_id(directory, manifest, doc_id)
    if shard is None or (position is None) == (offset is None):
        raise InputError("name a document by --id, or by --shard with --position or --offset")
    entry = _shard_entry(manifest, shard)
    index = read_index(directory / entry["idx"])
    starts = index.token_offsets
    if offset is not None:
        total = int(index.lengths.sum())
        if not 0 <= offset < total:
            raise InputError(f"{entry['bin']}: token offset {offset} is outside 0..{total - 1}")
        position = int(np.searchsorted(starts, offset, side="right") - 1)
    assert position is not None
    if not 0 <= position < len(starts):
        raise InputError(f"{entry['bin']}: position {position} is outside 0..{len(starts) - 1}")
    first, length = int(starts[position]), int(index.lengths[position])
    tokens = np.array(open_tokens(directory / entry["bin"])[first : first + length])
    tokenizer = Tokenizer.from_file(str(directory / manifest["tokenizer"]["file"]))
    text = tokenizer.decode(tokens.tolist(), skip_special_tokens=True)
    found_id = url = None
    if entry.get("docs"):
        row = pq.read_table(directory / entry["docs"], columns=["id", "url"]).slice(position, 1).to_pylist()
        if row:
            found_id, url = row[0]["id"], row[0]["url"]
    return Decoded(entry["name"], position, first, found_id, url, tokens, text)
