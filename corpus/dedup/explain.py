"""A near-duplicate group of a finished run, explained: each member with its text, and each
removed member's differences from its witness (the kept document it duplicates), read from the
run's ``clusters/``, ``docs/`` and ``rejected/`` Parquet."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds

from corpus.errors import InputError


@dataclass(frozen=True)
class Member:
    id: str
    kept: bool
    witness: str | None
    similarity: float | None
    url: str | None
    text: str


@dataclass(frozen=True)
class Group:
    cluster_id: str
    members: list[Member]


def _table(folder: Path, columns: list[str], column: str, values: list[str]):
    files = sorted(folder.glob("*.parquet"))
    if not files:
        return None
    return ds.dataset(files, format="parquet").to_table(columns=columns, filter=pc.field(column).isin(values))


def find_group(run: str | Path, doc_or_cluster_id: str) -> Group:
    """The group whose cluster id is ``doc_or_cluster_id`` or that has it as a member."""
    run = Path(run)
    clusters_dir = run / "clusters"
    if not any(clusters_dir.glob("*.parquet")):
        raise InputError(f"{run}: no clusters/ Parquet (near dedup off, or write_clusters = false)")
    clusters = ds.dataset(sorted(clusters_dir.glob("*.parquet")), format="parquet")
    hit = clusters.to_table(
        columns=["cluster_id"],
        filter=(pc.field("cluster_id") == doc_or_cluster_id) | (pc.field("id") == doc_or_cluster_id),
    )
    if not len(hit):
        raise InputError(f"{run}: {doc_or_cluster_id!r} is in no near-duplicate group")
    cluster_id = hit.column("cluster_id")[0].as_py()
    rows = clusters.to_table(filter=pc.field("cluster_id") == cluster_id).to_pylist()
    ids = [r["id"] for r in rows]
    texts: dict[str, tuple[str | None, str]] = {}
    for folder in ("docs", "rejected"):
        table = _table(run / folder, ["id", "url", "text"], "id", ids)
        if table is not None:
            for r in table.to_pylist():
                texts.setdefault(r["id"], (r["url"], r["text"] or ""))
    members = [
        Member(r["id"], r["kept"], r["witness"], r["similarity"], *texts.get(r["id"], (None, "")))
        for r in rows
    ]
    # Kept first, then by id: the order a reader compares them in.
    members.sort(key=lambda m: (not m.kept, m.id != cluster_id, m.id))
    return Group(cluster_id, members)


def word_diff(witness: str, member: str, context: int = 3, limit: int = 40) -> list[str]:
    """A unified diff of the two texts, a line per paragraph, at most ``limit`` lines."""
    lines = list(
        difflib.unified_diff(
            witness.splitlines(), member.splitlines(), "witness", "member", n=context, lineterm=""
        )
    )
    return lines[:limit] + ([f"... {len(lines) - limit} more diff lines"] if len(lines) > limit else [])


def render(group: Group, limit: int = 40) -> str:
    by_id = {m.id: m for m in group.members}
    kept = sum(m.kept for m in group.members)
    out = [f"group {group.cluster_id}: {len(group.members)} documents, {kept} kept"]
    for m in group.members:
        words = len(m.text.split())
        if m.kept:
            out.append(f"\n  kept     {m.id}  ({words} words)  {m.url or ''}".rstrip())
            continue
        out.append(
            f"\n  removed  {m.id}  ({words} words)  {m.url or ''}\n"
            f"           witness {m.witness}  similarity {m.similarity:.3f}".rstrip()
        )
        witness = by_id.get(m.witness or "")
        if witness is not None:
            out += ["    " + line for line in word_diff(witness.text, m.text, limit=limit)]
    return "\n".join(out) + "\n"
