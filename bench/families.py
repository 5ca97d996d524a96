"""Planted near-duplicates of real documents, with the edits web copies really show.

Each real document (the *base*) gets a few variants, each made by one or two edits: a changed
header or footer line, a paragraph added (from another real document) or removed, a share of its
words replaced by words of other real documents, or two paragraphs swapped. Edit sizes are drawn
so that many pairs fall near the 0.8 threshold (Jaccard 0.6 to 0.95). The ground truth is not the
edit but the exact Jaccard of every pair within a family, computed by brute force with
``corpus.dedup.shingles.reference_shingles`` (plain Python, independent of the vectorised code).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from corpus.dedup.shingles import reference_shingles


@dataclass(frozen=True)
class Planted:
    texts: list[str]
    family: list[int]
    """Family (index of the base document) of each text."""
    edits: list[str]


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n") if p.strip()]


def _replace_words(text: str, share: float, donor_words: Sequence[str], rng: random.Random) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), int(len(words) * share)):
        words[i] = rng.choice(donor_words)
    return " ".join(words)


def variant(base: str, donors: Sequence[str], rng: random.Random) -> tuple[str, str]:
    """One edited copy of ``base`` and a description of its edits."""
    paras = _paragraphs(base)
    donor = _paragraphs(rng.choice(donors))
    donor_words = " ".join(donor).split(" ")
    done = []
    for _ in range(rng.choice((1, 1, 2))):
        edit = rng.choice(("header_footer", "add_paragraph", "remove_paragraph", "replace_words", "reorder"))
        if edit == "header_footer":
            line = " ".join(rng.sample(donor_words, min(len(donor_words), rng.randint(5, 25))))
            paras = [line, *paras] if rng.random() < 0.5 else [*paras, line]
        elif edit == "add_paragraph" and donor:
            paras.insert(rng.randrange(len(paras) + 1), rng.choice(donor))
        elif edit == "remove_paragraph" and len(paras) > 2:
            paras.pop(rng.randrange(len(paras)))
        elif edit == "replace_words":
            share = rng.choice((0.01, 0.02, 0.03, 0.05))
            paras = [_replace_words(p, share, donor_words, rng) for p in paras]
        elif edit == "reorder" and len(paras) > 2:
            i, j = rng.sample(range(len(paras)), 2)
            paras[i], paras[j] = paras[j], paras[i]
        else:
            continue
        done.append(edit)
    return "\n".join(paras), "+".join(done) or "none"


def chain(base: str, donors: Sequence[str], links: int, share: float, rng: random.Random) -> list[str]:
    """Successive revisions of ``base``: each replaces ``share`` of the words of the one before,
    so neighbours are near duplicates while the ends of a long chain are not (A~B, B~C, A and C
    unlike) -- what connected components get wrong."""
    donor_words = " ".join(rng.choice(donors) for _ in range(3)).split()
    out = [base]
    for _ in range(links):
        out.append(_replace_words(out[-1], share, donor_words, rng))
    return out


def related_bases(bases: Sequence[str], floor: float = 0.3, ngram: int = 5) -> list[int]:
    """Family of each base: bases that already overlap (Jaccard >= ``floor``, e.g. an untranslated
    page and its original) share one, so the brute force within families sees every true pair."""
    sets = [reference_shingles(b, ngram) for b in bases]
    parent = list(range(len(bases)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a in range(len(bases)):
        for b in range(a + 1, len(bases)):
            x, y = sets[a], sets[b]
            small, large = sorted((len(x), len(y)))
            if small < floor * large:
                continue
            if len(x & y) >= floor * len(x | y):
                parent[find(a)] = find(b)
    return [find(i) for i in range(len(bases))]


def plant(bases: Sequence[str], copies: int = 3, seed: int = 0) -> Planted:
    """Each base followed by 0 to ``copies`` variants (a quarter of the bases keep none)."""
    rng = random.Random(seed)
    base_family = related_bases(bases)
    texts: list[str] = []
    family: list[int] = []
    edits: list[str] = []
    for i, base in enumerate(bases):
        texts.append(base)
        family.append(base_family[i])
        edits.append("original")
        if rng.random() < 0.25:
            continue
        for _ in range(rng.randint(1, copies)):
            text, how = variant(base, bases, rng)
            texts.append(text)
            family.append(base_family[i])
            edits.append(how)
    return Planted(texts, family, edits)


def true_clusters(planted: Planted, threshold: float, ngram: int = 5) -> list[set[int]]:
    """Connected components of pairs (within a family) whose exact Jaccard reaches ``threshold``."""
    shingles = [reference_shingles(t, ngram) for t in planted.texts]
    parent = list(range(len(planted.texts)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_family: dict[int, list[int]] = {}
    for i, f in enumerate(planted.family):
        by_family.setdefault(f, []).append(i)
    for members in by_family.values():
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                x, y = shingles[members[a]], shingles[members[b]]
                union = len(x | y)
                if union and len(x & y) / union >= threshold:
                    parent[find(members[a])] = find(members[b])
    groups: dict[int, set[int]] = {}
    for i in range(len(planted.texts)):
        groups.setdefault(find(i), set()).add(i)
    return [g for g in groups.values() if len(g) > 1]


def pair_similarities(planted: Planted, ngram: int = 5) -> list[float]:
    """Exact Jaccard of every within-family pair (to show how many lie near the threshold)."""
    shingles = [reference_shingles(t, ngram) for t in planted.texts]
    by_family: dict[int, list[int]] = {}
    for i, f in enumerate(planted.family):
        by_family.setdefault(f, []).append(i)
    sims = []
    for members in by_family.values():
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                x, y = shingles[members[a]], shingles[members[b]]
                sims.append(len(x & y) / max(1, len(x | y)))
    return sims


def score(removed: dict[int, int], clusters: list[set[int]], n: int) -> dict[str, float]:
    """Precision and recall of removals against the true clusters.

    A removal is right when the document has a true duplicate; the number that should be removed
    is, per true cluster, its size minus one. Also: true clusters left with no survivor (must be 0)
    and with exactly one survivor."""
    in_cluster = {i for c in clusters for i in c}
    right = sum(1 for i in removed if i in in_cluster)
    should = sum(len(c) - 1 for c in clusters)
    survivors = [len(c - set(removed)) for c in clusters]
    return {
        "removed": len(removed),
        "should_remove": should,
        "precision": right / len(removed) if removed else 1.0,
        "recall": min(right, should) / should if should else 1.0,
        "clusters": len(clusters),
        "clusters_all_removed": sum(1 for s in survivors if s == 0),
        "clusters_one_survivor": sum(1 for s in survivors if s == 1),
        "unique_removed": sum(1 for i in removed if i not in in_cluster),
        "documents": n,
    }
