"""The ``[decontaminate]`` settings (wired into ``corpus.config.PipelineConfig`` by the stage).

Imports nothing heavy, so the config module can import it at no cost."""

from __future__ import annotations

from dataclasses import dataclass

from corpus.errors import InputError

STAGE = "decontaminate"
REASON = "contaminated"
MODES = ("drop", "excise")
MIN_NGRAM, MAX_NGRAM = 5, 64


class ConfigError(InputError):
    """A decontaminate setting is wrong; the message names it (``decontaminate.ngram``).

    Its own class (not ``corpus.config.ConfigError``) so that corpus/config.py can import this
    module without an import cycle."""


@dataclass(frozen=True)
class DecontaminateConfig:
    enabled: bool = False
    """Off by default: the user brings the evaluation sets."""
    sources: tuple[str, ...] = ()
    """Files or globs of evaluation sets: JSONL, Parquet, Arrow, a ``save_to_disk`` folder, or
    plain text with one item a line (``corpus.decontaminate.sources``)."""
    fields: tuple[str, ...] = ()
    """Which string fields of a row make an item (dotted for nested ones: ``answers.text``);
    empty: every string field. Plain-text sources have one field, the line."""
    ngram: int = 13
    """Words per n-gram (GPT-3's 13; datatrove uses 12). Chinese and Japanese count characters."""
    mode: str = "drop"
    """``drop``: a matching document is rejected (reason ``contaminated``); ``excise``: each
    match and ``excise_chars`` characters each side are cut out, as GPT-3 did."""
    min_chars: int = 200
    """``excise``: a document left shorter than this (characters) is dropped."""
    max_cuts: int = 10
    """``excise``: a document that needs more cuts than this is dropped (GPT-3: 10)."""
    max_corpus_frequency: int = 50
    """An n-gram matched in more than this many documents of the corpus is not evidence
    (licence clauses, famous quotes, templates) and is ignored; the report lists them."""
    max_removed_share: float = 0.01
    """The run stops with an error naming the source when decontamination would remove more
    than this share of the corpus's bytes (a source of false positives, not contamination)."""
    excise_chars: int = 200
    """``excise``: characters cut on each side of a match (GPT-3: 200), widened to whole words."""

    def __post_init__(self) -> None:
        for name in ("sources", "fields"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(
                    f"decontaminate.{name}: expected a list of non-empty strings, got {value!r}"
                )
            object.__setattr__(self, name, tuple(value))
        if self.enabled and not self.sources:
            raise ConfigError("decontaminate.sources: give the evaluation sets' files when enabled")
        if not MIN_NGRAM <= self.ngram <= MAX_NGRAM:
            raise ConfigError(
                f"decontaminate.ngram: must be within [{MIN_NGRAM}, {MAX_NGRAM}], got {self.ngram}"
            )
        if self.mode not in MODES:
            raise ConfigError(f"decontaminate.mode: {self.mode!r} is not one of {', '.join(MODES)}")
        if self.min_chars < 0:
            raise ConfigError(f"decontaminate.min_chars: must not be negative, got {self.min_chars}")
        if self.excise_chars < 0:
            raise ConfigError(f"decontaminate.excise_chars: must not be negative, got {self.excise_chars}")
        if self.max_cuts < 1:
            raise ConfigError(f"decontaminate.max_cuts: must be at least 1, got {self.max_cuts}")
        if self.max_corpus_frequency < 1:
            raise ConfigError(
                f"decontaminate.max_corpus_frequency: must be at least 1, got {self.max_corpus_frequency}"
            )
        if not 0 < self.max_removed_share <= 1:
            raise ConfigError(
                f"decontaminate.max_removed_share: must be within (0, 1], got {self.max_removed_share}"
            )
