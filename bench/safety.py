"""``make bench`` rows for the safety and PII filters, ours against datatrove's on the same input.

- URL word lists: the same three lists (ours ship datatrove's, unmodified) on the sample's URLs,
  plus UT1's adult URLs when ``make blocklists`` has installed them.
- FineWeb's whole URL filter (UT1 domains and URLs + the word lists), only when installed.
- Bad-word ratio: ours alone (datatrove's C4BadWordsFilter downloads its lists at run time).
- PII: e-mails and public IPs, as datatrove's PIIFormatter does them (our phone rule off).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from corpus.config import PiiConfig, SafetyConfig
from corpus.filters.pii import redact
from corpus.filters.safety import SafetyChecker, UrlBlocklist, badword_count, load_badwords
from corpus.filters.url_words import UrlWords

UT1_DIR = Path("data/blocklists/ut1-adult")
# The sample has 521 URLs: repeated so one repetition is long enough to time.
URL_COPIES = 20


class PeerCalls(Protocol):
    def call(self, op: str, **kwargs) -> dict: ...


def ut1_urls() -> list[str]:
    path = UT1_DIR / "urls"
    if not path.is_file():
        return []
    return ["http://" + line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()]


def _alternate(
    reps: int, ours: Callable[[], int], peer: PeerCalls | None, op: str, **kwargs
) -> tuple[list[float], list[float], int, int]:
    """Our run and the peer's, alternating, after one untimed run of each (imports, list loading,
    first-touch caches); (our seconds, peer seconds, our result, peer result)."""
    a: list[float] = []
    p: list[float] = []
    ours()
    if peer:
        peer.call(op, **kwargs)
    mine = theirs = 0
    for _ in range(reps):
        start = time.perf_counter()
        mine = ours()
        a.append(time.perf_counter() - start)
        if peer:
            answer = peer.call(op, **kwargs)
            p.append(answer["seconds"])
            theirs = answer["result"]
    return a, p, mine, theirs


def safety_rows(row, reps: int, peer: PeerCalls | None, tmp: Path, sample_urls: list[str], docs, langs):
    """Rows (``row`` is bench.run.Row) for the URL filters, the bad-word ratio and PII."""
    adult = ut1_urls()
    urls = sample_urls * URL_COPIES + adult
    for name, subset in (("all", urls), ("clean", sample_urls * URL_COPIES), ("adult", adult)):
        with open(tmp / f"urls-{name}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps({"url": u}) + "\n" for u in subset)
    mix = f"{len(sample_urls) * URL_COPIES:,} sample URLs" + (
        f" + {len(adult):,} UT1 adult URLs" if adult else " (run `make blocklists` to add UT1's adult URLs)"
    )
    rows = []

    words = UrlWords.load()
    a, p, kept, kept_peer = _alternate(
        reps, lambda: sum(1 for u in urls if words.check(u) is None), peer, "url_words", which="all"
    )
    note = (
        f"{mix}; kept {kept:,} (ours) / {kept_peer:,} (datatrove); ours also lower-cases and "
        "percent-decodes; datatrove's time includes tldextract on every URL"
    )
    rows.append(row("safety: URL word lists", "URLs", len(urls), a, p or None, note=note))

    if adult:
        start = time.perf_counter()
        blocklist = UrlBlocklist([str(UT1_DIR / "domains"), str(UT1_DIR / "urls")])
        load = time.perf_counter() - start
        loaded = peer.call("url_filter_load") if peer else {"seconds": 0.0}

        def fineweb_url_filter(subset: list[str]) -> int:
            return sum(1 for u in subset if blocklist.match(u) is None and words.check(u) is None)

        # Timed on the clean URLs, where both sides run every check; the UT1 URLs (entries of
        # the list itself) only show what each side catches.
        clean = sample_urls * URL_COPIES
        a, p, _, _ = _alternate(reps, lambda: fineweb_url_filter(clean), peer, "url_filter", which="clean")
        kept_adult = fineweb_url_filter(adult)
        kept_adult_peer = peer.call("url_filter", which="adult")["result"] if peer else 0
        note = (
            f"UT1 adult ({len(blocklist):,} entries) + word lists, timed on the {len(clean):,} sample URLs; "
            f"load {load:.1f} s (ours) / {loaded['seconds']:.1f} s (datatrove); of UT1's own "
            f"{len(adult):,} adult URLs ours keeps {kept_adult:,}, datatrove {kept_adult_peer:,} (it "
            "compares UT1's scheme-less host/path entries with whole URLs, so they never match)"
        )
        rows.append(row("safety: UT1 blocklist + word lists", "URLs", len(clean), a, p or None, note=note))

    texts = [d.text for d in docs]
    lists = load_badwords("", True)
    ratio = SafetyConfig().max_badword_ratio

    def badwords() -> int:
        return sum(
            1
            for t, lang in zip(texts, langs, strict=True)
            if (c := badword_count(t, lang, lists))[0] <= ratio * max(1, c[1])
        )

    a, _, kept, _ = _alternate(reps, badwords, None, "")
    note = f"kept {kept} of {len(texts)}; datatrove's C4BadWordsFilter downloads its lists at run time"
    rows.append(row("safety: bad-word ratio", "docs", len(texts), a, note=note))

    # The whole safety stage as the pipeline runs it (default config: word lists + bad words).
    checker = SafetyChecker(SafetyConfig())
    pairs = list(zip(texts, (d.url for d in docs), langs, strict=True))
    a, _, kept, _ = _alternate(
        reps, lambda: sum(1 for t, u, lang in pairs if checker.check(t, u, lang) is None), None, ""
    )
    rows.append(
        row("safety: whole stage (defaults)", "docs", len(texts), a, note=f"kept {kept} of {len(texts)}")
    )

    like_datatrove = PiiConfig(phones=False)
    a, p, changed, changed_peer = _alternate(
        reps, lambda: sum(1 for t in texts if redact(t, like_datatrove).counts), peer, "pii"
    )
    note = (
        f"e-mails + public IPs; documents changed {changed} (ours) / {changed_peer} (datatrove); ours also "
        "finds IPv6 and leaves URLs alone"
    )
    rows.append(row("PII: e-mails + IPs", "docs", len(texts), a, p or None, note=note))
    full = PiiConfig()
    a, _, changed, _ = _alternate(reps, lambda: sum(1 for t in texts if redact(t, full).counts), None, "")
    rows.append(row("PII: defaults (+ phones)", "docs", len(texts), a, note=f"documents changed {changed}"))
    return rows
