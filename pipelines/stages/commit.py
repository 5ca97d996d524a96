"""Commit a run: list the shards, write summary.json, then manifest.json (the commit marker)."""

from __future__ import annotations

from typing import Any

import apache_beam as beam

from corpus.manifest import MANIFEST_NAME, build_manifest, to_json
from corpus.summary import build_summary, merge
from corpus.tokenize import tokenizer_identity
from pipelines import files
from pipelines.gather import GatherAll
from pipelines.stats import by_stage


def _write_json(path: str, data: dict[str, Any]) -> None:
    text = to_json(data)
    files.write_atomic(path, lambda f: f.write(text.encode("utf-8")))


RUN_STATS_NAME = "run_stats.json"


def commit(results: list[dict], tokenizer: dict, out_dir: str, config: dict, bos_token: str) -> dict:
    tokenizer_json = files.read_bytes(tokenizer["path"]).decode("utf-8")
    counts = merge(r.get("counts", {}) for r in results)
    skipped: dict[str, int] = {}
    for r in results:
        for kind, n in r.get("skipped", {}).items():
            skipped[kind] = skipped.get(kind, 0) + n
    # The shards are in place under their final names (pipelines/stages/shard.py): the
    # manifest lists them in name order.
    shards = sorted(
        (s for r in results for s in r.get("shards", [])),
        key=lambda s: (s["split"], s.get("language") or "", s["number"]),
    )
    _check_cover(results, shards)
    entries = []
    for shard in shards:
        name, language = shard["name"], shard.get("language")
        entry = {
            k: shard[k] for k in ("split", "tokens", "documents", "dtype", "bytes", "sha256", "idx_sha256")
        }
        entries.append(
            {
                "name": name,
                "bin": name + ".bin",
                "idx": name + ".idx",
                "docs": name + ".docs.parquet",
                **entry,
                **({"language": language} if language else {}),
            }
        )
    position = config.get("shard", {}).get("document_token", "start")
    identity = tokenizer_identity(tokenizer_json, bos_token, position=position)
    manifest = build_manifest(identity, config, entries)
    extra: dict[str, Any] = {"tokens": manifest["totals"], "shards": len(entries)}
    if config.get("near_dedup", {}).get("enabled", True):
        decided = {"groups": 0, "checks": 0, "kept_undecided": 0}
        for r in results:
            for key, n in r.get("near_dedup", {}).items():
                decided[key] += n
        extra["near_dedup"] = decided
    summary = build_summary(counts, skipped, extra)
    # Seconds and memory differ from run to run: apart from the outputs that must not.
    stats = {"stages": by_stage([*(r["stats"] for r in results if "stats" in r), tokenizer["stats"]])}
    _write_json(files.join(out_dir, RUN_STATS_NAME), stats)
    _write_json(files.join(out_dir, "summary.json"), summary)
    _write_json(files.join(out_dir, MANIFEST_NAME), manifest)  # last: the commit marker
    return summary


def _check_cover(results: list[dict], shards: list[dict]) -> None:
    """The shards of each split (and language) are numbered 0, 1, ... and hold exactly the
    tokens and documents of the units' runs: a run with a shard missing is never committed."""
    runs: dict[tuple[str, str], tuple[int, int]] = {}
    for r in results:
        for run in r.get("runs", []):
            route = (run["split"], run["language"] or "")
            tokens, documents = runs.get(route, (0, 0))
            runs[route] = (tokens + run["tokens"], documents + run["documents"])
    cut: dict[tuple[str, str], tuple[int, int]] = {}
    numbers: dict[tuple[str, str], int] = {}
    for shard in shards:  # sorted by route and number
        route = (shard["split"], shard.get("language") or "")
        if shard["number"] != numbers.get(route, 0):
            raise RuntimeError(f"{shard['name']}: the shards of {route} are not numbered 0, 1, ...")
        numbers[route] = shard["number"] + 1
        tokens, documents = cut.get(route, (0, 0))
        cut[route] = (tokens + shard["tokens"], documents + shard["documents"])
    if cut != runs:
        raise RuntimeError(f"the shards hold {cut} (tokens, documents), the units' runs {runs}")


class CommitRun(beam.PTransform):
    def __init__(self, out_dir: str, config: dict, bos_token: str, tokenizer: beam.PCollection) -> None:
        super().__init__()
        self.out_dir = out_dir
        self.config = config
        self.bos_token = bos_token
        self.tokenizer = tokenizer

    def expand(self, results: beam.PCollection) -> beam.PCollection:
        # One join brings every result and the tokenizer together (no side input: see gather.py).
        # It is the job's last transform and every sink feeds it, as the DaskRunner needs.
        out_dir, config, bos_token = self.out_dir, self.config, self.bos_token

        def run_commit(grouped: list) -> dict:
            (tokenizer,) = [v for kind, v in grouped if kind == "tokenizer"]
            return commit(
                [v for kind, v in grouped if kind == "result"], tokenizer, out_dir, config, bos_token
            )

        return (
            (
                results | "TagResults" >> beam.Map(lambda r: ("result", r)),
                self.tokenizer | "TagTokenizer" >> beam.Map(lambda t: ("tokenizer", t)),
            )
            | "Everything" >> beam.Flatten()
            | "Together" >> GatherAll()
            | "Commit" >> beam.Map(run_commit)
        )
