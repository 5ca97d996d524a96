"""The token shard format: the one contract between the pipeline (writer) and the trainer (reader).

``NAME.bin`` uses llm.c's layout so llm.c and modded-nanogpt read our shards unchanged: a header of
256 little-endian int32, then the tokens.

==========  =====================================================================
header[0]   magic: 20240520 (uint16 tokens) or 20240801 (uint32 tokens)
header[1]   version: 1 (uint16) or 7 (uint32)
header[2]   number of tokens after the header
header[3]   number of documents (ours; llm.c ignores it)
header[4]   bytes per token (ours)
header[5]   the document token's id (ours)
header[6]   where it stands: 1 = first token of every document (BOS, as llm.c and
            modded-nanogpt expect), 2 = last token of every document (EOD, Megatron's
            convention; ``[shard] document_token = "end"``), 0 = not recorded (older shards:
            start)
==========  =====================================================================

Every document carries the document token once, at its start (default) or at its end.

``NAME.idx`` is Megatron's ``MMIDIDX`` index, so Megatron's ``IndexedDataset`` reads our ``.bin``
unchanged: its byte pointers start after our 1024-byte header. Layout (little-endian)::

    b"MMIDIDX\\x00\\x00"  magic (9 bytes)
    uint64 1             version
    uint8  dtype code    8 = uint16, 4 = int32 (for uint32 shards; ids stay below 2**31)
    uint64 S             number of sequences (one per document)
    uint64 D + 1         length of the document index
    int32[S]             sequence lengths in tokens
    int64[S]             byte offsets of each sequence in the .bin file
    int64[D + 1]         document index: 0, 1, ..., S
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from corpus.errors import InputError

HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
MAGIC_UINT16, VERSION_UINT16 = 20240520, 1
MAGIC_UINT32, VERSION_UINT32 = 20240801, 7
IDX_MAGIC = b"MMIDIDX\x00\x00"
IDX_VERSION = 1
_IDX_DTYPE_CODE = {np.dtype(np.uint16): 8, np.dtype(np.uint32): 4}


class ShardFormatError(InputError):
    """A shard file is not what the format says; the message names the file."""


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 while every id fits, uint32 from 65,536 tokens on (llm.c's rule)."""
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    return np.dtype(np.uint16) if vocab_size <= 65536 else np.dtype(np.uint32)


DOC_START, DOC_END = 1, 2
POSITIONS = {"start": DOC_START, "end": DOC_END}


def make_header(
    num_tokens: int, num_docs: int, dtype: np.dtype, document_token: int = 0, position: str = "start"
) -> np.ndarray:
    header = np.zeros(HEADER_INTS, dtype="<i4")
    if dtype == np.uint16:
        header[0], header[1] = MAGIC_UINT16, VERSION_UINT16
    elif dtype == np.uint32:
        header[0], header[1] = MAGIC_UINT32, VERSION_UINT32
    else:
        raise ValueError(f"token dtype must be uint16 or uint32, got {dtype}")
    if num_tokens >= 2**31:
        raise ValueError(f"a shard holds at most 2**31 - 1 tokens, got {num_tokens}")
    header[2], header[3], header[4] = num_tokens, num_docs, dtype.itemsize
    header[5], header[6] = document_token, POSITIONS[position]
    return header


@dataclass(frozen=True)
class ShardHeader:
    magic: int
    version: int
    num_tokens: int
    num_docs: int
    dtype: np.dtype
    document_token: int | None = None
    """None in shards written before the header recorded it."""
    document_position: str = "start"


def read_header(path: str | os.PathLike) -> ShardHeader:
    with open(path, "rb") as f:
        raw = f.read(HEADER_BYTES)
    result = parse_header(raw, path)
    expected = HEADER_BYTES + result.num_tokens * result.dtype.itemsize
    actual = os.path.getsize(path)
    if actual != expected:
        raise ShardFormatError(
            f"{path}: header says {result.num_tokens} tokens ({expected} bytes), file has {actual}"
        )
    return result


def parse_header(raw: bytes, path: str | os.PathLike) -> ShardHeader:
    """The header from a shard's first ``HEADER_BYTES`` bytes (``path`` names it in errors)."""
    if len(raw) < HEADER_BYTES:
        raise ShardFormatError(f"{path}: file is {len(raw)} bytes, shorter than the header")
    header = np.frombuffer(raw[:HEADER_BYTES], dtype="<i4")
    magic, version = int(header[0]), int(header[1])
    if (magic, version) == (MAGIC_UINT16, VERSION_UINT16):
        dtype = np.dtype(np.uint16)
    elif (magic, version) == (MAGIC_UINT32, VERSION_UINT32):
        dtype = np.dtype(np.uint32)
    else:
        raise ShardFormatError(f"{path}: bad magic/version {magic}/{version}")
    where = int(header[6])
    if where not in (0, DOC_START, DOC_END):
        raise ShardFormatError(f"{path}: header[6] (document token position) is {where}, not 0, 1 or 2")
    result = ShardHeader(
        magic, version, int(header[2]), int(header[3]), dtype,
        int(header[5]) if where else None, "end" if where == DOC_END else "start",
    )  # fmt: skip
    return result


def open_tokens(path: str | os.PathLike) -> np.memmap:
    """Memory-map the tokens of a shard (never reads the whole file into RAM)."""
    header = read_header(path)
    little_endian = header.dtype.newbyteorder("<")
    return np.memmap(path, dtype=little_endian, mode="r", offset=HEADER_BYTES, shape=(header.num_tokens,))


def write_index(f: BinaryIO, lengths: np.ndarray, dtype: np.dtype) -> None:
    lengths = np.asarray(lengths, dtype="<i4")
    n = len(lengths)
    pointers = np.zeros(n, dtype="<i8")
    if n:
        pointers[1:] = np.cumsum(lengths[:-1], dtype=np.int64) * dtype.itemsize
        pointers += HEADER_BYTES
    f.write(IDX_MAGIC)
    f.write(struct.pack("<Q", IDX_VERSION))
    f.write(struct.pack("<B", _IDX_DTYPE_CODE[dtype]))
    f.write(struct.pack("<Q", n))
    f.write(struct.pack("<Q", n + 1))
    f.write(lengths.tobytes())
    f.write(pointers.tobytes())
    f.write(np.arange(n + 1, dtype="<i8").tobytes())


@dataclass(frozen=True)
class ShardIndex:
    lengths: np.ndarray
    """Tokens per document (int32)."""
    pointers: np.ndarray
    """Byte offset of each document in the .bin file (int64)."""

    @property
    def token_offsets(self) -> np.ndarray:
        """Where each document starts, in tokens from the first token."""
        starts = np.zeros(len(self.lengths), dtype=np.int64)
        if len(self.lengths):
            starts[1:] = np.cumsum(self.lengths[:-1], dtype=np.int64)
        return starts


def read_index(path: str | os.PathLike) -> ShardIndex:
    with open(path, "rb") as f:
        data = f.read()
    return parse_index(data, path)


def parse_index(data: bytes, path: str | os.PathLike) -> ShardIndex:
    """An ``.idx`` file's bytes (``path`` names it in errors)."""
    if data[:9] != IDX_MAGIC:
        raise ShardFormatError(f"{path}: not an MMIDIDX index (magic {data[:9]!r})")
    if len(data) < 34:
        raise ShardFormatError(f"{path}: {len(data)} bytes, shorter than the MMIDIDX header (34)")
    (version,) = struct.unpack_from("<Q", data, 9)
    if version != IDX_VERSION:
        raise ShardFormatError(f"{path}: index version {version}, expected {IDX_VERSION}")
    (code,) = struct.unpack_from("<B", data, 17)
    if code not in _IDX_DTYPE_CODE.values():
        raise ShardFormatError(f"{path}: unknown dtype code {code}")
    n, n_docs = struct.unpack_from("<QQ", data, 18)
    offset = 34
    expected = offset + n * 4 + n * 8 + n_docs * 8
    if len(data) != expected:
        raise ShardFormatError(f"{path}: {len(data)} bytes, expected {expected} for {n} documents")
    lengths = np.frombuffer(data, dtype="<i4", count=n, offset=offset)
    pointers = np.frombuffer(data, dtype="<i8", count=n, offset=offset + 4 * n)
    return ShardIndex(lengths=lengths.copy(), pointers=pointers.copy())


@dataclass(frozen=True)
class ShardStats:
    num_tokens: int
    num_docs: int


def write_shard(
    bin_stream: BinaryIO, idx_stream: BinaryIO, docs: Sequence[np.ndarray], dtype: np.dtype,
    document_token: int | None = None, position: str = "start",
) -> ShardStats:  # fmt: skip
    """Write one shard to two (possibly non-seekable) streams: ``.bin`` and ``.idx``.

    ``docs`` are token arrays that already carry the document token at ``position`` (its id,
    when not given, is read from the first document). The header needs the token count first,
    so the documents are given as a sequence, not a one-shot iterator.
    """
    dtype = np.dtype(dtype)
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    if len(lengths) and lengths.min() == 0:
        raise ValueError("empty document: every document starts with the document-start token")
    max_id = np.iinfo(dtype).max
    # Checked before the first byte is written, so a bad id never leaves a partial shard.
    for i, tokens in enumerate(docs):
        tokens = np.asarray(tokens)
        if int(tokens.max()) > max_id or int(tokens.min()) < 0:
            raise ValueError(f"document {i}: token id out of range for {dtype}")
    num_tokens = int(lengths.sum())
    if document_token is None:
        document_token = int(np.asarray(docs[0])[0 if position == "start" else -1]) if len(docs) else 0
    bin_stream.write(make_header(num_tokens, len(docs), dtype, document_token, position).tobytes())
    for tokens in docs:
        bin_stream.write(np.asarray(tokens).astype(dtype.newbyteorder("<"), copy=False).tobytes())
    write_index(idx_stream, lengths, dtype)
    return ShardStats(num_tokens=num_tokens, num_docs=len(docs))


def write_shard_files(
    bin_path: str | os.PathLike, docs: Sequence[np.ndarray], dtype: np.dtype, position: str = "start"
) -> ShardStats:
    """Write ``bin_path`` and its ``.idx`` on the local disk, each visible only when complete."""
    bin_path = Path(bin_path)
    idx_path = bin_path.with_suffix(".idx")
    tmp_bin = bin_path.with_name(bin_path.name + ".tmp")
    tmp_idx = idx_path.with_name(idx_path.name + ".tmp")
    try:
        with open(tmp_bin, "wb") as fb, open(tmp_idx, "wb") as fi:
            stats = write_shard(fb, fi, docs, dtype, position=position)
    except BaseException:
        tmp_bin.unlink(missing_ok=True)
        tmp_idx.unlink(missing_ok=True)
        raise
    os.replace(tmp_idx, idx_path)
    os.replace(tmp_bin, bin_path)
    return stats
