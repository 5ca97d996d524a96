"""datatrove's own end-to-end pipeline, for the scale bench (runs in .venv-bench).

    .venv-bench/bin/python -m bench.peer_datatrove_pipeline --input DIR --work DIR \
        --tokenizer tokenizer.json --workers 2

Its JSONL reader, Gopher quality, its four MinHash steps (signatures, buckets, clusters, filter)
and its tokenizer (its alpha-word and stop-word rules off, see below), each a
``LocalPipelineExecutor`` stage as datatrove's examples chain them: the
filtered documents are written once (uncompressed JSONL) so that the signature and the filter
steps read the same documents in the same order. One task per input file, ``--workers`` at a time
(datatrove splits work by file). Prints one JSON line: seconds per stage and in all, documents
kept, tokens written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DATATROVE_DISABLE_TELEMETRY", "1")
os.environ.setdefault("LOGURU_LEVEL", "WARNING")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True, help="folder of *.jsonl")
    parser.add_argument("--work", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--buckets", type=int, default=14)
    parser.add_argument("--hashes-per-bucket", type=int, default=9)
    args = parser.parse_args(argv)

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.filters import GopherQualityFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.tokens import DocumentTokenizer
    from datatrove.pipeline.writers import JsonlWriter
    from loguru import logger

    logger.remove()
    work = Path(args.work)
    files = sorted(Path(args.input).glob("*.jsonl"))
    tasks = len(files)
    config = MinhashConfig(n_grams=5, num_buckets=args.buckets, hashes_per_bucket=args.hashes_per_bucket)

    def stage(name: str, pipeline: list, n: int) -> float:
        start = time.perf_counter()
        LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=n,
            workers=min(args.workers, n),
            logging_dir=str(work / "logs" / name),
            skip_completed=False,
        ).run()
        return time.perf_counter() - start

    seconds = {
        "read_quality_write": stage(
            "quality",
            [
                JsonlReader(args.input, glob_pattern="*.jsonl"),
                # Its alpha rule counts spaCy's punctuation tokens as words and drops 94% of the
                # bench corpus (ours counts runs of letters and digits); its stop-word rule is
                # English-only. Both off, so the two sides carry about the same documents on.
                GopherQualityFilter(max_non_alpha_words_ratio=None, min_stop_words=None),
                JsonlWriter(str(work / "filtered"), compression=None),
            ],
            tasks,
        ),
        "minhash_signatures": stage(
            "signatures",
            [
                JsonlReader(str(work / "filtered")),
                MinhashDedupSignature(output_folder=str(work / "signatures"), config=config, language="en"),
            ],
            tasks,
        ),
        "minhash_buckets": stage(
            "buckets",
            [
                MinhashDedupBuckets(
                    input_folder=str(work / "signatures"), output_folder=str(work / "buckets"), config=config
                )
            ],
            config.num_buckets,
        ),
        "minhash_clusters": stage(
            "clusters",
            [
                MinhashDedupCluster(
                    input_folder=str(work / "buckets"), output_folder=str(work / "remove"), config=config
                )
            ],
            1,
        ),
        "minhash_filter_tokenize": stage(
            "tokenize",
            [
                JsonlReader(str(work / "filtered")),
                MinhashDedupFilter(input_folder=str(work / "remove")),
                DocumentTokenizer(
                    output_folder=str(work / "tokens"),
                    tokenizer_name_or_path=args.tokenizer,
                    eos_token="<|endoftext|>",
                    shuffle_documents=False,
                    save_final_metadata=False,
                ),
            ],
            tasks,
        ),
    }
    kept = 0
    for step in json.loads((work / "logs" / "tokenize" / "stats.json").read_text()):
        if "MinHash stage 4" in step.get("name", ""):
            kept += step.get("stats", {}).get("forwarded", 0)
    tokens = sum(p.stat().st_size for p in (work / "tokens").rglob("*.ds")) // 2
    print(
        json.dumps(
            {"seconds": seconds, "total_seconds": sum(seconds.values()), "kept": kept, "tokens": tokens}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
