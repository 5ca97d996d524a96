"""corpus/config.py: the sample config, its JSON Schema, and errors that name the field."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
from corpus_helpers import REPO, load_schema

from corpus.config import LanguageConfig, PipelineConfig, ShardConfig

SAMPLE_TOML = REPO / "configs" / "sample.toml"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = load_schema("pipeline_config")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_sample_toml_loads(validator) -> None:
    config = PipelineConfig.from_toml(SAMPLE_TOML)
    assert config.name == "sample"
    assert config.language == LanguageConfig(languages=("en", "de", "fr", "es", "it", "ja"), min_score=0.5)
    assert config.shard == ShardConfig(val_fraction=0.05, max_tokens_per_shard=100_000_000)
    assert config.tokenizer.vocab_size == 8192
    # The file itself and the full config it gives both satisfy the schema.
    validator.validate(tomllib.loads(SAMPLE_TOML.read_text("utf-8")))
    validator.validate(json.loads(json.dumps(config.to_dict())))


def test_defaults_validate_and_round_trip(validator) -> None:
    config = PipelineConfig().validate()
    validator.validate(json.loads(json.dumps(config.to_dict())))
    assert PipelineConfig.from_dict(config.to_dict()) == config
    assert PipelineConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


BAD = [
    ("[language]\nmin_score = 1.5\n", "language.min_score: must be within [0, 1], got 1.5"),
    ("[shard]\nval_fraction = -0.1\n", "shard.val_fraction: must be within [0, 1], got -0.1"),
    ("[extract]\nfoo = 1\n", "extract.foo: unknown field"),
    ('[tokenizer]\nvocab_size = "8192"\n', "tokenizer.vocab_size: expected a number, got '8192'"),
    (
        "[tokenizer]\nvocab_size = 256\n",
        "tokenizer.vocab_size: must be at least 257 (bytes + document token)",
    ),
    ("[extract]\nmax_html_bytes = 0\n", "extract.max_html_bytes: must be positive, got 0"),
    ('[extract]\nmain_content = "yes"\n', "extract.main_content: expected true or false, got 'yes'"),
    (
        "[extract]\nmax_replacement_ratio = true\n",
        "extract.max_replacement_ratio: expected a number, got True",
    ),
    ('[language]\nlanguages = "en"\n', "language.languages: expected a list"),
    ('[language]\nlanguages = ["en", "zh-Hant"]\n', "language.languages: 'zh-Hant' is not a language code"),
    ('[input]\nformat = "csv"\n', "input.format: 'csv' is not auto, warc, jsonl, parquet or arrow"),
    ('[input]\ntext_field = ""\n', "input.text_field: must not be empty"),
    ("[crawl]\nseeds = []\n", "crawl: unknown config section"),
    ("dedup = 1\n", "dedup: expected a table, got int"),
    (
        "[shard]\nmax_tokens_per_shard = 2000000000\n",
        "shard.max_tokens_per_shard: at most 1073741824, got 2000000000",
    ),
    ('name = "runs/a"\n', "name: 'runs/a' must be letters, digits, '.', '_' or '-', not starting with '.'"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_value_raises_value_error_naming_the_field(
    tmp_path: Path, validator, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(ValueError) as e:
        PipelineConfig.from_toml(path)
    assert str(e.value) == f"{path}: {message}"
    # The schema refuses the same file.
    assert not validator.is_valid(tomllib.loads(text))


def test_float_for_an_integer_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[shard]\nmax_tokens_per_shard = 1e8\n", "utf-8")
    with pytest.raises(
        ValueError, match=r"shard\.max_tokens_per_shard: expected an integer, got 100000000\.0$"
    ):
        PipelineConfig.from_toml(path)


def test_int_for_a_float_field_is_fine() -> None:
    assert PipelineConfig.from_dict({"language": {"min_score": 1}}).language.min_score == 1


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[language\nmin_score = 0.5\n", "utf-8")
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}: not valid TOML (")):
        PipelineConfig.from_toml(path)


@pytest.mark.parametrize(
    ("data", "field"), [({"name": 5}, "name"), ({"language": {"languages": [1]}}, "language.languages")]
)
def test_wrong_type_names_the_field(data: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        PipelineConfig.from_dict(data)


def test_dot_dot_is_not_a_run_name() -> None:
    with pytest.raises(ValueError, match="^name: "):
        PipelineConfig.from_dict({"name": ".."})


@pytest.mark.parametrize("preset", ["fineweb-like", "c4-like", "minimal"])
def test_filter_preset_files_validate_and_load(validator, preset: str) -> None:
    path = REPO / "configs" / "filters" / f"{preset}.toml"
    validator.validate(tomllib.loads(path.read_text("utf-8")))
    config = PipelineConfig.from_toml(path)
    assert config.quality.preset == preset and config.name == preset
    validator.validate(json.loads(json.dumps(config.to_dict())))
    expected = {"fineweb-like": (True, True, True, True), "c4-like": (False, False, True, False),
                "minimal": (True, False, False, False)}[preset]  # fmt: skip
    q = config.quality
    assert (q.gopher_quality, q.gopher_repetition, q.c4, q.fineweb) == expected


def test_schema_refuses_a_bad_filter_config(validator) -> None:
    bad = {"quality": {"preset": "strict"}, "safety": {"classifiers": ["model.bin"]}}
    errors = sorted(list(e.absolute_path) for e in validator.iter_errors(bad))
    assert errors == [["quality", "preset"], ["safety", "classifiers", 0]]
