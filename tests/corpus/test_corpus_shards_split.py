"""corpus/shards/split.py (splits, order, cuts) and the shard bytes of corpus/shards/format.py."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from corpus_helpers import STDLIB

from corpus.hashing import id_hash
from corpus.shards.format import (
    HEADER_BYTES,
    ShardFormatError,
    open_tokens,
    read_header,
    read_index,
    write_shard,
    write_shard_files,
)
from corpus.shards.split import (
    cut_shards,
    documents_in_slot,
    long_documents,
    order_by_id_hash,
    plan_cuts,
    split_of,
)


@pytest.fixture(scope="module")
def ids(sample_raw) -> list[str]:
    """The 521 WARC-Record-IDs of the sample."""
    return [d.id for d in sample_raw]


def test_split_of_is_stable_and_near_the_fraction(ids: list[str]) -> None:
    splits = [split_of(i, 0.05) for i in ids]
    assert splits == [split_of(i, 0.05) for i in ids]
    val = splits.count("val")
    # Binomial(521, 0.05) has mean 26 and sd 5; the hash is fixed, so the count is exact.
    assert val == 34


def test_split_of_edges_and_nesting(ids: list[str]) -> None:
    assert {split_of(i, 0.0) for i in ids} == {"train"}
    assert {split_of(i, 1.0) for i in ids} == {"val"}
    # Raising the fraction only moves documents from train to val.
    small = {i for i in ids if split_of(i, 0.05) == "val"}
    large = {i for i in ids if split_of(i, 0.2) == "val"}
    assert small < large
    assert 0.15 * len(ids) <= len(large) <= 0.25 * len(ids)


def test_order_by_id_hash(ids: list[str]) -> None:
    sample = ids[:50]
    order = order_by_id_hash(sample)
    assert [sample[i] for i in order] == sorted(sample, key=id_hash)
    reversed_order = order_by_id_hash(sample[::-1])
    assert [sample[::-1][i] for i in reversed_order] == [sample[i] for i in order]
    assert order_by_id_hash([]).tolist() == []


@pytest.mark.parametrize(
    ("lengths", "max_tokens", "expected"),
    [
        ([5, 3, 10, 2], 8, [(0, 2), (2, 3), (3, 4)]),
        ([5, 3, 10, 2], 100, [(0, 4)]),
        ([4, 4, 4, 4], 8, [(0, 2), (2, 4)]),
        ([9], 8, [(0, 1)]),
        ([1, 9, 1], 8, [(0, 1), (1, 2), (2, 3)]),
        ([], 8, []),
    ],
)
def test_cut_shards_exact_ranges(
    lengths: list[int], max_tokens: int, expected: list[tuple[int, int]]
) -> None:
    assert cut_shards(lengths, max_tokens) == expected


def test_cut_shards_covers_every_document_once() -> None:
    lengths = [len(line) + 1 for line in Path(__file__).read_text("utf-8").splitlines()]
    for max_tokens in (1, 50, 200, 10_000):
        ranges = cut_shards(lengths, max_tokens)
        assert [i for a, b in ranges for i in range(a, b)] == list(range(len(lengths)))
        assert all(sum(lengths[a:b]) <= max_tokens or b - a == 1 for a, b in ranges)


def stdlib_runs() -> list[list[int]]:
    """Runs of real document lengths: per stdlib module, the lengths of its lines (+1, as a
    document carries its document token)."""
    names = ["json/decoder.py", "json/encoder.py", "csv.py", "textwrap.py", "shlex.py", "fnmatch.py"]
    return [[len(line) + 1 for line in (STDLIB / n).read_text("utf-8").splitlines()] for n in names]


def cut_by_brute_force(runs: list[list[int]], max_tokens: int) -> list[list[int]]:
    """The rule itself, on the whole sequence: a document goes to the slot of its last token."""
    slots: dict[int, list[int]] = {}
    end = 0
    for n in (n for run in runs for n in run):
        end += n
        slots.setdefault((end - 1) // max_tokens, []).append(n)
    return [slots[k] for k in sorted(slots)]


def cut_by_plan(runs: list[list[int]], max_tokens: int) -> list[list[int]]:
    """The rule as the pipeline applies it: the plan from totals, each shard from its runs."""
    starts, cuts = plan_cuts(
        [sum(r) for r in runs], [long_documents(r, max_tokens) for r in runs], max_tokens
    )
    shards = []
    for cut in cuts:
        shard = []
        for i in cut.runs:
            a, b = documents_in_slot(np.array(runs[i]), starts[i], cut.slot, max_tokens)
            shard.extend(runs[i][a:b])
        shards.append(shard)
    assert [c.number for c in cuts] == list(range(len(cuts)))
    return shards


@pytest.mark.parametrize("max_tokens", [1, 7, 60, 500, 4096, 50_000, 10**9])
def test_plan_cuts_cuts_the_sequence_across_runs(max_tokens: int) -> None:
    runs = stdlib_runs()
    shards = cut_by_plan(runs, max_tokens)
    assert shards == cut_by_brute_force(runs, max_tokens)
    # Nothing lost, duplicated or moved: the shards concatenated are the runs concatenated.
    assert [n for shard in shards for n in shard] == [n for run in runs for n in run]
    assert all(shards)
    total, longest = sum(map(sum, runs)), max(map(max, runs))
    if longest <= max_tokens:  # one shard per max_tokens, the last one partial
        assert len(shards) == -(-total // max_tokens)
    for shard in shards[:-1]:
        assert max_tokens - longest < sum(shard) < max_tokens + longest


def test_plan_cuts_document_longer_than_a_shard_stays_whole() -> None:
    runs = stdlib_runs()
    longest = max(map(max, runs))
    max_tokens = longest // 3  # the longest line covers at least two slots
    shards = cut_by_plan(runs, max_tokens)
    total = sum(map(sum, runs))
    # Slots that lie wholly inside a long document have no shard; numbering stays consecutive.
    assert len(shards) < -(-total // max_tokens)
    assert any(longest in shard for shard in shards)
    assert shards == cut_by_brute_force(runs, max_tokens)


def test_plan_cuts_of_no_runs_and_bad_size() -> None:
    assert plan_cuts([], [], 100) == ([], [])
    with pytest.raises(ValueError, match="max_tokens must be positive"):
        plan_cuts([5], [[]], 0)


def test_shard_bytes_header_and_index_are_exact() -> None:
    docs = [
        np.array([0, 17, 256], dtype=np.uint16),
        np.array([0], dtype=np.uint16),
        np.array([0, 65535], np.uint16),
    ]
    bin_buf, idx_buf = io.BytesIO(), io.BytesIO()
    stats = write_shard(bin_buf, idx_buf, docs, np.dtype(np.uint16))
    assert (stats.num_tokens, stats.num_docs) == (6, 3)
    data = bin_buf.getvalue()
    assert len(data) == HEADER_BYTES + 12
    # magic, version, tokens, documents, bytes per token, document token id, position (1: start)
    assert struct.unpack_from("<7i", data) == (20240520, 1, 6, 3, 2, 0, 1)
    assert data[28:HEADER_BYTES] == bytes(HEADER_BYTES - 28)
    assert data[HEADER_BYTES:] == struct.pack("<6H", 0, 17, 256, 0, 0, 65535)
    assert idx_buf.getvalue() == (
        b"MMIDIDX\x00\x00"
        + struct.pack("<QBQQ", 1, 8, 3, 4)
        + struct.pack("<3i", 3, 1, 2)
        + struct.pack("<3q", 1024, 1030, 1032)
        + struct.pack("<4q", 0, 1, 2, 3)
    )


def test_shard_files_read_back(tmp_path: Path) -> None:
    docs = [np.array([0, 70000, 5], dtype=np.uint32), np.array([0, 1], dtype=np.uint32)]
    path = tmp_path / "train_000000.bin"
    write_shard_files(path, docs, np.dtype(np.uint32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_000000.bin", "train_000000.idx"]
    header = read_header(path)
    assert (header.magic, header.version, header.num_tokens, header.num_docs) == (20240801, 7, 5, 2)
    assert open_tokens(path).tolist() == [0, 70000, 5, 0, 1]
    index = read_index(tmp_path / "train_000000.idx")
    assert index.lengths.tolist() == [3, 2]
    assert index.pointers.tolist() == [1024, 1036]
    assert index.token_offsets.tolist() == [0, 3]


def test_shard_format_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "val_000000.bin"
    write_shard_files(path, [np.array([0, 1, 2], dtype=np.uint16)], np.dtype(np.uint16))
    with open(path, "ab") as f:
        f.write(b"\x00\x00")
    with pytest.raises(
        ShardFormatError, match=r"val_000000.bin: header says 3 tokens \(1030 bytes\), file has 1032"
    ):
        read_header(path)
    with pytest.raises(ValueError, match="token id out of range"):
        write_shard(io.BytesIO(), io.BytesIO(), [np.array([0, 70000])], np.dtype(np.uint16))
    with pytest.raises(ValueError, match="empty document"):
        write_shard(io.BytesIO(), io.BytesIO(), [np.array([], dtype=np.uint16)], np.dtype(np.uint16))


def test_megatron_end_of_document_convention(tmp_path: Path) -> None:
    from corpus.shards.format import read_header, write_shard_files
    from corpus.tokenize import DocumentEncoder, train_bpe

    texts = [line for line in Path(__file__).read_text("utf-8").splitlines() if line.strip()]
    tokenizer = train_bpe(texts, 300, "<|endoftext|>")
    eod = tokenizer.token_to_id("<|endoftext|>")
    start = DocumentEncoder(tokenizer.to_str(), "<|endoftext|>").encode(texts[:3])
    end = DocumentEncoder(tokenizer.to_str(), "<|endoftext|>", "end").encode(texts[:3])
    for a, b in zip(start, end, strict=True):
        assert a[0] == eod == b[-1] and a[1:].tolist() == b[:-1].tolist()
    write_shard_files(tmp_path / "end.bin", end, end[0].dtype, position="end")
    header = read_header(tmp_path / "end.bin")
    assert (header.document_token, header.document_position) == (eod, "end")


def test_run_parts_cut_at_document_boundaries_within_the_limit() -> None:
    from corpus.shards.split import run_parts
    from corpus.stage_steps import PlannedShard

    lengths = [len(line) + 1 for line in (STDLIB / "textwrap.py").read_text("utf-8").splitlines()]
    tokens = [np.arange(n) for n in lengths]
    run = PlannedShard("train", None, [f"d{i}" for i in range(len(tokens))], [None] * len(tokens), tokens)
    parts = list(run_parts(run, 500))
    assert [p for _, p in parts] == list(range(len(parts))) and len(parts) > 1
    assert all(sum(map(len, r.tokens)) <= 500 or len(r.tokens) == 1 for r, _ in parts)
    assert [i for r, _ in parts for i in r.ids] == run.ids  # nothing lost, moved or doubled
    assert list(run_parts(run, 10**9)) == [(run, 0)]
