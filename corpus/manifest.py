"""``manifest.json``: what a finished pipeline run wrote, and the trainer's check of it.

The manifest is written last and is the commit marker of a run: shards without a manifest are an
unfinished run. The trainer refuses shards whose checksum or tokenizer does not match it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from corpus import __version__
from corpus.errors import InputError
from corpus.shards.format import read_header, read_index

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


class ManifestError(InputError):
    """Shards and manifest disagree; the message names the file and the mismatch."""


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def shard_entry(directory: str | os.PathLike, name: str, split: str) -> dict[str, Any]:
    """Describe one finished shard (``name`` without suffix) for the manifest."""
    directory = Path(directory)
    bin_path, idx_path = directory / f"{name}.bin", directory / f"{name}.idx"
    header = read_header(bin_path)
    return {
        "name": name,
        "split": split,
        "bin": bin_path.name,
        "idx": idx_path.name,
        "tokens": header.num_tokens,
        "documents": header.num_docs,
        "dtype": header.dtype.name,
        "bytes": bin_path.stat().st_size,
        "sha256": sha256_file(bin_path),
        "idx_sha256": sha256_file(idx_path),
    }


def build_manifest(
    tokenizer: dict[str, Any], config: dict[str, Any], shards: list[dict[str, Any]]
) -> dict[str, Any]:
    totals: dict[str, dict[str, int]] = {}
    for shard in shards:
        split = totals.setdefault(shard["split"], {"shards": 0, "tokens": 0, "documents": 0})
        split["shards"] += 1
        split["tokens"] += shard["tokens"]
        split["documents"] += shard["documents"]
    return {
        "format_version": FORMAT_VERSION,
        "created_by": {"package": "corpus-toolkit", "version": __version__},
        "tokenizer": tokenizer,
        "config": config,
        "shards": shards,
        "totals": totals,
    }


def to_json(data: dict[str, Any]) -> str:
    """The one serialisation of manifest.json and summary.json (stable key order)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json_atomic(path: str | os.PathLike, data: Any, *, compact: bool = False) -> None:
    """A local JSON file written whole or not at all (a temporary file, then a rename), its
    folder made if missing: ``to_json``'s layout, or one line without spaces with ``compact``
    (working files read only by the tool: crawl plans and states)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False) if compact else to_json(data)
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


def load_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    path = Path(directory) / MANIFEST_NAME
    if not path.exists():
        raise ManifestError(f"{path}: no manifest; the pipeline run is missing or did not finish")
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}: not valid JSON ({e})") from e
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ManifestError(
            f"{path}: format_version {manifest.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    return manifest


def verify_shards(directory: str | os.PathLike, manifest: dict[str, Any], checksums: bool = True) -> None:
    """Raise ManifestError unless every shard matches its manifest entry."""
    directory = Path(directory)
    for shard in manifest["shards"]:
        bin_path, idx_path = directory / shard["bin"], directory / shard["idx"]
        for path in (bin_path, idx_path):
            if not path.exists():
                raise ManifestError(f"{path}: listed in the manifest but missing")
        header = read_header(bin_path)
        if header.num_tokens != shard["tokens"] or header.num_docs != shard["documents"]:
            raise ManifestError(
                f"{bin_path}: header has {header.num_tokens} tokens / {header.num_docs} documents, "
                f"manifest says {shard['tokens']} / {shard['documents']}"
            )
        if len(read_index(idx_path).lengths) != shard["documents"]:
            raise ManifestError(f"{idx_path}: document count differs from the manifest")
        checked = [(bin_path, "sha256"), (idx_path, "idx_sha256")]
        if shard.get("mask"):  # fine-tuning data: one loss-mask byte per token
            mask_path = directory / shard["mask"]
            if not mask_path.exists() or mask_path.stat().st_size != header.num_tokens:
                raise ManifestError(f"{mask_path}: missing, or not one byte per token of {bin_path.name}")
            checked.append((mask_path, "mask_sha256"))
        if checksums:
            for path, key in checked:
                actual = sha256_file(path)
                if actual != shard[key]:
                    raise ManifestError(f"{path}: sha256 {actual} does not match the manifest's {shard[key]}")


def verify_tokenizer(directory: str | os.PathLike, manifest: dict[str, Any]) -> Path:
    """Check the run's tokenizer.json against the manifest; return its path."""
    path = Path(directory) / manifest["tokenizer"]["file"]
    if not path.exists():
        raise ManifestError(f"{path}: tokenizer named by the manifest is missing")
    actual = sha256_file(path)
    if actual != manifest["tokenizer"]["sha256"]:
        raise ManifestError(
            f"{path}: sha256 {actual} does not match the manifest's {manifest['tokenizer']['sha256']}"
        )
    return path


def verify_tokenizer_contents(path: Path, info: dict[str, Any]) -> None:
    """Raise ManifestError unless the tokenizer file has the manifest's vocabulary size and
    special ids."""
    # The sha256 proves the file is the one the pipeline wrote; this proves the manifest's numbers
    # describe that file, so a hand-edited manifest cannot make the model too small.
    from tokenizers import Tokenizer  # lazy: keeps `--help` fast

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as e:  # the Rust side raises plain Exception subclasses
        raise ManifestError(f"{path}: cannot be loaded as a tokenizers JSON file ({e})") from e
    actual = tokenizer.get_vocab_size(with_added_tokens=True)
    if actual != info["vocab_size"]:
        raise ManifestError(f"{path}: vocabulary of {actual} tokens, the manifest says {info['vocab_size']}")
    specials = dict(info.get("special_tokens") or {})
    for name, token_id in specials.items():
        if tokenizer.token_to_id(name) != token_id:
            raise ManifestError(
                f"{path}: special token {name!r} has id {tokenizer.token_to_id(name)}, "
                f"the manifest says {token_id}"
            )
    bos_id = info["bos_id"]
    if not 0 <= bos_id < actual:
        raise ManifestError(f"{path}: bos_id {bos_id} is outside the vocabulary of {actual}")
    if specials and bos_id not in specials.values():
        raise ManifestError(f"{path}: bos_id {bos_id} is not one of the special tokens {specials}")
