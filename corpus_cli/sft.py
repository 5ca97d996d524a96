"""``corpus sft``: instruction data (JSONL) to fine-tuning shards with a loss mask."""

from __future__ import annotations

import argparse
import glob
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sft",
        help="turn instruction data (prompt/response or chat JSONL) into shards with a loss mask",
        description="Write fine-tuning shards: each record templated and tokenized with the base run's "
        "tokenizer, a .mask file beside each shard marking the response tokens the loss counts; "
        "bad records go to rejected/sft.parquet with a reason. Train on it with `corpus train "
        "--data OUT --init-from BASE_CHECKPOINT` (add --lora-rank for LoRA).",
    )
    p.add_argument("--input", action="append", required=True, help="JSONL file or glob (repeatable)")
    p.add_argument("--tokenizer-from", required=True, metavar="RUN", help="the base model's corpus run")
    p.add_argument("--output", required=True, help="the folder to write")
    p.add_argument("--prompt-template", help="context before a response; {prompt} is the prompt")
    p.add_argument("--prompt-field", default="prompt", help="(default prompt)")
    p.add_argument("--response-field", default="response", help="(default response)")
    p.add_argument("--messages-field", default="messages", help="chat records (default messages)")
    p.add_argument("--max-tokens", type=int, default=1024, help="longest example kept (default 1024)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of examples for val (default 0.1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from corpus.finetune.sft import SftConfig, build_sft
    from corpus.manifest import load_manifest

    inputs = sorted({p for pattern in args.input for p in glob.glob(pattern)})
    if not inputs:
        print(f"error: no input matches {args.input}", file=sys.stderr)
        return 2
    manifest = load_manifest(args.tokenizer_from)
    token = (manifest["tokenizer"].get("document_token") or {}).get("token", "<|endoftext|>")
    config = SftConfig(
        prompt_field=args.prompt_field, response_field=args.response_field,
        messages_field=args.messages_field, max_tokens=args.max_tokens, val_fraction=args.val_fraction,
        **({"prompt_template": args.prompt_template} if args.prompt_template else {}),
    )  # fmt: skip
    summary = build_sft(inputs, args.output, Path(args.tokenizer_from) / manifest["tokenizer"]["file"],
                        token, config, name=Path(args.output).name)  # fmt: skip
    docs = summary["documents"]
    reasons = "".join(f" ({k} {v})" for k, v in summary["stages"][0]["rejected_by_reason"].items())
    print(f"sft data: {docs['in']} records, {docs['kept']} kept, {docs['rejected']} rejected{reasons}")
    for split, n in summary["response_tokens"].items():
        print(f"  {split}: {summary['tokens'][split]['tokens']} tokens, {n} of them response tokens")
    print(f"outputs: {args.output}/")
    return 0
