"""Corpus toolkit library: records, readers, extraction, dedup, filters, tokenization, shards.

Nothing here imports Apache Beam: the same functions serve a Beam job, a test and a notebook.
"""

__version__ = "0.1.0"
