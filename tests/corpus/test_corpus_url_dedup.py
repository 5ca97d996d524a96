"""corpus/dedup/url.py: URL keys, and the newest copy of a page kept."""

from __future__ import annotations

import pytest
from corpus_helpers import BASE_URL

from corpus.dedup.url import choose_keeper, member, url_key
from corpus.steps import url_decisions


@pytest.mark.parametrize(
    ("url", "key"),
    [
        (BASE_URL + "ch01.en.html", "http://www.debian.org/doc/manuals/debian-reference/ch01.en.html"),
        ("HTTPS://WWW.Debian.ORG.:443/doc/manuals/debian-reference/ch01.en.html",
         "http://www.debian.org/doc/manuals/debian-reference/ch01.en.html"),
        ("http://www.debian.org:8080/Doc?q=A#Top", "http://www.debian.org:8080/Doc?q=A#Top"),
        ("https://www.debian.org", "http://www.debian.org/"),
        (" urn:x-local:page 1 ", "urn:x-local:page 1"),
        ("http://host:port/", "http://host:port/"),
        ("", None),
        (None, None),
    ],
)  # fmt: skip
def test_url_keys(url: str | None, key: str | None) -> None:
    assert url_key(url) == key


def test_fragments_keep_sections_apart() -> None:
    assert url_key(BASE_URL + "ch01.en.html#_console_basics") != url_key(
        BASE_URL + "ch01.en.html#_unix_like_filesystem"
    )


def test_the_newest_copy_is_kept_whatever_the_order() -> None:
    old = member("<urn:uuid:old>", "2026-10-01T00:00:00Z", 0, 3)
    new = member("<urn:uuid:new>", "2026-11-01T00:00:00Z", 1, 0)
    undated = member("<urn:uuid:undated>", None, 0, 7)
    for members in ([old, new, undated], [undated, new, old]):
        kept, dropped = choose_keeper(members)
        assert kept == new and dropped == [old, undated]
    assert sorted(url_decisions([undated, old, new])) == [
        (0, (3, "url_dedup", "<urn:uuid:new>")),
        (0, (7, "url_dedup", "<urn:uuid:new>")),
    ]


def test_same_date_falls_back_to_the_smallest_id_hash() -> None:
    a = member("<urn:uuid:a>", "2026-11-01T00:00:00Z", 0, 0)
    b = member("<urn:uuid:b>", "2026-11-01T00:00:00+00:00", 0, 1)
    assert choose_keeper([a, b])[0] == min(a, b, key=lambda m: m[1])
