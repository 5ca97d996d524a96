"""corpus/dedup/url.py: URL keys, and the newest copy of a page kept."""

from __future__ import annotations

import pyarrow as pa
import pytest
from corpus_helpers import BASE_URL
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.dedup.sorted_keys import reader_of
from corpus.dedup.url import choose_keeper, member, task_drops, url_key, url_table
from corpus.hashing import id_hash
from corpus.stage_steps import url_decisions


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


DATES = [None, "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00+01:00"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),  # which URL
            st.sampled_from(
                [None, "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z", "2026-11-01T00:00:00+01:00"]
            ),
            st.integers(0, 2),  # which unit
        ),
        min_size=1,
        max_size=40,
    )
)
def test_url_dedup_by_arrays_decides_as_the_reference(docs) -> None:
    """corpus.dedup.url.task_drops (sorted arrays of 128-bit URL hashes, what the pipeline runs)
    drops the same documents with the same kept ids as url_decisions (the reference), whatever
    the slices; documents without a URL and those dropped earlier take no part."""
    urls = [BASE_URL + "ch01.en.html", "HTTPS://WWW.DEBIAN.ORG/doc/manuals/debian-reference/ch01.en.html",
            BASE_URL + "ch02.en.html", None]  # fmt: skip
    members, per_unit = [], {}
    for n, (u, date, unit) in enumerate(docs):
        doc_id = f"<urn:uuid:{n}>"
        position = len(per_unit.setdefault(unit, []))
        key = url_key(urls[u])
        per_unit[unit].append({"position": position, "url_key": key, "date": date, "id_hash": id_hash(doc_id),
                               "id": doc_id})  # fmt: skip
        if key is not None and position != 1:  # position 1 of each unit: dropped by an earlier dedup
            members.append((key, member(doc_id, date, unit, position)))
    expected = sorted(d for key in {m[0] for m in members}
                      for d in url_decisions([m[1] for m in members if m[0] == key]))  # fmt: skip
    written = {unit: url_table([pa.Table.from_pylist(rows)], {1}) for unit, rows in per_unit.items()}
    units = [(u, layout) for u, (_, layout) in written.items()]
    read = reader_of({u: data for u, (data, _) in written.items()})
    for parts in (1, 4, 64):
        got = [d for part in range(parts) for d in task_drops(units, part, parts, read)]
        assert sorted(got) == expected
