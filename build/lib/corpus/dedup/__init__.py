"""Deduplication: exact (hash of normalised text) and, later, near (MinHash LSH)."""
