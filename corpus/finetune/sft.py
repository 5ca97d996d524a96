"""Supervised fine-tuning data: instruction records to token shards plus a loss mask.

Input is JSONL, one record per line: ``{"prompt": ..., "response": ...}`` or ``{"messages":
[{"role": "user" | "assistant" | "system", "content": ...}, ...]}`` (field names configurable).
A template turns a record into segments of text, each trainable or not: the prompt and the
role markers are context, the responses are what the model learns to write. Tokens are written
as ordinary shards (``.bin``, ``.idx``, ``.docs.parquet``), and beside each a ``.mask`` file:
one byte per token, 1 where the token is a target the loss counts (response tokens and the
document token that ends each response, so the model learns to stop), 0 elsewhere.

A record that cannot be used is rejected with a reason, as everywhere else: ``sft_bad_json``,
``sft_missing_field``, ``sft_empty_response``, ``sft_bad_messages``, ``sft_too_long``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from corpus.hashing import content_id, id_hash
from corpus.manifest import build_manifest, sha256_file, shard_entry, write_json_atomic
from corpus.records import write_parquet
from corpus.shards.format import write_shard_files
from corpus.shards.split import split_of
from corpus.tokenize import load_tokenizer, token_dtype, tokenizer_identity
from schemas.document import REJECTED_SCHEMA

STAGE = "sft"


@dataclass(frozen=True)
class SftConfig:
    prompt_field: str = "prompt"
    response_field: str = "response"
    messages_field: str = "messages"
    id_field: str = "id"
    prompt_template: str = "### Question:\n{prompt}\n\n### Answer:\n"
    """Context before a response; ``{prompt}`` is the record's prompt."""
    role_templates: dict[str, str] = field(
        default_factory=lambda: {
            "system": "### System:\n{content}\n\n",
            "user": "### Question:\n{content}\n\n",
            "assistant": "### Answer:\n",
        }
    )
    """Chat: the text before each message's content (assistant content is trainable)."""
    max_tokens: int = 1024
    """Longest example in tokens (with its document tokens); longer ones are rejected."""
    val_fraction: float = 0.1


@dataclass(frozen=True)
class Example:
    id: str
    segments: list[tuple[str, bool]]
    """(text, trainable) in order."""


@dataclass(frozen=True)
class Rejection:
    id: str
    reason: str
    detail: str
    text: str | None


def parse_record(line: str, number: int, config: SftConfig) -> Example | Rejection:
    """One JSONL line -> an example, or a rejection naming what is wrong."""
    fallback = f"line-{number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        return Rejection(fallback, "sft_bad_json", f"line {number}: {e}", line[:10_000])
    if not isinstance(record, dict):
        return Rejection(fallback, "sft_bad_json", f"line {number}: not a JSON object", line[:10_000])
    raw_id = record.get(config.id_field)
    if config.messages_field in record:
        messages = record[config.messages_field]
        doc_id = str(raw_id) if raw_id is not None else content_id(None, json.dumps(messages, sort_keys=True))
        if not isinstance(messages, list) or not messages:
            return Rejection(doc_id, "sft_bad_messages", "messages is not a non-empty list", None)
        segments: list[tuple[str, bool]] = []
        for m in messages:
            role, content = (m.get("role"), m.get("content")) if isinstance(m, dict) else (None, None)
            if role not in config.role_templates or not isinstance(content, str):
                return Rejection(
                    doc_id, "sft_bad_messages", f"a message with role {role!r} and no text", None
                )
            if role == "assistant":
                if not content.strip():
                    return Rejection(doc_id, "sft_empty_response", "an assistant message is empty", None)
                segments += [(config.role_templates[role].format(content=""), False), (content, True)]
            else:
                segments.append((config.role_templates[role].format(content=content), False))
        if not any(trainable for _, trainable in segments):
            return Rejection(doc_id, "sft_empty_response", "no assistant message", None)
        return Example(doc_id, segments)
    prompt, response = record.get(config.prompt_field), record.get(config.response_field)
    doc_id = str(raw_id) if raw_id is not None else content_id(None, f"{prompt}\x00{response}")
    missing = [n for n, v in ((config.prompt_field, prompt), (config.response_field, response)) if v is None]
    if missing:
        return Rejection(doc_id, "sft_missing_field", f"no {' or '.join(missing)}", line[:10_000])
    if not isinstance(prompt, str) or not isinstance(response, str):
        return Rejection(doc_id, "sft_missing_field", "prompt and response must be text", line[:10_000])
    if not response.strip():
        return Rejection(doc_id, "sft_empty_response", "the response is empty", prompt)
    return Example(doc_id, [(config.prompt_template.format(prompt=prompt), False), (response, True)])


def encode(example: Example, tokenizer: Any, bos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, mask): the document token, each segment, the document token again to end the
    response; mask 1 on trainable segments' tokens and that last token."""
    ids, mask = [bos_id], [0]
    for text, trainable in example.segments:
        part = tokenizer.encode(text, add_special_tokens=False).ids
        ids += part
        mask += [int(trainable)] * len(part)
    ids.append(bos_id)
    mask.append(1)
    return np.array(ids, dtype=np.int64), np.array(mask, dtype=np.uint8)


def build_sft(
    inputs: list[str], out: str | os.PathLike, tokenizer_path: str | os.PathLike, bos_token: str,
    config: SftConfig | None = None, name: str = "sft",
) -> dict[str, Any]:  # fmt: skip
    """Write ``out/`` (shards, masks, lineage, rejected/sft.parquet, summary.json, manifest.json
    last); return the summary. ``tokenizer_path``: the base model's tokenizer.json."""
    config = config or SftConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    tokenizer_json = Path(tokenizer_path).read_text("utf-8")
    tokenizer = load_tokenizer(tokenizer_json)
    identity = tokenizer_identity(tokenizer_json, bos_token)
    bos_id, dtype = identity["bos_id"], token_dtype(identity["vocab_size"])
    kept: dict[str, list[tuple[int, str, np.ndarray, np.ndarray]]] = {"train": [], "val": []}
    rejected: list[Rejection] = []
    records = 0
    for path in inputs:
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                records += 1
                parsed = parse_record(line, number, config)
                if isinstance(parsed, Rejection):
                    rejected.append(parsed)
                    continue
                tokens, mask = encode(parsed, tokenizer, bos_id)
                if len(tokens) > config.max_tokens:
                    text = "".join(t for t, _ in parsed.segments)
                    rejected.append(
                        Rejection(
                            parsed.id, "sft_too_long", f"{len(tokens)} tokens > {config.max_tokens}", text
                        )
                    )
                    continue
                kept[split_of(parsed.id, config.val_fraction)].append(
                    (id_hash(parsed.id), parsed.id, tokens, mask)
                )
    shards = []
    for split, rows in kept.items():
        if not rows:
            continue
        rows.sort(key=lambda r: (r[0], r[1]))  # by id hash: not by arrival
        stem = f"{split}_000000"
        write_shard_files(out / f"{stem}.bin", [r[2] for r in rows], dtype)
        mask_path = out / f"{stem}.mask"
        tmp = mask_path.with_name(mask_path.name + ".tmp")
        tmp.write_bytes(np.concatenate([r[3] for r in rows]).tobytes())
        os.replace(tmp, mask_path)
        lineage = pa.table(
            {
                "position": pa.array(range(len(rows)), pa.int64()),
                "id": pa.array([r[1] for r in rows], pa.string()),
                "url": pa.array([None] * len(rows), pa.string()),
                "tokens": pa.array([len(r[2]) for r in rows], pa.int64()),
                "response_tokens": pa.array([int(r[3].sum()) for r in rows], pa.int64()),
            }
        )
        with open(out / f"{stem}.docs.parquet", "wb") as f:
            write_parquet(lineage, f)
        entry = shard_entry(out, stem, split)
        entry.update(
            {"docs": f"{stem}.docs.parquet", "mask": mask_path.name, "mask_sha256": sha256_file(mask_path)}
        )
        shards.append(entry)
    (out / "rejected").mkdir(exist_ok=True)
    table = pa.table(
        {
            "id": [r.id for r in rejected],
            "url": [None] * len(rejected),
            "source": [str(inputs[0]) if inputs else ""] * len(rejected),
            "stage": [STAGE] * len(rejected),
            "reason": [r.reason for r in rejected],
            "detail": [r.detail for r in rejected],
            "text": [r.text for r in rejected],
        },
        schema=REJECTED_SCHEMA,
    )
    with open(out / "rejected" / "sft.parquet", "wb") as f:
        write_parquet(table, f)
    (out / "tokenizer.json").write_text(tokenizer_json, "utf-8")
    kept_count = sum(len(r) for r in kept.values())
    reasons = Counter(r.reason for r in rejected)
    summary = {
        "documents": {"in": records, "kept": kept_count, "rejected": len(rejected)},
        "stages": [
            {
                "stage": STAGE,
                "in": records,
                "kept": kept_count,
                "rejected": len(rejected),
                "rejected_by_reason": dict(sorted(reasons.items())),
            }
        ],  # fmt: skip
        "records_skipped": {},
        "tokens": {
            s["split"]: {"tokens": s["tokens"], "documents": s["documents"], "shards": 1} for s in shards
        },
        "response_tokens": {
            split: int(sum(r[3].sum() for r in rows)) for split, rows in kept.items() if rows
        },
        "shards": len(shards),
    }
    write_json_atomic(out / "summary.json", summary)
    sft_config = {"name": name, "sft": {k: v for k, v in vars(config).items()}}
    write_json_atomic(
        out / "manifest.json", build_manifest(identity, sft_config, shards) | {"loss_mask": True}
    )
    return summary
