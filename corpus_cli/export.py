"""``corpus export RUN|CHECKPOINT --hf OUT``: a Hugging Face transformers folder of a trained model."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a checkpoint as a Hugging Face transformers folder (safetensors, tokenizer)",
        description="Write a transformers folder: GPT2LMHeadModel for learned positions, GPTNeoXForCausalLM "
        "for rotary; our tokenizer.json as a fast tokenizer. Needs the hf extra (pip install -e '.[hf]').",
    )
    p.add_argument(
        "checkpoint",
        help="a training run's folder (e.g. runs/sample: its checkpoint.pt) or a checkpoint file",
    )
    p.add_argument("--hf", required=True, metavar="OUT", help="the folder to write")
    p.add_argument("--data", help="the pipeline run of its tokenizer (default: the one it trained on)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trainer.export import export_hf

    folder = export_hf(args.checkpoint, args.hf, args.data)
    print(f"exported: {folder} (load with transformers.AutoModelForCausalLM.from_pretrained)")
    return 0
