"""Dedup by sorting arrays instead of shuffling a record per document (URL, exact and near dedup).

Each unit writes its documents' keys as one *sorted key table* (``table_bytes``): int64 rows sorted
by their first column, with a small index of where each fine-grained key prefix starts, and the
unit's document ids. A task takes one slice of the key space (a range of key prefixes: slice
``part`` of ``parts``, ``parts`` a power of two) and reads from each unit only the byte range of
its slice (``read_slice``), then sorts the slice's rows of every unit by (key, rank, unit,
position) and in each run of equal keys keeps the first row and drops the others. Only the drops
leave the task, each with the kept document's id, read from the same file (``read_ids``).

The number of slices depends on the corpus's document count, known only once every unit wrote
its table; so a table is not cut into slices but indexed at a granularity fixed by its own size
(a prefix cell per one or two rows, 4 bytes each). A task of any power-of-two slice count reads
two index entries and exactly its rows when a unit has at least as many rows as there are
slices, and at most one cell (one or two rows) of a unit otherwise; a small table
(``PLAN_ROWS``) gives its rows' key prefixes with its layout, so a task reads only its rows of
it and no task opens it for a slice it has no row in. The bytes read per task and unit beyond
its rows are then 8 (index entries) plus its ids; a task holds at most ``DOCS_PER_TASK`` rows,
so memory does not grow with the corpus: more documents make more tasks.

File layout (little-endian): a 64-byte header (``MAGIC``, then int64 rows, columns, sections,
index bits, shift, ids); per section an index of ``2**bits + 1`` uint32 row numbers; the rows,
section after section (``columns`` int64 each); the id offsets (``ids + 1`` uint64) and the ids'
UTF-8 bytes, by position. A reader learns the layout from the writer (``Layout`` travels as data
to the tasks), so no task reads a header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

DOCS_PER_TASK = 8_000_000
"""Rows of one slice of the key space a task sorts at most (a few hundred MB of arrays)."""

ROWS_PER_CELL = 1
"""Rows per index cell (1 to 2): the index costs at most 4 bytes per row (a tenth of a row), and
slices align with cells up to as many slices as the unit has rows."""

PLAN_ROWS = 256
"""A table of at most this many rows (all sections) gives its rows' key prefixes with its
layout: the tasks' plan then knows which slices hold none of its rows (no task reads it for
nothing) and where the others are (no index read), so many small units cost no extra reads."""

MAGIC = b"corpkeys"
HEADER_BYTES = 64
MAX_INDEX_BITS = 32

Drop = tuple[int, tuple[int, str, str]]
"""(unit, (position, stage, kept id))."""

Read = Callable[[int, int, int], bytes]
"""read(unit, offset, size): ``size`` bytes of the unit's table from ``offset``."""


@dataclass(frozen=True)
class Layout:
    """Where things are in one unit's sorted key table."""

    rows: int
    """Rows per section (the unit's documents in this dedup)."""
    columns: int
    """int64 columns per row; the first one is the key the rows are sorted and sliced by."""
    sections: int
    """Sections of rows, each sorted on its own (one per LSH band; 1 for URL and exact dedup)."""
    index_bits: int
    """Each section's index has ``2**index_bits`` cells, by the top bits of the slicing key."""
    shift: int
    """Left shift that spreads the first column over 64 bits (1 for 63-bit band keys)."""
    ids: int
    """Positions in the id section (every document of the unit)."""
    size: int
    """Bytes of the whole file."""
    prefixes: bytes | None = None
    """For a small table (``PLAN_ROWS``): the top 32 bits of each row's slicing key (uint32),
    section after section, in row order."""

    @property
    def cells(self) -> int:
        return 1 << self.index_bits

    def index_offset(self, section: int, cell: int) -> int:
        return HEADER_BYTES + (section * (self.cells + 1) + cell) * 4

    def row_offset(self, section: int, row: int) -> int:
        start = HEADER_BYTES + self.sections * (self.cells + 1) * 4
        return start + (section * self.rows + row) * self.columns * 8

    def ids_offset(self) -> int:
        return self.row_offset(self.sections, 0)


def parts_for(documents: int, per_task: int | None = None) -> int:
    """Slices of the key space for ``documents`` rows: a power of two, so that slices fall on
    index cells whatever the count."""
    n = max(1, -(-documents // (per_task or DOCS_PER_TASK)))
    return 1 << (n - 1).bit_length()


def index_bits_for(rows: int) -> int:
    return min(MAX_INDEX_BITS, max(0, (rows // ROWS_PER_CELL).bit_length() - 1))


def known_rows(layout: Layout, section: int, part: int, parts: int) -> tuple[int, int] | None:
    """Rows [r0, r1) of a section in slice ``part`` of ``parts`` when the layout tells
    (a small table's prefixes, or an empty table); None when only its index does."""
    if not layout.rows:
        return 0, 0
    if layout.prefixes is None:
        return None
    bits = parts.bit_length() - 1
    prefixes = np.frombuffer(layout.prefixes, "<u4")[section * layout.rows : (section + 1) * layout.rows]
    top = prefixes >> np.uint32(32 - bits) if bits else np.zeros(len(prefixes), dtype=np.uint32)
    r0, r1 = np.searchsorted(top, [part, part + 1]).tolist()
    return r0, r1


def wanted(layout: Layout, section: int, part: int, parts: int) -> bool:
    """Whether a task of slice ``part`` may find rows of this section (False: skip the unit)."""
    rows = known_rows(layout, section, part, parts)
    return rows is None or rows[1] > rows[0]


def ids_by_position(ids: dict[int, str]) -> list[str]:
    """Ids in position order, "" where a position has none (the table's id section)."""
    out = [""] * (max(ids) + 1 if ids else 0)
    for position, doc_id in ids.items():
        out[position] = doc_id
    return out


def _spread(first: np.ndarray, shift: int) -> np.ndarray:
    return first.astype(np.int64).view(np.uint64) << np.uint64(shift)


def _prefix(spread: np.ndarray, bits: int) -> np.ndarray:
    if bits == 0:
        return np.zeros(len(spread), dtype=np.uint64)
    return spread >> np.uint64(64 - bits)


def table_bytes(sections: Sequence[np.ndarray], ids: Sequence[str], shift: int = 0) -> tuple[bytes, Layout]:
    """A sorted key table of ``sections`` (int64 arrays of one shape [rows, columns]) and the
    unit's ``ids`` by position; and its layout."""
    rows, columns = sections[0].shape
    if rows >= 1 << 32:
        raise ValueError(f"a key table holds fewer than 2**32 rows per section, not {rows}")
    bits = index_bits_for(rows)
    indexes, sorted_rows, prefixes = [], [], []
    for section in sections:
        spread = _spread(section[:, 0], shift) if rows else np.zeros(0, dtype=np.uint64)
        order = np.argsort(spread, kind="stable")
        sorted_rows.append(np.ascontiguousarray(section[order], dtype="<i8"))
        prefixes.append((spread[order] >> np.uint64(32)).astype("<u4"))
        cells = _prefix(spread[order], bits)
        indexes.append(np.searchsorted(cells, np.arange((1 << bits) + 1, dtype=np.uint64)).astype("<u4"))
    encoded = [i.encode("utf-8", "surrogatepass") for i in ids]
    id_offsets = np.zeros(len(encoded) + 1, dtype="<u8")
    np.cumsum([len(e) for e in encoded], out=id_offsets[1:])
    header = np.array([rows, columns, len(sections), bits, shift, len(ids)], dtype="<i8").tobytes()
    header = MAGIC + header + bytes(HEADER_BYTES - len(MAGIC) - len(header))
    data = b"".join(
        [header, *(i.tobytes() for i in indexes), *(r.tobytes() for r in sorted_rows),
         id_offsets.tobytes(), *encoded]
    )  # fmt: skip
    small = rows * len(sections) <= PLAN_ROWS
    plan = b"".join(p.tobytes() for p in prefixes) if small else None
    return data, Layout(rows, columns, len(sections), bits, shift, len(ids), len(data), plan)


def layout_of(data: bytes) -> Layout:
    """The layout from a table's header (for tools and tests; tasks get it as data)."""
    if data[: len(MAGIC)] != MAGIC:
        raise ValueError("not a sorted key table")
    rows, columns, sections, bits, shift, ids = np.frombuffer(data, "<i8", 6, len(MAGIC)).tolist()
    return Layout(rows, columns, sections, bits, shift, ids, len(data))


def _index_entry(layout: Layout, section: int, cell: int, read: Callable[[int, int], bytes]) -> int:
    if cell == 0:
        return 0
    if cell == layout.cells:
        return layout.rows
    return int(np.frombuffer(read(layout.index_offset(section, cell), 4), "<u4")[0])


def read_slice(
    layout: Layout, section: int, part: int, parts: int, read: Callable[[int, int], bytes]
) -> np.ndarray:
    """The rows [n, columns] of one section whose slicing key falls in slice ``part`` of
    ``parts``, reading only their byte range (and at most two index entries)."""
    if parts & (parts - 1) or not 0 <= part < parts:
        raise ValueError(f"slice {part} of {parts}: parts must be a power of two above the part")
    slice_bits, bits = parts.bit_length() - 1, layout.index_bits
    known = known_rows(layout, section, part, parts)
    narrow = known is None and slice_bits > bits
    if known is not None:
        r0, r1 = known
    elif not narrow:
        first, last = part << (bits - slice_bits), (part + 1) << (bits - slice_bits)
        r0, r1 = (_index_entry(layout, section, c, read) for c in (first, last))
    else:  # the slice is narrower than a cell: read the cell, keep the slice's rows
        cell = part >> (slice_bits - bits)
        r0, r1 = (_index_entry(layout, section, c, read) for c in (cell, cell + 1))
    if r1 <= r0:
        return np.zeros((0, layout.columns), dtype=np.int64)
    data = read(layout.row_offset(section, r0), (r1 - r0) * layout.columns * 8)
    rows = np.frombuffer(data, "<i8").reshape(-1, layout.columns).astype(np.int64)
    if narrow:
        rows = rows[_prefix(_spread(rows[:, 0], layout.shift), slice_bits) == part]
    return rows


ID_GAP = 64
"""Bytes between two wanted ranges below which one read takes both (fewer calls, few bytes more)."""


def _ranges(wanted: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Sorted (start, end) byte ranges merged where they are less than ``gap`` apart."""
    out: list[list[int]] = []
    for start, end in sorted(wanted):
        if out and start - out[-1][1] <= gap:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def _read_ranges(
    wanted: list[tuple[int, int]], read: Callable[[int, int], bytes]
) -> dict[tuple[int, int], bytes]:
    got: dict[tuple[int, int], bytes] = {}
    merged = _ranges(wanted, ID_GAP)
    chunks = [(a, read(a, b - a)) for a, b in merged]
    starts = [a for a, _ in chunks]
    for start, end in wanted:
        i = int(np.searchsorted(starts, start, side="right")) - 1
        a, data = chunks[i]
        got[(start, end)] = data[start - a : end - a]
    return got


def read_ids(layout: Layout, positions: Iterable[int], read: Callable[[int, int], bytes]) -> dict[int, str]:
    """Position -> document id for the given positions, reading only their offsets and bytes."""
    wanted = sorted(set(positions))
    if not wanted:
        return {}
    base = layout.ids_offset()
    spans = {p: (base + p * 8, base + p * 8 + 16) for p in wanted}
    got = _read_ranges(list(spans.values()), read)
    text_base = base + (layout.ids + 1) * 8
    bounds = {}
    for p, span in spans.items():
        a, b = np.frombuffer(got[span], "<u8").tolist()
        bounds[p] = (text_base + a, text_base + b)
    texts = _read_ranges(list(bounds.values()), read)
    return {p: texts[bounds[p]].decode("utf-8", "surrogatepass") for p in wanted}


def task_drops(
    units: Iterable[tuple[int, Layout]],
    part: int,
    parts: int,
    key: Sequence[str],
    rank: Sequence[str],
    stage: str,
    read: Read,
) -> list[Drop]:
    """(unit, (position, ``stage``, kept id)) for every dropped row among the rows whose first
    key column falls in slice ``part`` of ``parts``: per run of equal ``key`` columns the smallest
    (``rank`` columns, unit, position) stays. The tables' columns are (*key, *rank, position)."""
    names = (*key, *rank, "position")
    layouts = dict(units)
    blocks, unit_of = [], []
    for unit, layout in layouts.items():
        if layout.columns != len(names):
            raise ValueError(f"unit {unit}: a key table of {layout.columns} columns, not {len(names)}")
        rows = read_slice(layout, 0, part, parts, lambda o, n, u=unit: read(u, o, n))
        blocks.append(rows)
        unit_of.append(np.full(len(rows), unit, dtype=np.int64))
    if not blocks:
        return []
    stacked = np.concatenate(blocks)
    a = {name: stacked[:, i] for i, name in enumerate(names)}
    a["unit"] = np.concatenate(unit_of)
    # lexsort: the last column is the primary one.
    order = np.lexsort([a[c] for c in reversed((*key, *rank, "unit", "position"))])
    first = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        same = np.ones(len(order) - 1, dtype=bool)
        for c in key:
            sorted_c = a[c][order]
            same &= sorted_c[1:] == sorted_c[:-1]
        first[1:] = ~same
    starts = np.flatnonzero(first)
    sizes = np.diff(np.r_[starts, len(order)])
    keepers = order[starts[sizes > 1]]
    if not len(keepers):
        return []
    wanted: dict[int, list[int]] = {}
    for i in keepers.tolist():
        wanted.setdefault(int(a["unit"][i]), []).append(int(a["position"][i]))
    ids: dict[tuple[int, int], str] = {}
    for unit, positions in wanted.items():
        found = read_ids(layouts[unit], positions, lambda o, n, u=unit: read(u, o, n))
        ids.update({(unit, p): i for p, i in found.items()})
    keeper_of = np.repeat(order[starts], sizes)  # each sorted row's keeper (its run's first)
    dropped = ~first
    out = []
    for i, k in zip(order[dropped].tolist(), keeper_of[dropped].tolist(), strict=True):
        kept_id = ids[(int(a["unit"][k]), int(a["position"][k]))]
        out.append((int(a["unit"][i]), (int(a["position"][i]), stage, kept_id)))
    return out


def reader_of(tables: dict[int, bytes]) -> Read:
    """A ``Read`` over tables in memory (tests, notebooks)."""
    return lambda unit, offset, size: tables[unit][offset : offset + size]
