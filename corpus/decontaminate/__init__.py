"""Benchmark decontamination: documents (or spans) that contain the user's evaluation items.

- ``sources``: evaluation items from JSONL, Parquet, Arrow, ``save_to_disk`` folders, text;
- ``normalize``: normalised words (case, punctuation, digits, accents folded; CJK characters as
  words) with their spans in the original text;
- ``ngrams``: word n-grams as 128-bit keys, a batch of texts at once;
- ``index``: ``EvalIndex``, the items' n-grams (and question-answer straddling ones) by key,
  and ``find``: every verified match in a document, as a span of its original text;
- ``decide``: ``drop`` or ``excise`` a document given its matches and the keys to ignore, and
  ``Tally``/``check_removed_share`` for the summary, the report and the stop rule;
- ``config``: ``DecontaminateConfig``.

The stage, in two passes over the corpus that only move keys: (1) per document
``index.matched_keys(text)``, counted per key across the corpus (documents per key); the keys
counted in more than ``max_corpus_frequency`` documents are ``frequent_keys``, the ignore set
(small: only keys that are in the index); (2) per document ``decide(text, index.find(text),
config, ignore)``, the outcomes added to a ``Tally``; ``check_removed_share`` before any output
is committed.

Nothing is imported here: ``corpus.decontaminate.config`` stays light for the config loader.
"""
