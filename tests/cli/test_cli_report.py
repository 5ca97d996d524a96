"""`corpus report`: the facts add up to the run's summary, the HTML is self-contained and escapes
what documents hold, and a real browser shows it without errors or requests."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from cli_helpers import corpus_cli

from corpus.report.facts import gather, measured


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ("0.715 < 0.8", (0.715, "<", 0.8)),
        ("22 words < 50", (22.0, "<", 50.0)),
        ("es 0.293 < 0.5", (0.293, "<", 0.5)),
        ("0.350 > 0.3", (0.35, ">", 0.3)),
        ("duplicate of <urn:uuid:dbc4f123> (similarity 0.914)", None),
        ("content type 'image/png'", None),
        (None, None),
    ],
)
def test_measured_values_are_read_from_rejection_details(detail, expected) -> None:
    assert measured(detail) == expected


def test_facts_add_up_to_the_summary(sample_corpus) -> None:
    run, _, _ = sample_corpus
    facts = gather(run, samples=2)
    summary = json.loads((run / "summary.json").read_text("utf-8"))
    assert facts["kept"]["documents"] == summary["documents"]["kept"] == 477
    assert facts["rejected"]["documents"] == summary["documents"]["rejected"] == 44
    by_reason = {(s["stage"], r): n for s in summary["stages"] for r, n in s["rejected_by_reason"].items()}
    assert {
        (r["stage"], r["reason"]): r["documents"] for r in facts["rejected"]["reasons"].values()
    } == by_reason
    assert [(r["stage"], r["in"], r["kept"]) for r in facts["funnel"]] == [
        (s["stage"], s["in"], s["kept"]) for s in summary["stages"]
    ]
    # The last stage's bytes are the kept documents' text, and its token estimate the real count.
    assert facts["funnel"][-1]["bytes_after"] == facts["kept"]["bytes"]
    assert facts["funnel"][-1]["tokens_after_estimate"] == 768_540
    assert sum(facts["kept"]["length_histogram"]) == 477
    assert sum(facts["rejected"]["length_histogram"]) == 44
    assert sum(v["documents"] for v in facts["kept"]["languages"].values()) == 477
    quality = facts["rejected"]["reasons"]["quality/gopher_short_doc"]
    assert len(quality["values"]) == 10 and quality["threshold"] == 50 and max(quality["values"]) < 50
    assert all(len(r["samples"]) == min(2, r["documents"]) for r in facts["rejected"]["reasons"].values())
    clusters = facts["clusters"]
    assert sum(int(k) * v for k, v in clusters["size_distribution"].items()) == clusters["documents"]
    assert sum(c["removed"] for c in clusters["largest"]) <= 9


def test_samples_do_not_depend_on_file_order(sample_corpus, tmp_path: Path) -> None:
    run, _, _ = sample_corpus
    first = gather(run, samples=3)["kept"]["samples"]
    assert [d["id"] for d in first] == [d["id"] for d in gather(run, samples=3)["kept"]["samples"]]
    assert len(first) == 3 and all(len(d["text"]) <= 1500 for d in first)


@pytest.fixture(scope="module")
def code_report(code_corpus: Path, code_training: Path, sample_corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    sample, _, _ = sample_corpus
    rc, stdout, err = corpus_cli(
        "report", str(code_corpus), "--train", str(code_training), "--compare", str(sample),
        "--out", str(out), "--samples", "10",
    )  # fmt: skip
    assert rc == 0, err
    assert stdout == f"report: {out / 'report.html'}\nsummary: {out / 'report.md'}\n"
    return out


def test_html_is_self_contained_and_escapes_documents(code_report: Path) -> None:
    page = (code_report / "report.html").read_text("utf-8")
    # http/cookies.py holds a <script> element: shown as text, never as an element.
    assert "&lt;script type=&quot;text/javascript&quot;&gt;" in page
    assert "<script" not in page.lower()
    # Nothing to fetch: no src attributes, links only to anchors inside the page.
    assert not re.search(r"\ssrc\s*=", page)
    # Links and SVG glyph references point inside the page only.
    targets = set(re.findall(r'href="([^"]*)"', page))
    assert all(t.startswith("#") for t in targets)
    sections = (
        "overview",
        "funnel",
        "rejections",
        "languages",
        "lengths",
        "quality",
        "duplicates",
        "domains",
    )
    assert {f"#{k}" for k in (*sections, "shards", "samples", "training", "compare")} <= targets
    assert "default-src 'none'" in page  # and the browser is told to refuse any request
    assert page.count('<div class="plot"') == page.count("<svg") >= 8


def test_markdown_summary_and_sections(code_report: Path, code_corpus: Path) -> None:
    md = (code_report / "report.md").read_text("utf-8")
    summary = json.loads((code_corpus / "summary.json").read_text("utf-8"))
    docs = summary["documents"]
    assert md.startswith(
        f"# Corpus report: code\n\n{code_corpus}: {docs['in']} documents in, {docs['kept']} kept"
    )
    for heading in ("## Funnel", "## Languages (kept)", "## Duplicates", "## Training", "## Compared with"):
        assert heading in md
    page = (code_report / "report.html").read_text("utf-8")
    assert 'data-plot="training"' in page and "Compared with another run" in page


def test_the_training_row_counts_the_run_s_steps(
    code_corpus: Path, code_training: Path, tmp_path: Path
) -> None:
    # The last metrics record is of the last logged step, counted from 0: not the run's step count.
    steps = json.loads((code_training / "train_summary.json").read_text("utf-8"))["steps"]
    records = [json.loads(line) for line in (code_training / "metrics.jsonl").read_text("utf-8").splitlines()]
    last_logged = [r for r in records if "loss" in r][-1]["step"]
    assert last_logged < steps  # what the row showed
    facts = gather(code_corpus, samples=1, train=str(code_training))
    assert facts["train"]["last"][:2] == [str(code_training), steps]
    rc, _, err = corpus_cli("report", str(code_corpus), "--train", str(code_training), "--out", str(tmp_path))
    assert rc == 0, err
    md = (tmp_path / "report.md").read_text("utf-8")
    assert f"| {code_training} | {steps} | " in md


def test_report_errors_are_clear(tmp_path: Path, code_corpus: Path) -> None:
    rc, _, err = corpus_cli("report", str(tmp_path))
    assert (
        rc == 2
        and err == f"error: {tmp_path / 'summary.json'}: missing; is {tmp_path} a finished corpus run?\n"
    )
    rc, _, err = corpus_cli("report", str(code_corpus), "--train", str(tmp_path), "--out", str(tmp_path))
    assert rc == 2 and "metrics.jsonl: missing; is" in err


def _browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver must be installed (.ci/run installs them)")
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (apt-get install chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))


@pytest.mark.slow
def test_a_real_browser_shows_the_report(code_report: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = _browser()
    try:
        url = (code_report / "report.html").resolve().as_uri()
        driver.get(url)
        assert driver.title == "Corpus report: code"
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        requested = {
            json.loads(e["message"])["message"]["params"]["request"]["url"]
            for e in driver.get_log("performance")
            if '"Network.requestWillBeSent"' in e["message"]
        }
        assert requested == {url}
        plots = driver.find_elements(By.CSS_SELECTOR, "div.plot")
        assert len(plots) >= 8
        for plot in plots:
            svg = plot.find_element(By.TAG_NAME, "svg")
            assert svg.size["width"] > 100 and svg.size["height"] > 50, plot.get_attribute("data-plot")
        assert driver.execute_script("return document.scripts.length") == 0
        for details in driver.find_elements(By.TAG_NAME, "details"):
            driver.execute_script("arguments[0].open = true", details)
        assert '<script type="text/javascript">' in driver.find_element(By.ID, "samples").text
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1280, min(height, 16000))
        assert driver.save_screenshot(str(code_report / "report.png"))
        assert (code_report / "report.png").stat().st_size > 50_000
    finally:
        driver.quit()


def test_report_shows_each_stage_s_bytes_and_the_dedups_read_amplification(sample_corpus) -> None:
    from corpus.report import html, markdown
    from corpus.report.facts import format_value

    run, _, _ = sample_corpus
    run_stats = json.loads((run / "run_stats.json").read_text("utf-8"))
    stats = run_stats["stages"]
    for stage in ("url_dedup", "exact_dedup", "near_dedup"):
        assert 0 < stats[stage]["read_amplification"] <= 1.5
    # The unit pass reads its input once (and a little of the models' files: none through here).
    assert stats["extract_filter"]["bytes_read"] >= run_stats["input_bytes"]
    facts = gather(run, samples=1)
    page, text = html.render(facts), markdown.render(facts)
    assert 'id="io"' in page and "## Bytes read and written" in text
    for stage in ("extract_filter", "url_dedup", "exact_dedup", "near_dedup", "dedup_apply"):
        s = stats[stage]
        row = f"| {stage} | {format_value(s['units'])} | {format_value(s.get('tasks'))} | "
        row += f"{format_value(s['bytes_read'])} | {format_value(s['bytes_written'])} |"
        assert row in text, (row, text)
        assert f"{s['bytes_read']:,}" in page
    assert f"| {format_value(stats['near_dedup']['read_amplification'])} |" in text
