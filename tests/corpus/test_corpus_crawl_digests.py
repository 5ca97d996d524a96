"""The round's payload-digest index (corpus/crawl/digests.py): the first capture of each digest
found by a memory-mapped binary search, also when 64-bit keys collide."""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path

import pytest

from corpus.crawl import digests as digests_module
from corpus.crawl.digests import DigestIndex, write_index

STDLIB = Path(sys.base_prefix, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}")


def payload_digest(data: bytes) -> str:
    """As WARC writers name it: sha1, base32."""
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def captures() -> list[tuple[str, str, str]]:
    names = ["textwrap.py", "difflib.py", "heapq.py", "fractions.py", "json/__init__.py", "LICENSE.txt"]
    return [
        (payload_digest((STDLIB / n).read_bytes()), f"http://127.0.0.1/{n}", f"2026-12-0{i + 1}T00:00:00Z")
        for i, n in enumerate(names)
    ]


def test_first_captures_are_found_and_others_are_not(tmp_path: Path) -> None:
    firsts = captures()
    write_index(tmp_path / "digests.arrow", firsts)
    index = DigestIndex(tmp_path / "digests.arrow")
    assert len(index) == len(firsts)
    for digest, url, date in firsts:
        assert index.get(digest) == (url, date)
    unseen = payload_digest((STDLIB / "argparse.py").read_bytes())
    assert index.get(unseen) is None
    index[unseen] = ("http://127.0.0.1/argparse.py", "2026-12-09T00:00:00Z")  # captured in this group
    assert index.get(unseen) == ("http://127.0.0.1/argparse.py", "2026-12-09T00:00:00Z")
    assert not list(tmp_path.glob("*.tmp"))


def test_colliding_keys_are_told_apart_by_the_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digests_module, "digest_key", lambda digest: 7)  # every key the same
    firsts = captures()
    write_index(tmp_path / "digests.arrow", firsts)
    index = DigestIndex(tmp_path / "digests.arrow")
    for digest, url, date in firsts:
        assert index.get(digest) == (url, date)
    assert index.get(payload_digest(b"")) is None


def test_empty_and_missing_index(tmp_path: Path) -> None:
    write_index(tmp_path / "digests.arrow", [])
    assert DigestIndex(tmp_path / "digests.arrow").get(captures()[0][0]) is None
    assert len(DigestIndex()) == 0
