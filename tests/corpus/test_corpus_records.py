"""corpus/readers/records.py (JSONL, Parquet), readers/detect.py and the Arrow records round trip,
on paragraphs of the sample's pages and Python's own docstrings."""

from __future__ import annotations

import io
import json
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from corpus_helpers import BASE_URL

from corpus.config import InputConfig
from corpus.hashing import text_hash
from corpus.readers.detect import input_format
from corpus.readers.records import read_jsonl, read_parquet
from corpus.records import (
    Document,
    RawDocument,
    Rejection,
    documents_table,
    read_documents,
    rejections_table,
    write_parquet,
)

FR_URL = BASE_URL + "ch01.fr.html"
# content_id(FR_URL, French paragraph): users join results back by it, so it must never change.
FR_DERIVED_ID = "sha:f4c521ef4b3c269ba6754b5f9ceaad38"


def jsonl(*lines: bytes | dict | list) -> io.BytesIO:
    out = b"".join(
        (line if isinstance(line, bytes) else json.dumps(line, ensure_ascii=False).encode()) + b"\n"
        for line in lines
    )
    return io.BytesIO(out)


@pytest.fixture(scope="module")
def jsonl_items(paragraphs) -> list[RawDocument | Rejection]:
    good_de = {
        "id": "deb-ch01-de",
        "url": BASE_URL + "ch01.de.html",
        "text": paragraphs["de"],
        "date": "2026-11-01",
    }
    stream = jsonl(
        good_de,
        {"url": FR_URL, "text": paragraphs["fr"]},
        json.dumps(good_de).encode()[:-40],  # a line cut short
        b"   ",
        {"id": "deb-ch01-ja", "body": paragraphs["ja"]},
        {"id": 7, "text": textwrap.__doc__},
        ["a JSON array", paragraphs["en"]],
        {"id": "count", "text": 42},
        json.dumps({"text": paragraphs["fr"]}, ensure_ascii=False)
        .encode("utf-8")
        .replace("é".encode(), "é".encode("latin-1")),
    )
    items = list(read_jsonl(stream, "docs.jsonl", InputConfig(date_field="date")))
    # Where each line starts: records are named by byte offset, which holds for any piece of
    # a file a worker reads.
    data = stream.getvalue()
    starts = [0] + [i + 1 for i, b in enumerate(data) if b == 0x0A][:-1]
    LINE_STARTS[:] = starts
    return items


LINE_STARTS: list[int] = []


def at(line: int) -> str:
    """The location of 1-based line ``line`` of the fixture's file."""
    return f"byte {LINE_STARTS[line - 1]}"


def test_jsonl_keeps_given_ids_and_fields(jsonl_items, paragraphs) -> None:
    assert jsonl_items[0] == RawDocument(
        "deb-ch01-de", BASE_URL + "ch01.de.html", "docs.jsonl", "2026-11-01", text=paragraphs["de"]
    )
    assert jsonl_items[4] == RawDocument("7", None, "docs.jsonl", None, text=textwrap.__doc__)


def test_jsonl_derives_a_stable_id_when_absent(jsonl_items, paragraphs) -> None:
    assert jsonl_items[1] == RawDocument(FR_DERIVED_ID, FR_URL, "docs.jsonl", None, text=paragraphs["fr"])
    # Same text and URL at another line of another file: the same id.
    again = list(
        read_jsonl(
            jsonl({"text": paragraphs["en"]}, {"url": FR_URL, "text": paragraphs["fr"]}),
            "b.jsonl",
            InputConfig(),
        )
    )
    assert again[1].id == FR_DERIVED_ID
    # Another URL: another id.
    other = list(
        read_jsonl(jsonl({"url": BASE_URL + "ch01.html", "text": paragraphs["fr"]}), "c.jsonl", InputConfig())
    )
    assert other[0].id.startswith("sha:") and other[0].id != FR_DERIVED_ID


def test_jsonl_bad_lines_are_rejections_naming_the_line(jsonl_items) -> None:
    rejections = [(i.id, i.reason, i.stage) for i in jsonl_items if isinstance(i, Rejection)]
    assert rejections == [
        (f"docs.jsonl@{at(3)}", "jsonl_invalid_json", "read"),
        ("deb-ch01-ja", "missing_text_field", "read"),
        (f"docs.jsonl@{at(7)}", "jsonl_not_an_object", "read"),
        ("count", "missing_text_field", "read"),
        (f"docs.jsonl@{at(9)}", "jsonl_invalid_json", "read"),
    ]
    details = {i.id: i.detail for i in jsonl_items if isinstance(i, Rejection)}
    assert details[f"docs.jsonl@{at(3)}"].startswith(
        f"docs.jsonl {at(3)}: Invalid control character at: line 1 column"
    )
    assert details["deb-ch01-ja"] == f"docs.jsonl {at(5)}: field 'text' is missing"
    assert details[f"docs.jsonl@{at(7)}"] == f"docs.jsonl {at(7)}: a JSON list, not an object"
    assert details["count"] == f"docs.jsonl {at(8)}: field 'text' is a int, not a string"
    assert details[f"docs.jsonl@{at(9)}"].startswith(
        f"docs.jsonl {at(9)}: 'utf-8' codec can't decode byte 0xe9"
    )
    assert LINE_STARTS[2] > LINE_STARTS[1] > 0
    assert len(jsonl_items) == 8  # the blank line 4 is not a record


def test_non_string_url_of_a_rejected_line_does_not_break_the_rejections_table(paragraphs) -> None:
    items = list(
        read_jsonl(jsonl({"id": "ja", "url": 1, "body": paragraphs["ja"]}), "u.jsonl", InputConfig())
    )
    assert items[0].reason == "missing_text_field"
    assert rejections_table(items).num_rows == 1


def parquet_bytes(table: pa.Table) -> io.BytesIO:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    buf.seek(0)
    return buf


def test_parquet_with_configured_columns(paragraphs) -> None:
    table = pa.table(
        {
            "doc_id": ["de", "ja", "fr"],
            "content": [paragraphs["de"], None, paragraphs["fr"]],
            "link": [BASE_URL + "ch01.de.html", BASE_URL + "ch01.ja.html", None],
            "crawl_date": ["2026-11-01", "2026-11-02", None],
            "extra": [1, 2, 3],
        }
    )
    config = InputConfig(text_field="content", id_field="doc_id", url_field="link", date_field="crawl_date")
    items = list(read_parquet(parquet_bytes(table), "docs.parquet", config))
    assert items == [
        RawDocument("de", BASE_URL + "ch01.de.html", "docs.parquet", "2026-11-01", text=paragraphs["de"]),
        Rejection(
            "ja",
            BASE_URL + "ch01.ja.html",
            "docs.parquet",
            "read",
            "missing_text_field",
            "docs.parquet row 1: field 'content' is missing",
        ),
        RawDocument("fr", None, "docs.parquet", None, text=paragraphs["fr"]),
    ]


def test_parquet_without_id_column_derives_ids(paragraphs) -> None:
    table = pa.table({"text": [paragraphs["fr"]], "url": [FR_URL]})
    (item,) = read_parquet(parquet_bytes(table), "x.parquet", InputConfig())
    assert item.id == FR_DERIVED_ID


def test_parquet_missing_text_column_is_an_error_naming_the_file(paragraphs) -> None:
    table = pa.table({"body": [paragraphs["de"]], "id": ["de"]})
    with pytest.raises(ValueError) as e:
        list(read_parquet(parquet_bytes(table), "gs://bucket/part-0.parquet", InputConfig()))
    assert str(e.value) == "gs://bucket/part-0.parquet: no column 'text' (columns: ['body', 'id'])"


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("data/sample/debian-reference.warc.gz", "warc"),
        ("CC-MAIN-001.WARC", "warc"),
        ("docs.jsonl", "jsonl"),
        ("docs.json.gz", "jsonl"),
        ("docs.jsonl.zst", "jsonl"),
        ("gs://bucket/part-0.parquet", "parquet"),
    ],
)
def test_input_format_from_the_name(path: str, fmt: str) -> None:
    assert input_format(path, InputConfig()) == fmt


def test_input_format_unknown_name_is_an_error_and_config_overrides() -> None:
    with pytest.raises(
        ValueError, match=r"^notes\.txt: cannot tell the input format from the name; set input.format$"
    ):
        input_format("notes.txt", InputConfig())
    assert input_format("notes.txt", InputConfig(format="jsonl")) == "jsonl"


def test_documents_and_rejections_round_trip_through_parquet(paragraphs) -> None:
    docs = [
        Document(
            "de",
            BASE_URL + "ch01.de.html",
            "s.warc.gz",
            "2026-11-01T00:00:00Z",
            paragraphs["de"],
            text_hash(paragraphs["de"]),
            "de",
            0.5,
        ),
        Document("ja", None, "s.warc.gz", None, paragraphs["ja"], text_hash(paragraphs["ja"])),
    ]
    buf = io.BytesIO()
    write_parquet(documents_table(docs), buf)
    buf.seek(0)
    assert read_documents(buf) == docs
    buf.seek(0)
    assert pq.read_table(buf).column("id_hash").to_pylist() == [d.id_hash for d in docs]
    rejection = Rejection(
        "fr", FR_URL, "s.warc.gz", "language", "lang_below_threshold", "fr 0.375 < 0.5", paragraphs["fr"]
    )
    assert rejections_table([rejection]).to_pylist() == [
        {
            "id": "fr",
            "url": FR_URL,
            "source": "s.warc.gz",
            "stage": "language",
            "reason": "lang_below_threshold",
            "detail": "fr 0.375 < 0.5",
            "text": paragraphs["fr"],
        }
    ]
