"""Hostile input never kills the job: property-based fuzzing (hypothesis) of the WARC, HTML,
JSONL and Parquet readers and of the shard reader, plus the named cases: gzip bombs, deeply nested
HTML, a 100 MB line, NUL bytes, invalid UTF-8 and lone surrogates.

Every input either yields records (documents, or rejections with a reason) or, for a file that is
not of its format at all, raises a ValueError that names the file.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from corpus_helpers import SAMPLE_WARC, warc_response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpus.config import InputConfig, PipelineConfig
from corpus.extract import extract_document
from corpus.readers.records import read_jsonl, read_parquet
from corpus.readers.warc import WarcReader
from corpus.records import Document, RawDocument, Rejection
from corpus.shards.format import ShardFormatError, read_header, read_index
from corpus.units import byte_ranges

pytestmark = pytest.mark.slow  # property-based fuzzing

FUZZ = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
CONFIG = PipelineConfig()


def extracted(items) -> list[Document | Rejection]:
    """Items through extraction, as the pipeline would: nothing may raise."""
    out: list[Document | Rejection] = []
    for item in items:
        assert isinstance(item, RawDocument | Rejection), item
        out.append(extract_document(item, CONFIG.extract) if isinstance(item, RawDocument) else item)
    for item in out:
        if isinstance(item, Rejection):
            assert item.reason and item.reason == item.reason.lower() and " " not in item.reason
        else:
            item.text.encode("utf-8")  # valid text: no lone surrogates left
    return out


# --- JSONL --------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
jsonl_lines = st.one_of(
    st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ")),
    st.builds(lambda t, i: json.dumps({"text": t, "id": i}).encode(), st.text(), st.text(max_size=8)),
    st.builds(
        lambda t: json.dumps({"text": t}, ensure_ascii=False).encode("utf-8", "surrogatepass"), st.text()
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
)


@FUZZ
@given(st.lists(jsonl_lines, max_size=12))
def test_jsonl_of_anything_gives_one_record_per_line(lines: list[bytes]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    items = extracted(read_jsonl(io.BytesIO(data), "f.jsonl", InputConfig()))
    assert len(items) == sum(1 for line in lines if line.strip())


@FUZZ
@given(st.lists(st.text(min_size=0, max_size=300), max_size=30), st.integers(min_value=1, max_value=2000))
def test_jsonl_ranges_read_every_line_exactly_once(texts: list[str], split: int) -> None:
    data = "".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)).encode()
    whole = list(read_jsonl(io.BytesIO(data), "f.jsonl", InputConfig()))
    pieces = []
    for start, end in byte_ranges(len(data), split):
        pieces += list(read_jsonl(io.BytesIO(data), "f.jsonl", InputConfig(), start, end))
    assert pieces == whole
    assert [r.id for r in whole] == [str(i) for i in range(len(texts))]


def test_lone_surrogates_and_nul_bytes_become_clean_text() -> None:
    data = b'{"id": "a\\udfff", "text": "Nach dem Starten \\ud800 des Systems"}\n{"text": "a\\u0000b c"}\n'
    a, b = extracted(read_jsonl(io.BytesIO(data), "f.jsonl", InputConfig()))
    assert a.id == "a\ufffd"
    assert isinstance(a, Rejection) and a.reason == "undecodable_bytes"  # 1 of 33 is over 1%
    assert isinstance(b, Document) and b.text == "ab c"


def test_a_100_mb_line_is_rejected_without_being_held(tmp_path) -> None:
    path = tmp_path / "huge.jsonl"
    first = b'{"id": "small", "text": "Upon starting the system, you are presented with the login prompt."}\n'
    with open(path, "wb") as f:
        f.write(first)
        f.write(b'{"id": "huge", "text": "' + b"a" * (100 * 1024 * 1024) + b'"}\n')
        f.write(b'{"id": "after", "text": "It goes on after the long line."}\n')
    with open(path, "rb") as f:
        items = list(read_jsonl(f, str(path), InputConfig()))
    assert [getattr(i, "reason", None) for i in items] == [None, "record_too_large", None]
    assert items[1].id == f"{path}@byte {len(first)}" and "input.max_record_bytes" in items[1].detail


# --- Parquet ------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2000))
def test_parquet_of_random_bytes_is_a_clear_error(data: bytes) -> None:
    try:
        items = list(read_parquet(io.BytesIO(data), "f.parquet", InputConfig()))
    except ValueError as e:
        assert "f.parquet" in str(e)
    else:
        extracted(items)


@FUZZ
@given(st.lists(st.one_of(st.none(), st.text(), st.integers().map(str)), max_size=20), st.data())
def test_parquet_with_odd_cells_and_cut_files(texts, data) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": pa.array(texts, pa.string())}), buffer, row_group_size=4)
    raw = buffer.getvalue()
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    try:
        items = extracted(read_parquet(io.BytesIO(raw[:cut]), "f.parquet", InputConfig()))
    except ValueError as e:
        assert cut < len(raw) and "f.parquet" in str(e)
    else:
        assert cut == len(raw) and len(items) == len(texts)
        assert [i.reason for i in items if isinstance(i, Rejection) and i.stage == "read"] == [
            "missing_text_field" for t in texts if t is None
        ]


# --- WARC and HTML ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warc_head() -> bytes:
    """The first 40 records of the sample, one gzip member each."""
    data = SAMPLE_WARC.read_bytes()
    starts = [i for i in range(len(data) - 2) if data[i : i + 3] == b"\x1f\x8b\x08"]
    return data[: starts[40]]


@FUZZ
@given(st.data())
def test_warc_with_flipped_cut_or_inserted_bytes(warc_head: bytes, data) -> None:
    raw = bytearray(warc_head)
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[pos] ^= data.draw(st.integers(min_value=1, max_value=255))
        elif action == "cut":
            del raw[pos : pos + data.draw(st.integers(min_value=1, max_value=5000))]
        else:
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=64))
    items = extracted(WarcReader(io.BytesIO(bytes(raw)), "f.warc.gz"))
    assert items  # something of the file is always accounted for


@FUZZ
@given(st.binary(max_size=3000))
def test_warc_of_random_bytes(data: bytes) -> None:
    extracted(WarcReader(io.BytesIO(data), "f.warc"))


def test_gzip_bomb_in_an_http_body_is_rejected_under_the_cap() -> None:
    bomb = zlib.compress(b"\0" * (200 * 1024 * 1024), 9)  # 200 MB in about 200 KB
    record = warc_response(gzip.compress(zlib.decompress(bomb), 9), "Content-Encoding: gzip\r\n")
    (item,) = WarcReader(io.BytesIO(record), "bomb.warc.gz", max_record_bytes=8 * 1024 * 1024)
    assert isinstance(item, Rejection) and item.reason == "record_too_large"
    assert "bomb.warc.gz" in item.detail and "8388608" in item.detail


def test_gzip_bomb_as_a_warc_record_is_skipped_unread() -> None:
    page = SAMPLE_WARC.read_bytes()[:0] or b"<html><body><p>After the big record.</p></body></html>"
    big = b"<html>" + b" " * (50 * 1024 * 1024) + b"</html>"
    data = warc_response(big) + warc_response(page)
    items = list(WarcReader(io.BytesIO(data), "big.warc.gz", max_record_bytes=1024 * 1024))
    assert [getattr(i, "reason", None) for i in items] == ["record_too_large", None]


@pytest.mark.parametrize(
    "body",
    [
        b"<div>" * 200_000 + b"deep" + b"</div>" * 200_000,
        b"<html><body><p>nul \0 bytes \0 inside</p></body></html>",
        b"<html><body><p>caf\xe9 \xff\xfe invalid utf-8 \xc3</p></body></html>",
        b"<html><body><p>" + "lone \ud800 surrogate".encode("utf-8", "surrogatepass") + b"</p></body></html>",
        b"",
        b"<" * 100_000,
    ],
    ids=["nested-200k", "nul", "invalid-utf8", "surrogate-bytes", "empty", "brackets"],
)
def test_hostile_html_is_extracted_or_rejected(body: bytes) -> None:
    (item,) = extracted(WarcReader(io.BytesIO(warc_response(body)), "h.warc.gz"))
    if body.startswith(b"<div>"):
        assert item.reason == "html_too_deep"
        assert item.detail == "elements nested deeper than max_html_depth 512"


# --- shards -------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2000), st.binary(max_size=300))
def test_shard_reader_refuses_random_files_clearly(
    tmp_path_factory, bin_data: bytes, idx_data: bytes
) -> None:
    folder = tmp_path_factory.mktemp("shard")
    (folder / "s.bin").write_bytes(bin_data)
    (folder / "s.idx").write_bytes(b"MMIDIDX\x00\x00" + idx_data)
    for read, name in ((read_header, "s.bin"), (read_index, "s.idx")):
        try:
            read(folder / name)
        except ShardFormatError as e:
            assert name in str(e)
