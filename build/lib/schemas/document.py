"""Arrow schemas of the records the pipeline writes between stages (version 1)."""

import pyarrow as pa

SCHEMA_VERSION = 1

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("id_hash", pa.uint64(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("date", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("text_hash", pa.uint64(), nullable=False),
        pa.field("language", pa.string()),
        pa.field("language_score", pa.float32()),
    ],
    metadata={"schema": "document", "version": str(SCHEMA_VERSION)},
)
"""A document after extraction (``work/extracted``) and after filtering (``docs/``)."""

REJECTED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("text", pa.string()),
    ],
    metadata={"schema": "rejected", "version": str(SCHEMA_VERSION)},
)
"""A document that a stage dropped, with a stable snake_case reason (``rejected/``)."""
