"""Tokenize each unit's kept documents into runs, then cut the runs into train/val shards of
``shard.max_tokens_per_shard`` tokens across units.

A unit writes one run per split (and language) to ``work/shards/``: its documents in shard order
as a ``.bin``, ``.idx`` and ``.docs.parquet`` of their own. Only the runs' token counts (and the
rare document longer than a shard) meet in a ``GroupByKey`` per split; the plan it gives
(``corpus.shards.split.plan_cuts``) names for each output shard the runs that hold its documents,
and one task per shard copies their byte ranges into ``<out>/train_NNNNNN.bin`` etc., a chunk at
a time: no token passes through a shuffle, and a task's memory is bounded by one shard's index
and lineage rows, whatever the corpus size.
"""

from __future__ import annotations

import hashlib
import time

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from corpus.config import MAX_SHARD_TOKENS, PipelineConfig
from corpus.errors import InputError
from corpus.records import documents_of, row_groups, write_parquet
from corpus.shards.format import (
    HEADER_BYTES,
    ShardHeader,
    make_header,
    parse_header,
    parse_index,
    write_index,
    write_shard,
)
from corpus.shards.split import documents_in_slot, long_documents, plan_cuts, run_parts
from corpus.stage_steps import shard_step
from corpus.summary import count
from corpus.tokenize import DocumentEncoder
from pipelines import files
from pipelines.stages.extract import marker_path
from pipelines.stats import unit_finished

SUFFIXES = (".bin", ".idx", ".docs.parquet")
COPY_BYTES = 1 << 24
"""Bytes of tokens copied at a time from a run into a shard."""


class ShardFileFn(beam.DoFn):
    """A unit's kept documents -> its runs (one per split and language) in ``work/shards/``."""

    def __init__(self, config: PipelineConfig, work_dir: str, shard_dir: str) -> None:
        self.config = config
        self.work_dir = work_dir
        self.shard_dir = shard_dir
        self.encoder: DocumentEncoder | None = None
        self.encoder_sha: str | None = None

    def process(self, element: tuple[int, dict]):
        unit, grouped = element
        (kept,) = grouped["kept"]
        (tokenizer,) = grouped["tokenizer"]
        marker = marker_path(self.work_dir, "shard", unit)
        done = files.read_json(marker)
        if done is not None and done["tokenizer_sha256"] == tokenizer["sha256"] and self._present(done):
            yield done
            return
        result = self.run_unit(unit, kept["path"], tokenizer)
        files.write_json(marker, result)
        yield result

    def _present(self, done: dict) -> bool:
        """A marker from another layout, or whose runs are gone: the unit is tokenized again."""
        runs = done.get("runs")
        return runs is not None and all(
            FileSystems.exists(r["stem"] + suffix) for r in runs for suffix in SUFFIXES
        )

    def run_unit(self, unit: int, docs_path: str, tokenizer: dict) -> dict:
        started = time.perf_counter()
        io = files.start_counting()  # the bytes it reads and writes, for run_stats.json
        if self.encoder_sha != tokenizer["sha256"]:  # built once per worker
            data = files.read_bytes(tokenizer["path"])
            if hashlib.sha256(data).hexdigest() != tokenizer["sha256"]:
                raise InputError(f"{tokenizer['path']}: changed while the job ran (sha256 differs)")
            self.encoder = DocumentEncoder(
                data.decode("utf-8"), self.config.tokenizer.bos_token, self.config.shard.document_token
            )
            self.encoder_sha = tokenizer["sha256"]
        assert self.encoder is not None
        with files.open_input(docs_path, decompress=False) as f:
            # Row group by row group: the unit's text is never in memory at once.
            planned_runs = shard_step(
                (d for table in row_groups(f) for d in documents_of(table)), self.encoder, self.config
            )
        runs = []
        for planned, part in (p for run in planned_runs for p in run_parts(run, MAX_SHARD_TOKENS)):
            route = f"{planned.language}-" if planned.language else ""
            suffix = f"-{part:04d}" if part else ""
            stem = files.join(self.shard_dir, f"{planned.split}-{route}{unit:06d}{suffix}")
            with files.atomic_output(stem + ".bin") as bin_f, files.atomic_output(stem + ".idx") as idx_f:
                bin_out = _Hashing(bin_f)
                stats = write_shard(
                    bin_out,
                    idx_f,
                    planned.tokens,
                    self.encoder.dtype,
                    self.encoder.bos_id,
                    self.encoder.position,
                )
            lineage = pa.table(
                {
                    "id": pa.array(planned.ids, pa.string()),
                    "url": pa.array(planned.urls, pa.string()),
                    "tokens": pa.array([len(t) for t in planned.tokens], pa.int64()),
                }
            )
            files.write_atomic(stem + ".docs.parquet", lambda f, t=lineage: write_parquet(t, f))
            lengths = [len(t) for t in planned.tokens]
            runs.append(
                {
                    "stem": stem,
                    "split": planned.split,
                    "language": planned.language,
                    "unit": [unit, part],
                    "tokens": stats.num_tokens,
                    "documents": stats.num_docs,
                    "bytes": bin_out.written,
                    "long": [
                        list(d) for d in long_documents(lengths, self.config.shard.max_tokens_per_shard)
                    ],
                }
            )
        documents = sum(r["documents"] for r in runs)
        counts: dict = {}
        count(counts, "shard", documents)
        return {
            "index": unit,
            "runs": runs,
            "counts": counts,
            "skipped": {},
            "tokenizer_sha256": tokenizer["sha256"],
            "stats": {
                "stage": "tokenize_shard",
                "seconds": time.perf_counter() - started,
                "documents": documents,
                "bytes_out": sum(r["bytes"] for r in runs),
                "peak_rss_mb": unit_finished(),
                **io.stop(),
            },
        }


class _Hashing:
    """A write-only stream that also feeds a hash, so a shard is never held twice in memory."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.written = 0

    def write(self, data) -> int:
        self.digest.update(data)
        self.written += len(data)
        self.stream.write(data)
        return len(data)


def shard_name(split: str, language: str | None, number: int) -> str:
    return f"{split}_{language}_{number:06d}" if language else f"{split}_{number:06d}"


def plan_route(route: tuple[str, str], runs: list[dict], max_tokens: int) -> list[dict]:
    """One split's (and language's) runs, as they come out of the group -> one task per shard."""
    split, language = route
    runs = sorted(runs, key=lambda r: r["unit"])  # the group's order is the runner's
    starts, cuts = plan_cuts([r["tokens"] for r in runs], [r["long"] for r in runs], max_tokens)
    return [
        {
            "split": split,
            "language": language or None,
            "number": cut.number,
            "slot": cut.slot,
            "runs": [{"stem": runs[i]["stem"], "start": starts[i]} for i in cut.runs],
        }
        for cut in cuts
    ]


class AssembleShardFn(beam.DoFn):
    """One planned shard: its documents' byte ranges copied out of the runs that hold them, with
    its ``.idx`` and lineage rows, under the shard's final name (each file visible only when
    complete; the manifest, written last, commits them)."""

    def __init__(self, out_dir: str, max_tokens: int) -> None:
        self.out_dir = out_dir
        self.max_tokens = max_tokens

    def process(self, task: dict):
        started = time.perf_counter()
        io = files.start_counting()  # the bytes it reads and writes, for run_stats.json
        pieces = []  # (stem, header, first document, lengths of its documents)
        bytes_in = 0
        for run in task["runs"]:
            stem = run["stem"]
            index_data = files.read_bytes(stem + ".idx")
            bytes_in += len(index_data)
            lengths = parse_index(index_data, stem + ".idx").lengths
            a, b = documents_in_slot(lengths, run["start"], task["slot"], self.max_tokens)
            if a < b:
                with files.open_input(stem + ".bin", decompress=False) as f:
                    header = parse_header(f.read(HEADER_BYTES), stem + ".bin")
                pieces.append((stem, header, a, lengths[:b].astype(np.int64)))
        if not pieces:  # plan_cuts gives only slots in which some document ends
            raise RuntimeError(f"shard {task['split']} {task['number']}: planned with no document")
        first: ShardHeader = pieces[0][1]
        for stem, header, _, _ in pieces:
            same = (header.dtype, header.document_token, header.document_position)
            if same != (first.dtype, first.document_token, first.document_position):
                raise RuntimeError(f"{stem}.bin: token type or document token differ from {pieces[0][0]}.bin")
        lengths = np.concatenate([lens[a:] for _, _, a, lens in pieces])
        name = shard_name(task["split"], task["language"], task["number"])
        stem = files.join(self.out_dir, name)
        bytes_in += self._write_lineage(stem + ".docs.parquet", pieces)
        with files.atomic_output(stem + ".idx") as idx_f:
            idx_out = _Hashing(idx_f)
            write_index(idx_out, lengths, first.dtype)
        with files.atomic_output(stem + ".bin") as bin_f:
            bin_out = _Hashing(bin_f)
            position = first.document_position
            bin_out.write(
                make_header(
                    int(lengths.sum()), len(lengths), first.dtype, first.document_token or 0, position
                ).tobytes()
            )
            for run_stem, header, a, lens in pieces:
                bytes_in += _copy_tokens(run_stem + ".bin", bin_out, lens, a, header.dtype.itemsize)
        shard = {
            "name": name,
            "number": task["number"],
            "split": task["split"],
            "language": task["language"],
            "tokens": int(lengths.sum()),
            "documents": len(lengths),
            "dtype": first.dtype.name,
            "bytes": bin_out.written,
            "sha256": bin_out.digest.hexdigest(),
            "idx_sha256": idx_out.digest.hexdigest(),
        }
        yield {
            "shards": [shard],
            "counts": {},
            "skipped": {},
            "stats": {
                "stage": "assemble_shards",
                "task": True,  # one per output shard, not per unit
                "seconds": time.perf_counter() - started,
                "documents": len(lengths),
                "bytes_in": bytes_in,
                "bytes_out": bin_out.written + idx_out.written,
                "peak_rss_mb": unit_finished(),
                **io.stop(),
            },
        }

    def _write_lineage(self, path: str, pieces: list) -> int:
        """The shard's rows of its runs' lineage files, numbered in the shard; returns bytes read."""
        tables, read = [], 0
        for stem, _, a, lens in pieces:
            data = files.read_bytes(stem + ".docs.parquet")
            read += len(data)
            table = pq.read_table(pa.BufferReader(data), columns=["id", "url", "tokens"])
            tables.append(table.slice(a, len(lens) - a))
        rows = pa.concat_tables(tables)
        lineage = pa.table(
            {
                "position": pa.array(range(rows.num_rows), pa.int64()),
                "id": rows.column("id"),
                "url": rows.column("url"),
                "tokens": rows.column("tokens"),
            }
        )
        files.write_atomic(path, lambda f: write_parquet(lineage, f))
        return read


def _copy_tokens(path: str, out: _Hashing, lengths: np.ndarray, first: int, itemsize: int) -> int:
    """Copy documents ``first`` .. ``len(lengths)`` of a run's ``.bin`` (``lengths`` from its
    first document) into ``out``, a chunk at a time; returns the bytes copied."""
    start = HEADER_BYTES + int(lengths[:first].sum()) * itemsize
    left = int(lengths[first:].sum()) * itemsize
    total = left
    with files.open_input(path, decompress=False) as f:
        f.seek(start)
        while left:
            chunk = f.read(min(COPY_BYTES, left))
            if not chunk:
                raise InputError(f"{path}: ends {left} bytes early (changed while the job ran?)")
            out.write(chunk)
            left -= len(chunk)
    return total


class CutShards(beam.PTransform):
    """Unit results (with their runs) -> one result per output shard, cut across units."""

    def __init__(self, out_dir: str, max_tokens: int) -> None:
        super().__init__()
        self.out_dir = out_dir
        self.max_tokens = max_tokens

    def expand(self, unit_results: beam.PCollection) -> beam.PCollection:
        max_tokens = self.max_tokens
        return (
            unit_results
            | "RunsBySplit"
            >> beam.FlatMap(
                lambda r: [((run["split"], run["language"] or ""), run) for run in r.get("runs", [])]
            )
            | "CountsTogether" >> beam.GroupByKey()
            | "PlanShards" >> beam.FlatMapTuple(lambda route, runs: plan_route(route, list(runs), max_tokens))
            # One task per shard, spread over the workers (not fused with the plan's one group).
            | "SpreadShards" >> beam.Reshuffle()
            | "Assemble" >> beam.ParDo(AssembleShardFn(self.out_dir, max_tokens))
        )


class WriteShards(beam.PTransform):
    """Per-unit kept documents + the tokenizer -> the unit results (counts, runs) and one result
    per train/val shard, written under ``out_dir``. The tokenizer meets each unit in a join, not
    a side input."""

    def __init__(
        self, config: PipelineConfig, work_dir: str, shard_dir: str, tokenizer, units: int, out_dir: str
    ) -> None:
        super().__init__()
        self.fn = ShardFileFn(config, work_dir, shard_dir)
        self.tokenizer = tokenizer
        self.units = units
        self.out_dir = out_dir
        self.max_tokens = config.shard.max_tokens_per_shard

    def expand(self, kept: beam.PCollection) -> beam.PCollection:
        n = self.units
        by_unit = kept | "ByUnit" >> beam.Map(lambda r: (r["index"], r))
        tokenizer = self.tokenizer | "ToEachUnit" >> beam.FlatMap(lambda t: [(i, t) for i in range(n)])
        units = (
            {"kept": by_unit, "tokenizer": tokenizer}
            | "JoinTokenizer" >> beam.CoGroupByKey()
            | "Shard" >> beam.ParDo(self.fn)
        )
        shards = units | "CutShards" >> CutShards(self.out_dir, self.max_tokens)
        return (units, shards) | "UnitsAndShards" >> beam.Flatten()
