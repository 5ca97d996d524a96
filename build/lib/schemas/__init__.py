"""Versioned schemas: the Arrow schema of document records and JSON Schemas of run outputs."""

from pathlib import Path

SCHEMA_DIR = Path(__file__).parent


def json_schema_path(name: str) -> Path:
    """Path of ``schemas/<name>.schema.json`` (``manifest``, ``summary``, ``pipeline_config``)."""
    return SCHEMA_DIR / f"{name}.schema.json"
