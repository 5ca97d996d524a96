"""Train a byte-level BPE on the kept documents, or load the given tokenizer.json."""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from corpus.config import TokenizerConfig
from corpus.records import read_documents
from corpus.tokenize import train_bpe
from pipelines import files


def _texts(paths: list[str], max_bytes: int) -> Iterator[str]:
    used = 0
    for path in paths:
        with files.open_input(path, decompress=False) as f:
            for doc in read_documents(f):
                if used >= max_bytes:
                    return
                used += len(doc.text.encode("utf-8"))
                yield doc.text


def make_tokenizer(results: list[dict], config: TokenizerConfig, out_path: str) -> str:
    """The tokenizer's JSON text, also saved at ``out_path``."""
    if config.path:
        data = files.read_bytes(config.path).decode("utf-8")
    else:
        paths = [r["path"] for r in sorted(results, key=lambda r: r["index"])]
        data = train_bpe(_texts(paths, config.train_max_bytes), config.vocab_size, config.bos_token).to_str()
    files.write_atomic(out_path, lambda f: f.write(data.encode("utf-8")))
    return data


class BuildTokenizer(beam.PTransform):
    """Per-file results of kept documents -> one element: the tokenizer JSON text."""

    def __init__(self, config: TokenizerConfig, out_path: str) -> None:
        super().__init__()
        self.config = config
        self.out_path = out_path

    def expand(self, filtered: beam.PCollection) -> beam.PCollection:
        return (
            filtered
            | "AllFiles" >> beam.combiners.ToList()
            | "TrainOrLoad" >> beam.Map(make_tokenizer, self.config, self.out_path)
        )
