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


def _finder(parent: list[int]):
    """``find`` of a union-find over ``parent`` (path halving); union is ``parent[find(a)] = find(b)``."""

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    return find


def related_bases(bases: Sequence[str], floor: float = 0.3, ngram: int = 5) -> list[int]:
    """Family of each base: bases that already overlap (Jaccard >= ``floor``, e.g. an untranslated
    page and its original) share one, so the brute force within families sees every true pair."""
    sets = [reference_shingles(b, ngram) for b in bases]
    parent = list(range(len(bases)))
    find = _finder(parent)

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
    find = _finder(parent)

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


def plant_hard(bases: Sequence[str], seed: int = 0, chains: int = 20, copies_of_one: int = 10_000) -> Planted:
    """``plant``'s families, plus what breaks one-survivor-per-component dedup: ``chains``
    successive-revision chains (A~B~C with A and C unlike) and one page copied ``copies_of_one``
    times."""
    rng = random.Random(seed)
    out = plant(bases, copies=3, seed=seed)
    texts, family, edits = list(out.texts), list(out.family), list(out.edits)
    long_bases = sorted(range(len(bases)), key=lambda i: -len(bases[i].split()))[: chains * 2]
    for i in rng.sample(long_bases, min(chains, len(long_bases))):
        for k, text in enumerate(chain(bases[i], bases, rng.choice((3, 4, 5)), 0.02, rng)[1:]):
            texts.append(text)
            family.append(family[texts.index(bases[i])])
            edits.append(f"chain_{k + 1}")
    page = min(range(len(bases)), key=lambda i: abs(len(bases[i]) - 2000))
    for _ in range(copies_of_one):
        texts.append(bases[page])
        family.append(family[texts.index(bases[page])])
        edits.append("copy")
    return Planted(texts, family, edits)


def witness_score(
    planted: Planted, removed: set[int] | dict[int, int], threshold: float, ngram: int = 5
) -> dict:
    """Quality of a set of removals by the truth of exact Jaccard (brute force within families,
    over distinct texts so that thousands of copies cost nothing):

    - ``precision``: share of removals that have a true near duplicate (Jaccard >= threshold)
      among the documents that stay;
    - ``groups_lost``: groups of true duplicates (connected by true pairs) with no survivor;
    - ``pair_recall``: share of true pairs of which at least one document was removed
      (``distinct_pair_recall``: the same over pairs of distinct texts, which copies do not swamp);
    - ``unique_removed``: removed documents with no true near duplicate at all."""
    gone = set(removed)
    by_text: dict[str, list[int]] = {}
    for i, t in enumerate(planted.texts):
        by_text.setdefault(t, []).append(i)
    classes = list(by_text.values())
    family_of = [planted.family[c[0]] for c in classes]
    shingles = [reference_shingles(planted.texts[c[0]], ngram) for c in classes]
    kept_in = [sum(1 for i in c if i not in gone) for c in classes]
    similar: dict[int, list[int]] = {a: [] for a in range(len(classes))}
    by_family: dict[int, list[int]] = {}
    for a, f in enumerate(family_of):
        by_family.setdefault(f, []).append(a)
    for members in by_family.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                a, b = members[x], members[y]
                union = len(shingles[a] | shingles[b])
                if union and len(shingles[a] & shingles[b]) / union >= threshold:
                    similar[a].append(b)
                    similar[b].append(a)
    pairs = both_kept = distinct = distinct_kept = 0
    for a, c in enumerate(classes):
        pairs += len(c) * (len(c) - 1) // 2
        both_kept += kept_in[a] * (kept_in[a] - 1) // 2
        for b in similar[a]:
            if b > a:
                pairs += len(c) * len(classes[b])
                both_kept += kept_in[a] * kept_in[b]
                distinct += 1
                distinct_kept += bool(kept_in[a]) and bool(kept_in[b])
    right = unique = 0
    for a, c in enumerate(classes):
        n_gone = len(c) - kept_in[a]
        if not n_gone:
            continue
        if kept_in[a] or any(kept_in[b] for b in similar[a]):
            right += n_gone
        if len(c) == 1 and not similar[a]:
            unique += n_gone
    # Groups: classes joined by true pairs; a class of several copies is a group by itself.
    parent = list(range(len(classes)))
    find = _finder(parent)

    for a in range(len(classes)):
        for b in similar[a]:
            parent[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for a in range(len(classes)):
        groups.setdefault(find(a), []).append(a)
    true_groups = [g for g in groups.values() if len(g) > 1 or len(classes[g[0]]) > 1]
    lost = sum(1 for g in true_groups if not any(kept_in[a] for a in g))
    return {
        "documents": len(planted.texts),
        "removed": len(gone),
        "precision": right / len(gone) if gone else 1.0,
        "pair_recall": (pairs - both_kept) / pairs if pairs else 1.0,
        "true_pairs": pairs,
        "distinct_pair_recall": (distinct - distinct_kept) / distinct if distinct else 1.0,
        "distinct_pairs": distinct,
        "groups": len(true_groups),
        "groups_lost": lost,
        "unique_removed": unique,
    }
