"""Hugging Face ``datasets`` input (corpus/readers/hf_datasets.py, read_arrow): real ``datasets``
writes the files, from paragraphs of the sample's pages; nothing is fetched."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import datasets
import pyarrow as pa
import pytest
from corpus_helpers import BASE_URL

from corpus.config import InputConfig
from corpus.readers.detect import input_format, read_documents_of
from corpus.readers.hf_datasets import dataset_files, parse_spec, saved_dataset_files
from corpus.records import RawDocument, Rejection

LANGS = ("de", "fr", "ja")


def read(path: str) -> bytes | None:
    return Path(path).read_bytes() if os.path.isfile(path) else None


def rows(paragraphs) -> dict[str, list]:
    return {
        "id": [f"ch01.{lang}" for lang in LANGS],
        "url": [BASE_URL + f"ch01.{lang}.html" for lang in LANGS],
        "text": [paragraphs[lang] for lang in LANGS],
    }


def read_file(path: str, config: InputConfig | None = None) -> list[RawDocument | Rejection]:
    with open(path, "rb") as f:
        return list(read_documents_of(f, path, config or InputConfig(), {}))


def test_a_saved_dataset_reads_as_its_rows(tmp_path: Path, paragraphs) -> None:
    datasets.Dataset.from_dict(rows(paragraphs)).save_to_disk(str(tmp_path / "ds"))
    files = saved_dataset_files(str(tmp_path / "ds"), read, os.path.join)
    assert files == [str(tmp_path / "ds" / "data-00000-of-00001.arrow")]
    assert input_format(files[0], InputConfig()) == "arrow"
    assert read_file(files[0]) == [
        RawDocument(f"ch01.{lang}", BASE_URL + f"ch01.{lang}.html", files[0], None, text=paragraphs[lang])
        for lang in LANGS
    ]


def test_a_saved_dataset_dict_stands_for_every_split(tmp_path: Path, paragraphs) -> None:
    data = datasets.Dataset.from_dict(rows(paragraphs))
    datasets.DatasetDict({"train": data.select([0, 1]), "test": data.select([2])}).save_to_disk(
        str(tmp_path / "dd")
    )
    files = saved_dataset_files(str(tmp_path / "dd"), read, os.path.join)
    assert [Path(f).parent.name for f in files] == ["train", "test"]
    assert [d.id for f in files for d in read_file(f)] == ["ch01.de", "ch01.fr", "ch01.ja"]
    assert saved_dataset_files(str(tmp_path), read, os.path.join) is None  # not a saved dataset


def test_broken_saved_dataset_files_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json", "utf-8")
    with pytest.raises(ValueError, match=r"state.json: not valid JSON"):
        saved_dataset_files(str(tmp_path), read, os.path.join)
    (tmp_path / "state.json").write_text(json.dumps({"_data_files": "x"}), "utf-8")
    with pytest.raises(ValueError, match=r"state.json: no '_data_files' list of filenames"):
        saved_dataset_files(str(tmp_path), read, os.path.join)
    (tmp_path / "dataset_dict.json").write_text(json.dumps({"splits": ["train"]}), "utf-8")
    with pytest.raises(ValueError, match=r"train: split folder without state.json"):
        saved_dataset_files(str(tmp_path), read, os.path.join)


def test_arrow_file_format_configured_columns_and_bad_rows(tmp_path: Path, paragraphs) -> None:
    table = pa.table({"doc": ["de", "ja", "fr"], "content": [paragraphs["de"], None, paragraphs["fr"]]})
    path = tmp_path / "docs.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)  # the random-access file format, not datasets' stream format
    items = read_file(str(path), InputConfig(text_field="content", id_field="doc"))
    assert [type(i).__name__ for i in items] == ["RawDocument", "Rejection", "RawDocument"]
    assert items[1].reason == "missing_text_field" and items[1].detail.endswith(
        "row 1: field 'content' is missing"
    )
    with pytest.raises(ValueError, match=r"docs.arrow: no column 'text' \(columns: \['content', 'doc'\]\)"):
        read_file(str(path))


def test_damaged_arrow_is_an_error_naming_the_file(tmp_path: Path, paragraphs) -> None:
    datasets.Dataset.from_dict(rows(paragraphs)).save_to_disk(str(tmp_path / "ds"))
    good = (tmp_path / "ds" / "data-00000-of-00001.arrow").read_bytes()
    cut = tmp_path / "cut.arrow"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"cut.arrow: damaged Arrow data"):
        read_file(str(cut))
    html = tmp_path / "page.arrow"
    html.write_bytes(b"<html><body>not arrow</body></html>")
    with pytest.raises(ValueError, match=r"page.arrow: not an Arrow IPC stream or file"):
        list(read_documents_of(io.BytesIO(html.read_bytes()), str(html), InputConfig(), {}))


def test_hf_spec_parts() -> None:
    assert parse_spec("allenai/c4") == ("allenai/c4", None, None)
    assert parse_spec("allenai/c4:en@validation") == ("allenai/c4", "en", "validation")
    assert parse_spec("/data/pages@train") == ("/data/pages", None, "train")
    with pytest.raises(ValueError, match="not hf:NAME"):
        parse_spec("")


@pytest.fixture
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def test_load_dataset_by_name_gives_its_cache_files(offline_cache: Path, paragraphs) -> None:
    folder = offline_cache / "pages"
    folder.mkdir()
    data = rows(paragraphs)
    with open(folder / "train.jsonl", "w", encoding="utf-8") as f:
        for i in range(len(LANGS)):
            f.write(json.dumps({k: v[i] for k, v in data.items()}, ensure_ascii=False) + "\n")
    files = dataset_files(f"{folder}@train")
    assert files and all(
        f.startswith(str(offline_cache / "hf-cache")) and f.endswith(".arrow") for f in files
    )
    assert [d.text for f in files for d in read_file(f)] == [paragraphs[lang] for lang in LANGS]
    with pytest.raises(ValueError, match=r"^hf:.*missing@train: datasets.load_dataset failed: "):
        dataset_files(f"{offline_cache / 'missing'}@train")
    # A slice would still name the split's whole files: refused rather than read whole.
    with pytest.raises(ValueError, match=r"split slices and sums are not supported"):
        dataset_files(f"{folder}@train[:1]")
