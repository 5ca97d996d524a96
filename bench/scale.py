"""The whole job at corpus scale: end to end against datatrove, against the stage floors, 1 vs 2
workers, and peak memory at two input sizes; writes its section of BENCHMARKS.md.

    python -m bench.scale                 # 250 MB end to end, memory at 250 MB and 1 GB
    python -m bench.scale --mb 50 --big-mb 200 --no-peer   # a quicker look

Input: bench/corpus_gen.py's real-text corpus (the sample's pages, Python's docstrings, Debian's
package documentation; exact and edited copies), as one file and as 8 files of the same lines.
Both sides get the same tokenizer.json (trained once on the sample, not timed) and the same
stages: read JSONL, Gopher quality, MinHash near dedup (5-grams, 14 x 9), tokenize, write token
shards. Ours also identifies languages (lid.176; every language kept), filters URLs by the word
lists and drops exact duplicates, which datatrove's run does not do.

Memory is the peak of the summed RSS of the job's whole process tree (launcher and workers),
sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.corpus_gen import generate
from bench.report import write_section

PEER_PYTHON = Path(".venv-bench/bin/python")
RESULTS = Path("bench/results/scale.json")
CONFIG = """name = "e2e"
[input]
split_bytes = 33554432
[language]
languages = []
min_score = 0.0
[quality]
preset = "minimal"
[pii]
enabled = false
"""


def tree_rss_mb(pid: int) -> float:
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def run_measured(args: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak summed RSS of the process tree in MiB, stdout) of a command."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])}... failed:\n{err[-3000:]}")
    return seconds, peak[0], out


def ours(inputs: list[str], out: Path, config: Path, tokenizer: str, engine: str, workers: int) -> dict:
    args = [sys.executable, "-m", "pipelines.corpus_job", "--output", str(out), "--config", str(config)]
    for path in inputs:
        args += ["--input", path]
    args += ["--tokenizer", tokenizer, "--engine", engine, "--workers", str(workers), "--force"]
    seconds, rss, _ = run_measured(args)
    run = out / "e2e"
    summary = json.loads((run / "summary.json").read_text())
    stats = json.loads((run / "run_stats.json").read_text())
    tokens = sum(t["tokens"] for t in summary["tokens"].values())
    manifest = json.loads((run / "manifest.json").read_text())
    return {
        "seconds": seconds,
        "rss_mb": rss,
        "kept": summary["documents"]["kept"],
        "documents": summary["documents"]["in"],
        "tokens": tokens,
        "units": stats["units"],
        "shards": len(manifest["shards"]),
        "stages": stats["stages"],
    }


UNIT_COUNTS = (8, 64, 512)
"""The many-units runs: the same one-file input cut into about this many units."""


def units_config(config: Path, input_bytes: int, units: int) -> Path:
    """The bench's config with ``input.split_bytes`` set to cut ``input_bytes`` into ``units``."""
    path = config.with_name(f"e2e-{units}-units.toml")
    split = max(1, -(-input_bytes // units))
    path.write_text(
        config.read_text("utf-8").replace("split_bytes = 33554432", f"split_bytes = {split}"), "utf-8"
    )
    return path


def peer(folder: Path, work: Path, tokenizer: str, workers: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    args = [
        str(PEER_PYTHON),
        "-m",
        "bench.peer_datatrove_pipeline",
        "--input",
        str(folder),
        "--work",
        str(work),
        "--tokenizer",
        tokenizer,
        "--workers",
        str(workers),
    ]
    seconds, rss, out = run_measured(args, env)
    result = json.loads(out.strip().splitlines()[-1])
    return {
        "seconds": seconds,
        "rss_mb": rss,
        "stage_seconds": result["seconds"],
        "kept": result["kept"],
        "tokens": result["tokens"],
    }


def floors(path: Path, tokenizer: str) -> dict[str, float]:
    """Single-core seconds of the bare work on the same documents, in a fresh process."""
    code = r"""
import json, sys, time, io
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from corpus.config import NearDedupConfig
from corpus.dedup import minhash
from corpus.dedup.shingles import shingle_hashes
from corpus.filters.language import LanguageIdentifier
from corpus.tokenize import DocumentEncoder
texts = [json.loads(line)["text"] for line in open(sys.argv[1], encoding="utf-8")]
out = {}
ident = LanguageIdentifier(None)
model = ident.model
t = time.perf_counter()
for text in texts:
    model.predict(text[:10000].replace("\n", " "))
out["fasttext_predict"] = time.perf_counter() - t
nd = NearDedupConfig()
spent = 0.0
for i in range(0, len(texts), 2048):
    hashes, offsets = shingle_hashes(texts[i:i + 2048], nd.ngram, nd.shingle)
    t = time.perf_counter()
    minhash.signatures(hashes, offsets, nd.num_perm, nd.seed)
    spent += time.perf_counter() - t
out["minhash_permutations"] = spent
encoder = DocumentEncoder(open(sys.argv[2], encoding="utf-8").read(), "<|endoftext|>")
t = time.perf_counter()
for i in range(0, len(texts), 256):
    encoder.encode(texts[i:i + 256])
out["encode_batch"] = time.perf_counter() - t
table = pa.table({"text": texts})
t = time.perf_counter()
buf = io.BytesIO(); pq.write_table(table, buf, compression="zstd"); buf.seek(0); pq.read_table(buf)
out["parquet_write_read"] = time.perf_counter() - t
print(json.dumps(out), flush=True)
import os; os._exit(0)  # fastText's threads abort the interpreter's own shutdown
"""
    env = {**os.environ, "RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), tokenizer],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def sample_tokenizer(work: Path) -> str:
    """A tokenizer trained on the bundled sample (as ``make pipeline`` makes it), not timed."""
    if Path("out/sample/tokenizer.json").exists():
        return str(Path("out/sample/tokenizer.json").resolve())
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.corpus_job",
            "--input",
            "data/sample/debian-reference.warc.gz",
            "--output",
            str(work),
            "--config",
            "configs/sample.toml",
            "--engine",
            "inprocess",
        ],
        check=True,
        capture_output=True,
    )
    return str(work / "sample" / "tokenizer.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=250, help="end-to-end size (default 250)")
    parser.add_argument("--big-mb", type=float, default=1000, help="second memory size (default 1000)")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--no-peer", action="store_true", help="skip datatrove")
    parser.add_argument("--keep", help="keep the generated data and runs in this folder")
    parser.add_argument("--report", default="BENCHMARKS.md")
    parser.add_argument("--render", help="only write the section from a results JSON of an earlier run")
    parser.add_argument(
        "--only",
        help="measure only these runs (comma-separated names, as in bench/results/scale.json) and keep "
        "the others' figures from that file",
    )
    args = parser.parse_args(argv)
    if args.render:
        write_section(Path(args.report), "scale", section_text(json.loads(Path(args.render).read_text())))
        return 0
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    config = root / "e2e.toml"
    config.write_text(CONFIG, "utf-8")
    tokenizer = sample_tokenizer(root / "tok")
    say = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    saved = RESULTS if args.only else None
    results: dict = json.loads(saved.read_text()) if saved and saved.exists() else {}
    if saved and saved.exists() and (results.get("mb"), results.get("files")) != (args.mb, args.files):
        parser.error(f"--only: {saved} holds another input size or file count; run all first")
    results.update({"mb": args.mb, "big_mb": args.big_mb, "files": args.files, "cpus": os.cpu_count()})
    one, many = root / f"{args.mb:g}mb.jsonl", root / f"{args.mb:g}mb"
    big_one, big_many = root / f"{args.big_mb:g}mb.jsonl", root / f"{args.big_mb:g}mb"

    def job(source: Path, engine: str, workers: int):
        def run(out: Path) -> dict:
            inputs = sorted(map(str, source.glob("*.jsonl"))) if source.is_dir() else [str(source)]
            return ours(inputs, out, config, tokenizer, engine, workers)

        return run

    def units_job(n: int):
        def run(out: Path) -> dict:
            return ours(
                [str(one)], out, units_config(config, one.stat().st_size, n), tokenizer, "multiprocess", 2
            )

        return run

    runs = {  # name: (what it is, what it does with its output folder), in the order they run
        "floors": ("floors", lambda _out: floors(one, tokenizer)),
        "ours_many_2": ("ours, many files, 2 workers", job(many, "multiprocess", 2)),
        "ours_many_dask": ("ours, many files, Dask, 2 workers", job(many, "dask", 2)),
        "ours_many_1": ("ours, many files, 1 worker", job(many, "inprocess", 1)),
        "ours_one_2": ("ours, one file, 2 workers", job(one, "multiprocess", 2)),
        "datatrove_many_2": ("datatrove, many files, 2 workers", lambda out: peer(many, out, tokenizer, 2)),
        **{f"units_{n}": (f"ours, one file in {n} units, 2 workers", units_job(n)) for n in UNIT_COUNTS},
        "big_one_2": ("ours, big input, one file", job(big_one, "multiprocess", 2)),
        "big_many_2": ("ours, big input, many files", job(big_many, "multiprocess", 2)),
    }
    chosen = (
        args.only.split(",")
        if args.only
        else [n for n in runs if n != "datatrove_many_2" or not args.no_peer]
    )
    unknown = sorted(set(chosen) - set(runs))
    if unknown:
        parser.error(f"--only: no run named {', '.join(unknown)} (runs: {', '.join(runs)})")
    try:
        for name in (n for n in runs if n in chosen):
            size, source = (
                (args.big_mb, (big_one, big_many)) if name.startswith("big") else (args.mb, (one, many))
            )
            if not source[0].exists():
                say(f"generating {size:g} MB of real text ...")
                generate(source[0], size)
                generate(source[1], size, files=args.files)
            say(runs[name][0] + " ...")
            results[name] = runs[name][1](root / f"run-{name}")
            day = time.strftime("%Y-%m-%d")
            if name == "floors":
                results["floors_measured"] = day
            else:
                results[name]["measured"] = day
            shutil.rmtree(root / f"run-{name}", ignore_errors=True)
        if one.exists():  # generated by this run (else the saved figure stands)
            results["input_bytes"] = one.stat().st_size
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    if "ours_many_2" in results:
        write_section(Path(args.report), "scale", section_text(results))
        print(section_text(results))
    if units := units_lines(results):
        text = "\n".join(["## The job at many units (`python -m bench.scale`)", *units])
        write_section(Path(args.report), "scale-units", text)
        print(text)
    return 0


def section_text(r: dict) -> str:
    mb = r["input_bytes"] / 1e6
    o2, o1, one = r["ours_many_2"], r["ours_many_1"], r["ours_one_2"]
    lines = [
        "## The whole job at scale (`python -m bench.scale`, part of `make bench`)",
        "",
        f"{mb:.0f} MB of real text (bench/corpus_gen.py: the sample's pages, Python's docstrings, "
        "Debian's package documentation, with exact and edited copies) in "
        f"{r['files']} JSONL files, {r['cpus']} cores. Same stages on both sides (read, Gopher "
        "quality, MinHash dedup 5-grams 14x9, tokenize with the same tokenizer.json, write shards); "
        "ours also runs lid.176, URL word lists and exact dedup. Wall time of the whole command; "
        "memory is the peak summed RSS of the job's process tree.",
        "",
        "| run | wall s | MB/s | docs kept | tokens | peak RSS MB | measured |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]

    def row(name: str, x: dict) -> str:
        return (
            f"| {name} | {x['seconds']:.1f} | {mb / x['seconds']:.2f} | {x['kept']:,} | {x['tokens']:,} | "
            f"{x['rss_mb']:.0f} | {x.get('measured', '')} |"
        )

    lines.append(row(f"ours, {r['files']} files, 2 workers (multiprocess)", o2))
    dask = r.get("ours_many_dask")
    if dask:
        lines.append(row(f"ours, {r['files']} files, 2 workers (Dask)", dask))
    lines.append(row(f"ours, {r['files']} files, 1 worker (in-process)", o1))
    lines.append(row(f"ours, one file ({one['units']} units), 2 workers", one))
    dt = r.get("datatrove_many_2")
    if dt:
        lines.append(row(f"datatrove, {r['files']} files, 2 workers", dt))
    lines.append("")
    floors = r["floors"]
    floor_sum = sum(floors.values())
    floors_day = {"measured": r.get("floors_measured", "")}

    def compared(text: str, *runs: dict) -> str:
        """A ratio only between runs of one day: the machine's speed drifts from day to day."""
        days = sorted({x.get("measured", "") for x in runs})
        named = ", ".join(day or "an earlier day" for day in days)
        return text if len(days) == 1 else f"not compared: measured on different days ({named})."

    lines += [
        "- **vs datatrove, end to end:** "
        + compared(f"{dt['seconds'] / o2['seconds']:.2f}x (target >= 3x).", dt, o2)
        if dt
        else "- datatrove was not run (--no-peer).",
        f"- **vs the stage floors:** one worker took {o1['seconds']:.1f} s; the floors on the same "
        f"documents sum to {floor_sum:.1f} single-core s ("
        + ", ".join(f"{k} {v:.1f}" for k, v in floors.items())
        + "): "
        + compared(f"**{o1['seconds'] / floor_sum:.2f}x** (target <= 1.5x).", o1, floors_day),
        "- **1 -> 2 workers:** " + compared(f"{o1['seconds'] / o2['seconds']:.2f}x faster.", o1, o2),
    ]
    if dask:
        lines.append(
            "- **Dask (Beam's DaskRunner, a LocalCluster of 2 worker processes) vs the multi-processing "
            "engine:** "
            + compared(
                f"{dask['seconds']:.1f} s against {o2['seconds']:.1f} s "
                f"(**{o2['seconds'] / dask['seconds']:.2f}x** its speed), the same documents and tokens.",
                dask,
                o2,
            )
        )
    if dt:
        lines.append(
            "- datatrove per stage (s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in dt["stage_seconds"].items())
            + "."
        )
    b1, bm = r.get("big_one_2"), r.get("big_many_2")
    if b1 and bm:
        lines += [
            f"- **Peak RSS, {r['mb']:g} MB vs {r['big_mb']:g} MB of input** (2 workers): one file "
            f"{one['rss_mb']:.0f} -> {b1['rss_mb']:.0f} MB (**{b1['rss_mb'] / one['rss_mb']:.2f}x**), "
            f"{r['files']} files {o2['rss_mb']:.0f} -> {bm['rss_mb']:.0f} MB "
            f"(**{bm['rss_mb'] / o2['rss_mb']:.2f}x**); target <= 1.25x. {r['big_mb']:g} MB took "
            f"{b1['seconds']:.0f} s as one file, {bm['seconds']:.0f} s as {r['files']} files"
            + (f" (measured {b1['measured']})." if b1.get("measured") else " (measured on an earlier day)."),
        ]
    return "\n".join(lines)


def read_per_doc(x: dict) -> float:
    """Bytes every stage of a run read, per document read."""
    return sum(v.get("bytes_read", 0) for v in x["stages"].values()) / x["documents"]


def units_lines(r: dict) -> list[str]:
    """The many-units table: the same input at 8, 64 and 512 units."""
    runs = [(n, r[f"units_{n}"]) for n in UNIT_COUNTS if f"units_{n}" in r]
    if not runs:
        return []
    lines = [
        "",
        "**The same input at many units** (one file cut by `input.split_bytes`, 2 workers): bytes "
        "each stage read per document read, and the dedups' read amplification (bytes their tasks read "
        "of the key tables / bytes of those tables).",
        "",
        "| units | wall s | peak RSS MB | read per doc (all stages) | url / exact / near amplification "
        "| shards | measured |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for _, x in runs:
        read = read_per_doc(x)
        amp = " / ".join(f"{x['stages'].get(s, {}).get('read_amplification', 0):.2f}"
                         for s in ("url_dedup", "exact_dedup", "near_dedup"))  # fmt: skip
        lines.append(
            f"| {x['units']} | {x['seconds']:.1f} | {x['rss_mb']:.0f} | {read:,.0f} B | {amp} "
            f"| {x['shards']} | {x.get('measured', '')} |"
        )
    (_, first), (_, last) = runs[0], runs[-1]

    per_doc = [read_per_doc(first), read_per_doc(last)]
    lines += [
        "",
        f"- **{last['units']} units vs {first['units']}:** bytes read per document "
        f"**{per_doc[1] / per_doc[0]:.2f}x** (target <= 1.2x), wall time "
        f"**{last['seconds'] / first['seconds']:.2f}x** (target <= 1.3x).",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
