"""Commit a run: move shards to their final names, write summary.json, then manifest.json."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

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
    counts = merge(r["counts"] for r in results)
    skipped: dict[str, int] = {}
    for r in results:
        for kind, n in r["skipped"].items():
            skipped[kind] = skipped.get(kind, 0) + n
    parts = sorted(
        (s for r in results for s in r.get("shards", [])),
        key=lambda s: (s["split"], s.get("language") or "", s["order"]),
    )
    entries = []
    numbers: dict[tuple[str, str], int] = {}
    for part in parts:
        language = part.get("language")
        route = (part["split"], language or "")
        n = numbers.get(route, 0)
        numbers[route] = n + 1
        name = f"{part['split']}_{language}_{n:06d}" if language else f"{part['split']}_{n:06d}"
        for suffix in (".docs.parquet", ".idx", ".bin"):
            target = files.join(out_dir, name + suffix)
            if FileSystems.exists(target):
                FileSystems.delete([target])
            FileSystems.rename([part["stem"] + suffix], [target])
        entry = {
            k: part[k] for k in ("split", "tokens", "documents", "dtype", "bytes", "sha256", "idx_sha256")
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
