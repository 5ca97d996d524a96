"""Train a byte-level BPE on a bounded sample of the kept documents, or load the given
tokenizer.json.

The sample is the documents with the smallest id hashes up to ``tokenizer.train_max_bytes``
(chosen from the per-unit byte counts per id-hash bucket), read a row group at a time: the same
sample whatever the order of arrival or the number of workers, and memory that does not grow
with the corpus.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import apache_beam as beam

from corpus.config import TokenizerConfig
from corpus.records import row_groups
from corpus.tokenize import sample_bucket, sample_cutoff, train_bpe
from pipelines import files
from pipelines.gather import GatherAll
from pipelines.stats import peak_rss_mb


def _sample(units: list[tuple[int, str]], bucket_bytes: dict[int, int], max_bytes: int) -> Iterator[str]:
    # Captured now, on the task's thread: tokenizers drains the sample on a thread of its own.
    counts = files.open_counts()
    cutoff = sample_cutoff(bucket_bytes, max_bytes)

    def texts() -> Iterator[str]:
        used = 0
        for _, path in sorted(units):
            with files.open_input(path, decompress=False, counts=counts) as f:
                for table in row_groups(f, columns=["id_hash", "text"]):
                    hashes = table.column("id_hash").to_pylist()
                    for h, text in zip(hashes, table.column("text").to_pylist(), strict=True):
                        if sample_bucket(h) < cutoff and used < max_bytes:
                            used += len(text.encode("utf-8"))
                            yield text

    return texts()


def make_tokenizer(gathered: list, config: TokenizerConfig, out_path: str, marker: str) -> dict:
    """Train (or load) the tokenizer, save it at ``out_path``; {"path", "sha256"}. ``gathered``
    holds ("unit", (index, docs path)) and ("bucket", (id-hash bucket, bytes of kept text)). A
    rerun whose marker names the file's current checksum keeps it."""
    units = [v for kind, v in gathered if kind == "unit"]
    bucket_bytes = dict(v for kind, v in gathered if kind == "bucket")
    done = files.read_json(marker)
    if done is not None and done["sha256"] == _sha_if_exists(out_path):
        return done
    started = time.perf_counter()
    io = files.start_counting()  # the bytes it reads and writes
    if config.path:
        data = files.read_bytes(config.path).decode("utf-8")
    else:
        sample = _sample(units, bucket_bytes, config.train_max_bytes)
        data = train_bpe(sample, config.vocab_size, config.bos_token).to_str()
    encoded = data.encode("utf-8")
    files.write_atomic(out_path, lambda f: f.write(encoded))
    done = {
        "path": out_path,
        "sha256": hashlib.sha256(encoded).hexdigest(),
        "stats": {
            "stage": "tokenizer",
            "seconds": time.perf_counter() - started,
            "peak_rss_mb": peak_rss_mb(),
            **io.stop(),
        },
    }
    files.write_json(marker, done)
    return done


def _sha_if_exists(path: str) -> str | None:
    data = files.read_if_exists(path)
    return None if data is None else hashlib.sha256(data).hexdigest()


class BuildTokenizer(beam.PTransform):
    """Per-unit results of kept documents -> one element: {"path", "sha256"} of tokenizer.json."""

    def __init__(self, config: TokenizerConfig, out_path: str, marker: str) -> None:
        super().__init__()
        self.config = config
        self.out_path = out_path
        self.marker = marker

    def expand(self, kept: beam.PCollection) -> beam.PCollection:
        # Bytes per id-hash bucket are summed across units first: what meets in one place is
        # one histogram and the list of units, however many units there are.
        buckets = (
            kept
            | "BucketBytes" >> beam.FlatMap(lambda r: [(int(b), n) for b, n in r["sample_buckets"].items()])
            | "SumPerBucket" >> beam.CombinePerKey(sum)
            | "TagBuckets" >> beam.Map(lambda kv: ("bucket", kv))
        )
        units = kept | "TagUnits" >> beam.Map(lambda r: ("unit", (r["index"], r["path"])))
        return (
            (buckets, units)
            | "BucketsAndUnits" >> beam.Flatten()
            | "Together" >> GatherAll()
            | "TrainOrLoad" >> beam.Map(make_tokenizer, self.config, self.out_path, self.marker)
        )
