"""Measure each stage against its floor on the bundled sample's real documents; write BENCHMARKS.md.

Every figure is the median of several repetitions with the spread (min-max) shown; ratios are taken
repetition by repetition in the same run, because this machine is noisy. The peer column
(datatrove) is not measured yet: see issue 3.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xxhash

from corpus.config import PipelineConfig
from corpus.extract import extract_document
from corpus.filters.language import LanguageIdentifier, filter_language
from corpus.readers.warc import WarcReader
from corpus.records import RawDocument
from corpus.shards import write_shard
from corpus.steps import shard_step
from corpus.tokenize import DocumentEncoder, train_bpe

SAMPLE = Path("data/sample/debian-reference.warc.gz")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def pair(
    ours: Callable[[], object], floor: Callable[[], object], reps: int
) -> tuple[list[float], list[float]]:
    a, b = [], []
    for _ in range(reps):
        a.append(timed(ours))
        b.append(timed(floor))
    return a, b


def fmt(values: list[float], unit_per_s: float, unit: str) -> str:
    rates = sorted(unit_per_s / v for v in values)
    return f"{statistics.median(rates):,.0f} {unit}/s ({rates[0]:,.0f}–{rates[-1]:,.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (under 3 minutes)")
    parser.add_argument("--out", default="BENCHMARKS.md")
    args = parser.parse_args(argv)
    reps = 3 if args.quick else 7
    config = PipelineConfig()
    raw_bytes = SAMPLE.read_bytes()
    mb = len(raw_bytes) / 1e6
    rows: list[tuple[str, str, str, str, str]] = []

    def ratio(a: list[float], b: list[float]) -> str:
        return f"{statistics.median(x / y for x, y in zip(a, b, strict=True)):.2f}×"

    # 1. WARC read: our reader (digest checked, HTTP parsed) vs gzip decompression of the same file.
    def read_all() -> list:
        return list(WarcReader(io.BytesIO(raw_bytes), str(SAMPLE)))

    def inflate() -> None:
        d = zlib.decompressobj(31)
        data = raw_bytes
        while data:
            d.decompress(data)
            data = d.unused_data
            if data:
                d = zlib.decompressobj(31)

    raws = [d for d in read_all() if isinstance(d, RawDocument)]
    n = len(raws)
    a, b = pair(read_all, inflate, reps)
    rows.append(("WARC read", fmt(a, mb, "MB"), "zlib inflate", fmt(b, mb, "MB"), ratio(a, b)))

    # 2. HTML extraction vs parsing alone (Resiliparse DOM).
    from resiliparse.parse.html import HTMLTree

    html = [r for r in raws if r.content_type == "text/html" and r.http_status == 200]
    html_mb = sum(len(r.html or b"") for r in html) / 1e6
    docs = [d for d in (extract_document(r, config.extract) for r in html) if hasattr(d, "text_hash")]
    a, b = pair(
        lambda: [extract_document(r, config.extract) for r in html],
        lambda: [HTMLTree.parse_from_bytes(r.html or b"", "utf-8") for r in html],
        reps,
    )
    rows.append(
        ("HTML extraction", fmt(a, html_mb, "MB"), "HTML parse only", fmt(b, html_mb, "MB"), ratio(a, b))
    )

    # 3. Exact-dedup hashing (normalised text -> xxh3) vs xxh3 over the same bytes at once.
    texts = [d.text for d in docs]
    text_mb = sum(len(t.encode()) for t in texts) / 1e6
    blob = "".join(texts).encode()
    from corpus.hashing import text_hash

    a, b = pair(lambda: [text_hash(t) for t in texts], lambda: xxhash.xxh3_64_intdigest(blob), reps)
    rows.append(
        ("exact-dedup hash", fmt(a, text_mb, "MB"), "xxh3 one buffer", fmt(b, text_mb, "MB"), ratio(a, b))
    )

    # 4. Language ID vs fastText predict alone on pre-joined lines.
    identifier = LanguageIdentifier()
    lines = [" ".join(t[:10_000].split()) for t in texts]
    a, b = pair(
        lambda: filter_language(docs, identifier, config.language),
        lambda: [identifier.model.predict(line, k=1) for line in lines],
        reps,
    )
    rows.append(
        ("language ID", fmt(a, len(docs), "docs"), "fastText predict", fmt(b, len(docs), "docs"), ratio(a, b))
    )

    # 5. Tokenize + order + shard bytes vs encode_batch alone.
    tokenizer_json = train_bpe(texts, 8192, "<|endoftext|>").to_str()
    encoder = DocumentEncoder(tokenizer_json, "<|endoftext|>")

    def tokenize_and_shard() -> None:
        for planned in shard_step(docs, encoder, config):
            write_shard(io.BytesIO(), io.BytesIO(), planned.tokens, encoder.dtype)

    a, b = pair(tokenize_and_shard, lambda: encoder.tokenizer.encode_batch_fast(texts), reps)
    rows.append(
        ("tokenize + shard", fmt(a, text_mb, "MB"), "encode_batch", fmt(b, text_mb, "MB"), ratio(a, b))
    )

    # 6. Whole pipeline end to end (Beam in-process), docs/s; floor: the sum of the floors above.
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pipelines.corpus_job",
            "--input",
            str(SAMPLE),
            "--output",
            tmp,
            "--force",
        ]
        e2e = []
        for _ in range(max(2, reps // 2)):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            e2e.append(time.perf_counter() - start)
        rows.append(("pipeline end to end (incl. start-up)", fmt(e2e, n, "docs"), "—", "—", "—"))

        # 7. Trainer loader: random windows from the memmapped shard vs raw memmap read bandwidth.
        from corpus.shards import open_tokens

        tokens = open_tokens(Path(tmp, "sample", "train_000000.bin"))
        rng = np.random.default_rng(0)
        seq, batch, steps = 256, 8, 200
        starts = rng.integers(0, len(tokens) - seq - 1, size=(steps, batch))

        def loader() -> None:
            import torch

            for row in starts:
                x = torch.from_numpy(np.stack([tokens[s : s + seq + 1].astype(np.int64) for s in row]))
                _ = x[:, :-1], x[:, 1:]

        def memread() -> None:
            for row in starts:
                for s in row:
                    np.asarray(tokens[s : s + seq + 1]).sum()

        toks = steps * batch * seq
        a, b = pair(loader, memread, reps)
        rows.append(
            ("trainer loader", fmt(a, toks, "tokens"), "memmap read", fmt(b, toks, "tokens"), ratio(a, b))
        )

    lines_out = [
        "# Benchmarks",
        "",
        f"`make bench{' QUICK=1' if args.quick else ''}` on {platform.node()}: {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}; "
        f"sample: {SAMPLE} ({mb:.1f} MB, {n} documents, {len(docs)} extracted, {text_mb:.1f} MB text); "
        f"median of {reps} runs, (min–max).",
        "",
        "Time ratio = our time / floor time, paired per repetition (1.00× = at the floor).",
        "Peer figures (datatrove) are not measured yet (issue 3).",
        "",
        "| stage | ours | floor | floor figure | time ratio to floor |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} |" for r in rows],
        "",
    ]
    Path(args.out).write_text("\n".join(lines_out), "utf-8")
    print("\n".join(lines_out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
