"""datatrove's side of ``make bench``: runs in its own venv (.venv-bench), as a subprocess.

datatrove cannot share our environment (it pulls ``fasttext-numpy2-wheel``, whose module name
``fasttext`` clashes with ``fasttext-predict``, plus cloudpickle 3 and another xxhash), so
``bench/run.py`` starts this script with .venv-bench's Python and sends it one JSON command per
line on stdin; each answer is one JSON line on stdout: ``{"seconds": ..., "result": ...}``. Our
side and this side alternate repetition by repetition, so each ratio compares two runs made
moments apart.

Offline: the lid.176 model is given by path (datatrove would download it), and the English word
tokenizer is spaCy's blank ``en`` pipeline (no model download).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DATATROVE_DISABLE_TELEMETRY", "1")
os.environ.setdefault("LOGURU_LEVEL", "WARNING")


def _load_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


class Peer:
    def __init__(self, data_dir: str, lid_model: str, num_buckets: int, hashes_per_bucket: int) -> None:
        from datatrove.data import Document
        from loguru import logger

        logger.remove()  # datatrove logs every step; the bench prints its own table
        self.dir = Path(data_dir)
        self.docs = [Document(text=d["text"], id=d["id"]) for d in _load_jsonl(self.dir / "docs.jsonl")]
        self.html = [d["html"] for d in _load_jsonl(self.dir / "html.jsonl")]
        self.planted = [Document(text=d["text"], id=d["id"]) for d in _load_jsonl(self.dir / "planted.jsonl")]
        self.lid_model = lid_model
        self.num_buckets = num_buckets
        self.hashes_per_bucket = hashes_per_bucket
        self._cache: dict[str, Any] = {}

    def _once(self, name: str, make):
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    def _fresh(self, docs):
        from datatrove.data import Document

        return [Document(text=d.text, id=d.id) for d in docs]

    # --- stages -----------------------------------------------------------------------------

    def extract(self) -> int:
        from datatrove.pipeline.extractors import Trafilatura

        ex = self._once("trafilatura", lambda: Trafilatura(favour_precision=True, timeout=None))
        return sum(1 for h in self.html if ex.extract(h))

    def exact_hash(self) -> int:
        from datatrove.utils.hashing import HashConfig, create_hash_func
        from datatrove.utils.text import simplify_text

        h = create_hash_func(HashConfig(precision=64, hash_fc="xxhash"), str)
        return len({h(simplify_text(d.text)) for d in self.docs})

    def _minhash_config(self):
        from datatrove.pipeline.dedup.minhash import MinhashConfig

        return MinhashConfig(
            n_grams=5, num_buckets=self.num_buckets, hashes_per_bucket=self.hashes_per_bucket
        )

    def _signer(self, ours: bool):
        from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

        out = tempfile.mkdtemp(prefix="dt-sig-")
        signer = MinhashDedupSignature(output_folder=out, config=self._minhash_config(), language="en")
        if ours:
            signer.word_tokenizer = OurWords()
            signer.config.norm_config = _no_norm()
        return signer

    def minhash_signatures(self, ours: bool = False) -> int:
        """Shingles + signature of every document (no file writing), as its step computes them."""
        signer = self._once(f"signer-{ours}", lambda: self._signer(ours))
        n = 0
        for d in self.docs:
            shingles = signer.get_shingles(d.text)
            if shingles.size:
                signer.get_signature(shingles)
                n += 1
        return n

    def _signatures_to(self, folder: str, config) -> None:
        from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

        MinhashDedupSignature(output_folder=f"{folder}/sigs", config=config, language="en").run(
            iter(self._fresh(self.planted)), rank=0, world_size=1
        )

    def _buckets_and_clusters(self, folder: str, config) -> None:
        from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets, MinhashDedupCluster

        for b in range(config.num_buckets):
            MinhashDedupBuckets(
                input_folder=f"{folder}/sigs", output_folder=f"{folder}/buckets", config=config
            ).run(rank=b, world_size=config.num_buckets)
        MinhashDedupCluster(
            input_folder=f"{folder}/buckets", output_folder=f"{folder}/remove", config=config
        ).run()

    def minhash_dedup(self) -> dict[str, list[str]]:
        """The whole MinHash dedup as datatrove runs it: signatures, buckets, clusters, filter."""
        from datatrove.pipeline.dedup.minhash import MinhashDedupFilter

        config = self._minhash_config()
        with tempfile.TemporaryDirectory(prefix="dt-minhash-") as tmp:
            self._signatures_to(tmp, config)
            self._buckets_and_clusters(tmp, config)
            kept = list(
                MinhashDedupFilter(input_folder=f"{tmp}/remove").run(
                    iter(self._fresh(self.planted)), rank=0, world_size=1
                )
            )
        kept_ids = {d.id for d in kept}
        return {"removed": [d.id for d in self.planted if d.id not in kept_ids]}

    def minhash_lsh(self) -> float:
        """Buckets + clusters alone (datatrove's steps 2 and 3) from signatures made once, untimed."""
        config = self._minhash_config()
        sigs = self._once("lsh-signatures", _temporary_folder)
        if not Path(sigs, "sigs").exists():
            self._signatures_to(sigs, config)
        with tempfile.TemporaryDirectory(prefix="dt-lsh-run-") as tmp:
            Path(tmp, "sigs").symlink_to(Path(sigs, "sigs"))
            start = time.perf_counter()
            self._buckets_and_clusters(tmp, config)
            return time.perf_counter() - start

    def language(self) -> int:
        from datatrove.pipeline.filters import LanguageFilter

        def make():
            from fasttext.FastText import _FastText

            f = LanguageFilter(languages=["en", "de", "fr", "es", "it", "ja"], language_threshold=0.5)
            f.model._model = _FastText(self.lid_model)  # the bundled .ftz, not a download
            return f

        f = self._once("lid", make)
        return sum(1 for d in self._fresh(self.docs) if f.filter(d) is True)

    def quality(self, which: str, limit: int | None = None) -> int:
        from datatrove.pipeline import filters

        make = {
            "gopher_quality": lambda: filters.GopherQualityFilter(),
            "gopher_repetition": lambda: filters.GopherRepetitionFilter(),
            "c4": lambda: filters.C4QualityFilter(filter_no_terminal_punct=False),
            "fineweb": lambda: filters.FineWebQualityFilter(),
        }[which]
        f = self._once(which, make)
        return sum(1 for d in self._fresh(self.docs[:limit]) if f.filter(d) is True)

    # --- URL filters and PII ------------------------------------------------------------------

    def _url_docs(self, which: str) -> list:
        from datatrove.data import Document

        urls = [d["url"] for d in _load_jsonl(self.dir / f"urls-{which}.jsonl")]
        return [Document(text="", id=str(i), metadata={"url": u}) for i, u in enumerate(urls)]

    def _url_filter(self, integrated: bool):
        from datatrove.pipeline.filters import URLFilter
        from datatrove.utils._import_utils import ASSETS_PATH
        from tldextract import TLDExtract

        def lines(name: str) -> list[str]:
            return [x for x in Path(ASSETS_PATH, name).read_text("utf-8").splitlines() if x.strip()]

        if integrated:  # UT1 + its word lists, as FineWeb ran it
            f = URLFilter()
        else:  # the same three word lists, no domains
            f = URLFilter(
                banned_words=lines("banned_words.txt"),
                soft_banned_words=lines("soft_banned_words.txt"),
                banned_subwords=lines("banned_subwords.txt"),
                use_integrated_lists=False,
            )
        f.tldextractor = TLDExtract(suffix_list_urls=())  # the bundled public suffix list: offline
        f.download_data()
        return f

    def url_words(self, which: str) -> int:
        f = self._once("url-words", lambda: self._url_filter(False))
        docs = self._once(f"urls-{which}", lambda: self._url_docs(which))
        return sum(1 for d in docs if f.filter(d) is True)

    def url_filter_load(self) -> int:
        f = self._once("url-filter", lambda: self._url_filter(True))
        return len(f.block_listed_domains)

    def url_filter(self, which: str) -> int:
        f = self._once("url-filter", lambda: self._url_filter(True))
        docs = self._once(f"urls-{which}", lambda: self._url_docs(which))
        return sum(1 for d in docs if f.filter(d) is True)

    def pii(self) -> int:
        from datatrove.pipeline.formatters import PIIFormatter

        f = self._once("pii", PIIFormatter)
        return sum(1 for d in self.docs if f.format(d.text) != d.text)

    def tokenize(self, tokenizer: str) -> int:
        from datatrove.pipeline.tokens import DocumentTokenizer

        with tempfile.TemporaryDirectory(prefix="dt-tok-") as tmp:
            step = DocumentTokenizer(
                output_folder=tmp,
                tokenizer_name_or_path=tokenizer,
                eos_token="<|endoftext|>",
                shuffle_documents=False,
                save_final_metadata=False,
            )
            step.run(iter(self._fresh(self.docs)), rank=0, world_size=1)
            return sum(p.stat().st_size for p in Path(tmp).rglob("*.ds"))


def _temporary_folder() -> str:
    """A folder that lives as long as this process."""
    folder = tempfile.mkdtemp(prefix="dt-lsh-")
    atexit.register(shutil.rmtree, folder, True)
    return folder


class OurWords:
    """Our word definition (corpus/dedup/shingles.py) as a datatrove word tokenizer: lower-cased
    runs of letters, digits and marks; each Han/Kana character a word of its own."""

    def __init__(self) -> None:
        import regex

        self.pattern = regex.compile(
            r"[\p{Han}\p{Hiragana}\p{Katakana}]|(?:(?![\p{Han}\p{Hiragana}\p{Katakana}])[\p{L}\p{N}\p{M}])+"
        )

    def word_tokenize(self, text: str) -> list[str]:
        return self.pattern.findall(text.lower())


def _no_norm():
    from datatrove.utils.text import TextNormConfig

    return TextNormConfig(
        lowercase=False, norm_whitespace=False, remove_punctuation=False,
        norm_unicode_diacritics=False, norm_numbers=False,
    )  # fmt: skip


def main() -> int:
    peer: Peer | None = None
    for line in sys.stdin:
        command = json.loads(line)
        op = command.pop("op")
        if op == "load":
            peer = Peer(**command)
            print(json.dumps({"seconds": 0.0, "result": len(peer.docs)}), flush=True)
            continue
        assert peer is not None, "load first"
        start = time.perf_counter()
        result = getattr(peer, op)(**command)
        seconds = time.perf_counter() - start
        print(json.dumps({"seconds": seconds, "result": result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
