"""Near-duplicate removal: LSH candidates -> groups of candidates -> survivors with witnesses.

Documents are graph nodes. A node is a ``Node`` tuple whose natural order *is* the keep
preference, so decisions are deterministic whatever the input order or the number of workers:
``(preference, id_hash, id, file_index, position)``, where preference is 0 (``min_id_hash``),
minus the text length (``longest``) or minus the date in seconds (``newest``).

Candidate pairs join documents into groups (connected components); within a group, documents
are decided in node order and one goes only when a document that stays is verified similar to
it (corpus/dedup/survivors.py), so a chain A~B~C with A and C unlike keeps C.

The pieces are pure functions over keys, so the Beam stage runs them inside a shuffle and
``find_near_duplicates`` runs them in one process:

- ``bucket_edges``: the members of one LSH bucket -> a star of edges from its smallest member
  (k - 1 edges for k members, so a group of thousands of copies stays linear);
- ``union_find``: the single-worker path to connected components;
- ``large_star`` / ``small_star``: one round each of the iterative algorithm of Kiveris et al.,
  "Connected Components in MapReduce and Beyond" (2014), for graphs too big for one worker;
  after enough rounds every component is a star around its smallest node (``star_labels``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from corpus.config import NearDedupConfig
from corpus.dedup import minhash
from corpus.dedup.shingles import shingle_hashes, unique_per_document
from corpus.dedup.survivors import KEPT, Survivors

STAGE = "near_dedup"
REASON = "minhash_duplicate"

Node = tuple[int, int, str, int, int]
"""(preference, id_hash, id, file_index, position): ordered so that the smallest is kept."""
Edge = tuple[Node, Node]


def preference(keep: str, text: str, date: str | None) -> int:
    """The first field of a node: smaller is preferred (kept)."""
    if keep == "min_id_hash":
        return 0
    if keep == "longest":
        return -len(text)
    if keep == "newest":
        return -_epoch(date)
    raise ValueError(f"near_dedup.keep: unknown preference {keep!r}")


def _epoch(date: str | None) -> int:
    """Seconds since 1970 of an ISO date; 0 (oldest) when missing or unreadable."""
    if not date:
        return 0
    try:
        parsed = datetime.fromisoformat(date.replace("Z", "+00:00"))
        if parsed.tzinfo is None:  # a date without an offset is UTC, not this machine's zone
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp())
    except (ValueError, OverflowError, OSError):
        return 0


def bucket_edges(members: Iterable[Node]) -> list[Edge]:
    """Edges from the smallest member of one LSH bucket to each other member."""
    ranked = sorted(set(members))
    return [(ranked[0], other) for other in ranked[1:]]


def union_find(edges: Iterable[Edge]) -> dict[Node, Node]:
    """Node -> smallest node of its connected component, for every node on an edge."""
    parent: dict[Node, Node] = {}

    def find(x: Node) -> Node:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for u, v in edges:
        parent.setdefault(u, u)
        parent.setdefault(v, v)
        ru, rv = find(u), find(v)
        if ru != rv:
            # The smaller root wins, so the root of a component is its smallest node.
            if rv < ru:
                ru, rv = rv, ru
            parent[rv] = ru
    return {x: find(x) for x in parent}


def large_star(node: Node, neighbors: Iterable[Node]) -> list[Edge]:
    """Connect every larger neighbour of ``node`` to the smallest node of its neighbourhood."""
    ns = set(neighbors)
    m = min(ns | {node})
    return [(m, v) for v in ns if v > node]


def small_star(node: Node, neighbors: Iterable[Node]) -> list[Edge]:
    """Connect ``node`` and its smaller neighbours to the smallest of them."""
    smaller = {v for v in neighbors if v < node}
    m = min(smaller | {node})
    return [(m, v) for v in smaller | {node} if v != m]


def both_directions(edge: Edge) -> list[tuple[Node, Node]]:
    u, v = edge
    return [(u, v), (v, u)]


class NotConverged(RuntimeError):
    pass


def star_labels(node: Node, neighbors: Iterable[Node], rounds: int) -> list[tuple[Node, Node]]:
    """(node, root) for a node of a converged graph (every component a star around its smallest node).

    Raises ``NotConverged`` if the graph is not yet a set of stars after ``rounds`` rounds."""
    ns = set(neighbors)
    m = min(ns | {node})
    if m == node:
        return [(node, node)]
    if len(ns) != 1:
        raise NotConverged(
            f"near_dedup: connected components did not converge in {rounds} rounds "
            f"(node {node[2]!r} still has {len(ns)} neighbours); raise near_dedup.max_rounds"
        )
    return [(node, m)]


def components_by_rounds(edges: Iterable[Edge], rounds: int) -> dict[Node, Node]:
    """The iterative algorithm run in one process (what the Beam stage does across workers)."""
    current = {(min(u, v), max(u, v)) for u, v in edges if u != v}
    for _ in range(rounds):
        for step in (large_star, small_star):
            current = {e for n, ns in _neighbours(current).items() for e in step(n, ns) if e[0] != e[1]}
    return dict(pair for n, ns in _neighbours(current).items() for pair in star_labels(n, ns, rounds))


def _neighbours(edges: Iterable[Edge]) -> dict[Node, set[Node]]:
    """What a GroupByKey over both directions of every edge gives each node."""
    adjacency: dict[Node, set[Node]] = {}
    for u, v in edges:
        adjacency.setdefault(u, set()).add(v)
        adjacency.setdefault(v, set()).add(u)
    return adjacency


# --- the single-worker path: everything in one process, memory bounded by keys, not text ---


@dataclass
class NearDedupResult:
    """Outcome of ``find_near_duplicates`` over documents 0..n-1."""

    witness: dict[int, tuple[int, float]] = field(default_factory=dict)
    """Removed document index -> (index of the kept document it duplicates, their similarity)."""
    candidate_pairs: int = 0
    components: int = 0
    """Groups of documents joined by candidate pairs (each decided by ``survivors``)."""
    checks: int = 0
    """Similarities computed to decide the components."""
    by_centres: int = 0
    """Documents decided against their centres only, their component having spent ``max_checks``
    (corpus/dedup/survivors.py)."""
    no_shingles: int = 0
    """Documents without a single word (never candidates)."""

    def removed(self) -> dict[int, int]:
        """Removed document index -> the index of its witness, a document that stays."""
        return {i: w for i, (w, _) in self.witness.items()}


@dataclass
class BandKeys:
    """Pass 1 of ``find_near_duplicates``: what is kept per document (no text)."""

    keys: np.ndarray
    """uint64[docs, bands]."""
    has_shingles: np.ndarray
    signatures: np.ndarray | None
    """uint32[docs, num_perm], only for ``verify = "estimate"``."""
    sets: list[np.ndarray] | None = None
    """Each document's sorted shingle-hash set, kept from pass 1 while they fit ``SET_CACHE``
    hashes (small inputs); else None and verification re-shingles the candidates."""


SET_CACHE = 16_000_000
"""Shingle hashes (8 bytes each) pass 1 may keep for verification: 128 MB."""


def band_keys_of(
    texts: Sequence[str], config: NearDedupConfig, batch_size: int = 2048, keep_all_sets: bool = False
) -> BandKeys:
    """Signatures and LSH band keys of every text, a batch at a time.

    With ``keep_all_sets`` (and ``verify = "exact"``) every shingle set is kept, whatever
    ``SET_CACHE`` says: the Beam stage writes them all to its per-file payload."""
    n = len(texts)
    bands, rows = config.lsh_shape()
    out = BandKeys(
        np.zeros((n, bands), dtype=np.uint64),
        np.zeros(n, dtype=bool),
        np.zeros((n, config.num_perm), dtype=np.uint32) if config.verify == "estimate" else None,
        [] if config.verify == "exact" else None,
    )
    cached = 0
    for start in range(0, n, batch_size):
        chunk = [texts[i] for i in range(start, min(n, start + batch_size))]
        hashes, offsets = shingle_hashes(chunk, config.ngram, config.shingle)
        s = minhash.signatures(hashes, offsets, config.num_perm, config.seed)
        out.keys[start : start + len(chunk)] = minhash.band_keys(s, bands, rows)
        out.has_shingles[start : start + len(chunk)] = np.diff(offsets) > 0
        if out.signatures is not None:
            out.signatures[start : start + len(chunk)] = s
        if out.sets is not None:
            cached += len(hashes)
            if cached > SET_CACHE and not keep_all_sets:
                out.sets = None  # too big to keep: verification will re-shingle candidates
            else:
                sets, set_offsets = unique_per_document(hashes, offsets)
                out.sets.extend(sets[set_offsets[i] : set_offsets[i + 1]] for i in range(len(chunk)))
    return out


def find_near_duplicates(
    texts: Sequence[str],
    config: NearDedupConfig,
    order: Callable[[int], tuple] | None = None,
    batch_size: int = 2048,
) -> NearDedupResult:
    """Near-duplicate clusters among ``texts`` in one process.

    ``order(i)`` gives document i's keep preference (smaller is kept; default: its index).
    Pass 1 keeps band keys (8 bytes x bands per document), and the shingle sets only while they
    are small (``SET_CACHE``); otherwise pass 2 re-shingles just the documents on candidate
    edges, a chunk of edges at a time, so memory follows the number of documents, never their
    text."""
    return clusters_from_keys(texts, band_keys_of(texts, config, batch_size), config, order, batch_size)


def clusters_from_keys(
    texts: Sequence[str],
    pass1: BandKeys,
    config: NearDedupConfig,
    order: Callable[[int], tuple] | None = None,
    batch_size: int = 2048,
) -> NearDedupResult:
    """Pass 2: LSH candidates from the band keys, components of candidate pairs, and survivors
    chosen in each component with a kept witness for every removal (corpus/dedup/survivors.py)."""
    n = len(texts)
    result = NearDedupResult(no_shingles=int(n - pass1.has_shingles.sum()))
    rank = _ranks(n, order)
    edges = _candidate_edges(pass1.keys, pass1.has_shingles, rank)
    result.candidate_pairs = len(edges)
    roots = union_find(((int(rank[u]), int(u)), (int(rank[v]), int(v))) for u, v in edges)  # type: ignore[misc]
    components: dict[tuple, list[tuple]] = {}
    for node, root in roots.items():
        components.setdefault(root, []).append(node)
    # Components a batch at a time: never more documents re-shingled at once than in pass 1, and
    # a component bigger than a batch streams through its decision a batch of members at a time.
    pending: list[list[int]] = []
    size = 0
    for root in sorted(components):
        members = [d for _, d in sorted(components[root])]
        if len(members) >= batch_size:
            _decide(texts, [members], config, pass1, result, batch_size)
            continue
        pending.append(members)
        size += len(members)
        if size >= batch_size:
            _decide(texts, pending, config, pass1, result, batch_size)
            pending, size = [], 0
    _decide(texts, pending, config, pass1, result, batch_size)
    result.components = len(components)
    return result


def _decide(
    texts: Sequence[str],
    components: list[list[int]],
    config: NearDedupConfig,
    pass1: BandKeys,
    result: NearDedupResult,
    batch_size: int,
) -> None:
    """Survivors of each component (its documents in keep-preference order), the values of at
    most ``batch_size`` members at a time beside those of the kept ones."""
    if not components:
        return
    measure = similarity_for(config.verify)
    deciders = [Survivors(measure, config.threshold, config.max_checks) for _ in components]
    flat = [(c, d) for c, members in enumerate(components) for d in members]
    for start in range(0, len(flat), batch_size):
        chunk = flat[start : start + batch_size]
        values = _comparable(texts, [d for _, d in chunk], config, pass1)
        for c, d in chunk:
            deciders[c].decide(values[d], pass1.keys[d])
    for members, chosen in zip(components, deciders, strict=True):
        result.checks += chosen.checks
        result.by_centres += chosen.by_centres
        for i, w in enumerate(chosen.witness):
            if w != KEPT:
                result.witness[members[i]] = (members[w], chosen.similarity[i])


def similarity_for(verify: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """Exact Jaccard of two shingle sets (``exact``), or the estimate from two signatures."""
    return minhash.exact_jaccard if verify == "exact" else minhash.estimated_jaccard


def _comparable(
    texts: Sequence[str], docs: list[int], config: NearDedupConfig, pass1: BandKeys
) -> dict[int, np.ndarray]:
    """Document -> what ``similarity_of`` compares: its signature or shingle set (from pass 1's
    cache, else shingled again)."""
    if pass1.signatures is not None:
        return {d: pass1.signatures[d] for d in docs}
    if pass1.sets is not None:
        return {d: pass1.sets[d] for d in docs}
    hashes, offsets = shingle_hashes([texts[d] for d in docs], config.ngram, config.shingle)
    sets, set_offsets = unique_per_document(hashes, offsets)
    return {d: sets[set_offsets[j] : set_offsets[j + 1]] for j, d in enumerate(docs)}


def _ranks(n: int, order: Callable[[int], tuple] | None) -> np.ndarray:
    """Position of each document in keep-preference order (0 = most preferred)."""
    if order is None:
        return np.arange(n, dtype=np.int64)
    by = sorted(range(n), key=lambda i: (order(i), i))
    rank = np.empty(n, dtype=np.int64)
    rank[by] = np.arange(n)
    return rank


def _candidate_edges(keys: np.ndarray, has: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Unique (u, v) document pairs: per band, a star from each bucket's best-ranked member."""
    docs = np.flatnonzero(has)
    found = []
    for b in range(keys.shape[1]):
        k = keys[docs, b]
        r = rank[docs]
        order = np.lexsort((r, k))
        ks, ds = k[order], docs[order]
        first = np.ones(len(ks), dtype=bool)
        first[1:] = ks[1:] != ks[:-1]
        head = np.maximum.accumulate(np.where(first, np.arange(len(ks)), 0))
        member = ~first
        found.append(np.stack([ds[head[member]], ds[member]], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)
