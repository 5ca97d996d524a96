"""Which split each document goes to, in which order, and where shards are cut."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np

from corpus.hashing import id_hash

_SPLIT_BUCKETS = 1_000_000


def split_of(doc_id: str, val_fraction: float) -> str:
    """ "val" for a stable ``val_fraction`` of ids, else "train" (independent of arrival order)."""
    # The high bits decide the split; the full hash decides the order within a shard.
    bucket = (id_hash(doc_id) >> 31) % _SPLIT_BUCKETS
    return "val" if bucket < round(val_fraction * _SPLIT_BUCKETS) else "train"


def cut_shards(lengths: Sequence[int], max_tokens: int) -> list[tuple[int, int]]:
    """[start, end) document ranges such that no shard passes ``max_tokens`` (unless one
    document alone does: it then gets a shard of its own)."""
    ranges: list[tuple[int, int]] = []
    start, tokens = 0, 0
    for i, n in enumerate(lengths):
        if i > start and tokens + n > max_tokens:
            ranges.append((start, i))
            start, tokens = i, 0
        tokens += n
    if start < len(lengths):
        ranges.append((start, len(lengths)))
    return ranges


def order_by_id_hash(ids: Sequence[str]) -> np.ndarray:
    """Positions of ``ids`` sorted by id hash (ties, impossible in practice, by id)."""
    return np.array(sorted(range(len(ids)), key=lambda i: (id_hash(ids[i]), ids[i])), dtype=np.int64)


# Shards across units. Per split (and language) the documents form one sequence in a fixed
# order: units in input order, each unit's documents by id hash (``order_by_id_hash``). The
# sequence is cut at every multiple of ``max_tokens`` tokens, and a document that a cut falls
# inside goes to the shard in which it ends: shard ``slot`` holds the documents whose last token
# lies in [slot * max_tokens, (slot + 1) * max_tokens). Each document's shard then follows from
# where its unit starts in the sequence (a prefix sum of the units' token counts) and its own
# lengths, so shards are planned from small numbers and written in parallel, the same way on any
# number of workers. Every shard but the last is within one document of ``max_tokens``; a
# document longer than ``max_tokens`` stays whole in the shard where it ends, and a slot that lies
# wholly inside one such document has no shard (names stay consecutive).


def long_documents(lengths: Sequence[int], max_tokens: int) -> list[tuple[int, int]]:
    """(token offset, length) of the documents longer than ``max_tokens`` in one unit's run: the
    only ones that can leave a slot without a shard."""
    out, offset = [], 0
    for n in lengths:
        if n > max_tokens:
            out.append((offset, int(n)))
        offset += int(n)
    return out


@dataclass(frozen=True)
class PlannedCut:
    number: int
    """The shard's number in its split (and language): consecutive from 0."""
    slot: int
    """It holds the documents whose last token lies in [slot, slot + 1) * max_tokens."""
    runs: tuple[int, ...]
    """Positions (in sequence order) of the units' runs that may hold some of its documents."""


def plan_cuts(
    run_tokens: Sequence[int], long_docs: Sequence[Sequence[tuple[int, int]]], max_tokens: int
) -> tuple[list[int], list[PlannedCut]]:
    """Where each run starts in its split's sequence, and the shards that the sequence is cut
    into. ``run_tokens[i]``: tokens of the i-th run in order; ``long_docs[i]``: its
    ``long_documents``."""
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    starts, total = [], 0
    for n in run_tokens:
        starts.append(total)
        total += int(n)
    empty: set[int] = set()
    for start, docs in zip(starts, long_docs, strict=True):
        for offset, length in docs:
            first, end = start + offset, start + offset + length
            # Slots [k, k + 1) * max_tokens that begin at or after the document's first token
            # and end before its last one: no document ends in them.
            empty.update(range(-(-first // max_tokens), (end - 1) // max_tokens))
    slots: dict[int, list[int]] = {}
    for i, (start, n) in enumerate(zip(starts, run_tokens, strict=True)):
        if n <= 0:
            continue
        for slot in range(start // max_tokens, (start + int(n) - 1) // max_tokens + 1):
            if slot not in empty:
                slots.setdefault(slot, []).append(i)
    cuts = [PlannedCut(number, slot, tuple(slots[slot])) for number, slot in enumerate(sorted(slots))]
    return starts, cuts


def documents_in_slot(lengths: np.ndarray, start: int, slot: int, max_tokens: int) -> tuple[int, int]:
    """[first, last) documents of a run that starts at token ``start`` of its sequence whose
    last token lies in ``slot`` (see ``plan_cuts``)."""
    ends = start + np.cumsum(np.asarray(lengths, dtype=np.int64))
    slots = (ends - 1) // max_tokens
    return int(np.searchsorted(slots, slot, "left")), int(np.searchsorted(slots, slot, "right"))


T = TypeVar("T", bound=Any)


def run_parts(run: T, max_tokens: int) -> Iterator[tuple[T, int]]:
    """A unit's run cut at document boundaries into parts of at most ``max_tokens`` tokens (a
    part holds at least one document), numbered from 0: a run file's header counts its tokens in
    an int32, and a unit that is one whole compressed file can hold billions. A run within the
    limit is one part, itself."""
    lengths = [len(t) for t in run.tokens]
    if sum(lengths) <= max_tokens:
        yield run, 0
        return
    first, total, part = 0, 0, 0
    for i, n in enumerate(lengths):
        if total and total + n > max_tokens:
            yield replace(run, ids=run.ids[first:i], urls=run.urls[first:i], tokens=run.tokens[first:i]), part
            first, total, part = i, 0, part + 1
        total += n
    yield replace(run, ids=run.ids[first:], urls=run.urls[first:], tokens=run.tokens[first:]), part
