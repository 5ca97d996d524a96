"""A large JSONL corpus of real text with realistic copies and edits, for the end-to-end bench.

    python -m bench.corpus_gen --mb 250 --out bench-data/250mb.jsonl
    python -m bench.corpus_gen --mb 250 --files 8 --out bench-data/250mb/   # the same, in 8 files

Paragraphs come from real text only: the bundled sample's pages (Debian Reference in six
languages), the docstrings of Python's own standard library, and the copyright, README and
changelog files of the Debian packages on this machine (/usr/share/doc). A document is 3 to 8
paragraphs drawn by a seeded generator; every 20th document is an exact copy of an earlier one
and every 20th (offset by 10) a near copy with 2-6% of its words edited (replaced, dropped or
repeated). Documents are made on demand: the corpus never sits in memory.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

STDLIB = Path(sys.base_prefix, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}")
DOC_ROOT = Path("/usr/share/doc")


def _docstrings() -> Iterator[str]:
    for path in sorted(STDLIB.rglob("*.py")):
        if "test" in path.parts or "site-packages" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text("utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    yield from doc.split("\n\n")


def _debian_docs() -> Iterator[str]:
    for path in sorted(DOC_ROOT.glob("*/*")):
        name = path.name.lower()
        if not (name == "copyright" or name.startswith(("readme", "changelog", "news"))):
            continue
        try:
            data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
            yield from data.decode("utf-8").split("\n\n")
        except (OSError, UnicodeDecodeError, EOFError):
            continue


def paragraphs() -> list[str]:
    from bench.memory import sample_paragraphs

    pool = set(sample_paragraphs())
    for text in (*_docstrings(), *_debian_docs()):
        text = text.strip()
        if len(text) >= 200 and len(text.split()) >= 30:
            pool.add(text)
    return sorted(pool)


class Corpus:
    """Document i, rebuilt from the paragraph pool each time it is asked for."""

    def __init__(self, pool: list[str], seed: int = 0) -> None:
        self.pool = pool
        self.seed = seed

    def _base(self, i: int) -> str:
        rng = random.Random(self.seed * 1_000_003 + i)
        return "\n\n".join(rng.choice(self.pool) for _ in range(rng.randint(3, 8)))

    def text(self, i: int) -> str:
        if i >= 20 and i % 20 == 19:  # an exact copy of an earlier document
            return self._base(random.Random(i).randrange(i - 19))
        if i >= 20 and i % 20 == 9:  # a near copy: a few percent of its words edited
            rng = random.Random(i)
            words = self._base(rng.randrange(i - 9)).split(" ")
            for _ in range(max(1, len(words) * rng.randint(2, 6) // 100)):
                j = rng.randrange(len(words))
                action = rng.random()
                if action < 0.4:
                    words[j] = rng.choice(words)
                elif action < 0.7:
                    del words[j]
                else:
                    words.insert(j, words[j])
            return " ".join(words)
        return self._base(i)

    def lines(self, total_bytes: int) -> Iterator[bytes]:
        written, i = 0, 0
        while written < total_bytes:
            line = json.dumps({"id": f"gen-{i:08d}", "text": self.text(i)}, ensure_ascii=False) + "\n"
            data = line.encode("utf-8")
            written += len(data)
            i += 1
            yield data


def generate(out: Path, megabytes: float, files: int = 1, seed: int = 0) -> list[Path]:
    """Write the corpus (one file, or ``files`` files in the folder ``out``); return the paths."""
    corpus = Corpus(paragraphs(), seed)
    total = int(megabytes * 1_000_000)
    if files == 1:
        paths = [out]
        out.parent.mkdir(parents=True, exist_ok=True)
    else:
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / f"part-{k:03d}.jsonl" for k in range(files)]
    handles = [open(p, "wb") for p in paths]  # noqa: SIM115 - closed below
    try:
        per_file = total / len(paths)
        k, in_file = 0, 0
        for line in corpus.lines(total):
            if in_file >= per_file and k < len(paths) - 1:
                k, in_file = k + 1, 0
            handles[k].write(line)
            in_file += len(line)
    finally:
        for h in handles:
            h.close()
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, required=True, help="size in MB (10^6 bytes)")
    parser.add_argument("--out", type=Path, required=True, help="a .jsonl file, or a folder with --files")
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = generate(args.out, args.mb, args.files, args.seed)
    print(json.dumps({"files": [str(p) for p in paths], "bytes": sum(p.stat().st_size for p in paths)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
