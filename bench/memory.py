"""Peak memory of near dedup (single-worker path) on N real-text documents, in a fresh process.

    python -m bench.memory --docs 100000

Documents are built from the sample's real paragraphs (3 to 8 paragraphs each, drawn by a seeded
generator) and made on demand, so the corpus never sits in memory: what grows is the dedup's own
state (band keys, candidate pairs, clusters). Every 50th document is a near copy of an earlier
one, so there is real work for verification and clustering. Prints one JSON line.

    python -m bench.memory --docs 2000 --copies 1000000

adds one real page of the sample copied a million times with a different word changed in each
(tests/support/copies.py): a single cluster far past ``max_checks``, which must end with one copy kept.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence

from corpus.config import NearDedupConfig
from corpus.dedup.near import find_near_duplicates
from tests.support.copies import Concatenated, OneWordCopies, vocabulary_of


class GeneratedCorpus(Sequence[str]):
    """Document i, rebuilt from real paragraphs each time it is asked for (nothing cached)."""

    def __init__(self, paragraphs: list[str], n: int, seed: int = 0) -> None:
        self.paragraphs = paragraphs
        self.n = n
        self.seed = seed

    def __len__(self) -> int:
        return self.n

    def _base(self, i: int) -> str:
        rng = random.Random(self.seed * 1_000_003 + i)
        return "\n".join(rng.choice(self.paragraphs) for _ in range(rng.randint(3, 8)))

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if i % 50 == 49:  # a near copy of an earlier document: one paragraph added
            rng = random.Random(i)
            return self._base(rng.randrange(i)) + "\n" + rng.choice(self.paragraphs)
        return self._base(i)


def sample_paragraphs() -> list[str]:
    import glob

    from corpus.config import PipelineConfig
    from corpus.extract import extract_document
    from corpus.readers.warc import read_warc
    from corpus.records import Document

    paragraphs: list[str] = []
    for path in sorted(glob.glob("data/sample/*.warc.gz")):
        with open(path, "rb") as f:
            for raw in read_warc(f, path):
                doc = extract_document(raw, PipelineConfig().extract)  # type: ignore[arg-type]
                if isinstance(doc, Document):
                    paragraphs.extend(p for p in doc.text.split("\n") if len(p) > 80)
    return sorted(set(paragraphs))


def sample_page(words: tuple[int, int] = (120, 160)) -> str:
    """The first page of the sample whose text has between ``words`` words (a cheap one to copy)."""
    import glob

    from corpus.config import PipelineConfig
    from corpus.extract import extract_document
    from corpus.readers.warc import read_warc
    from corpus.records import Document

    for path in sorted(glob.glob("data/sample/*.warc.gz")):
        with open(path, "rb") as f:
            for raw in read_warc(f, path):
                doc = extract_document(raw, PipelineConfig().extract)  # type: ignore[arg-type]
                if isinstance(doc, Document) and words[0] <= len(doc.text.split(" ")) <= words[1]:
                    return doc.text
    raise RuntimeError("no sample page of that length")


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss, which a child started
    by a big parent inherits across fork and exec."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, required=True)
    parser.add_argument("--copies", type=int, default=0, help="copies of one page, a word changed in each")
    args = parser.parse_args(argv)
    paragraphs = sample_paragraphs()
    corpus: Sequence[str] = GeneratedCorpus(paragraphs, args.docs)
    if args.copies:
        copies = OneWordCopies(sample_page(), vocabulary_of(paragraphs), args.copies)
        corpus = Concatenated(corpus, copies)
    base_rss = peak_rss_mb()
    total = len(corpus)
    text_bytes = sum(len(corpus[i].encode()) for i in range(0, total, 97)) * 97
    start = time.perf_counter()
    result = find_near_duplicates(corpus, NearDedupConfig())
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    print(
        json.dumps(
            {
                "docs": total,
                "copies": args.copies,
                "text_mb": text_bytes / 1e6,
                "seconds": seconds,
                "peak_rss_mb": peak,
                "before_mb": base_rss,
                "removed": len(result.removed()),
                "candidate_pairs": result.candidate_pairs,
                "copies_kept": sum(1 for i in range(args.docs, total) if i not in result.witness),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
