"""``corpus generate RUN|CHECKPOINT --prompt TEXT``: sample a continuation from a trained model."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="sample text from a checkpoint (temperature, top-k, top-p, seeded)",
        description="Continue a prompt with a trained model, for a quick look at what it learned.",
    )
    p.add_argument(
        "checkpoint",
        help="a training run's folder (e.g. runs/sample: its checkpoint.pt) or a checkpoint file",
    )
    p.add_argument("--prompt", default="", help="text to continue (default: a new document)")
    p.add_argument("--max-tokens", type=int, default=100, help="tokens to generate at most (default 100)")
    p.add_argument("--temperature", type=float, default=0.8, help="0 is greedy (default 0.8)")
    p.add_argument("--top-k", type=int, default=50, help="keep the k likeliest tokens, 0: all (default 50)")
    p.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass (default 0.95)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--samples", type=int, default=1, help="continuations, seeds seed, seed+1, ...")
    p.add_argument("--data", help="the pipeline run of its tokenizer (default: the one it trained on)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tokenizers import Tokenizer

    from trainer.generate import sample
    from trainer.load import load_trained

    trained = load_trained(args.checkpoint, args.data)
    tokenizer = Tokenizer.from_file(str(trained.tokenizer_path))
    prompt = tokenizer.encode(args.prompt, add_special_tokens=False).ids
    if not trained.doc_at_end:
        prompt = [trained.bos_id, *prompt]  # a document starts with the document token
    if not prompt:
        print("error: an empty prompt needs shards whose document token starts documents", file=sys.stderr)
        return 2
    for i in range(args.samples):
        ids = sample(trained.model, prompt, args.max_tokens, args.temperature, args.top_k, args.top_p,
                     args.seed + i, trained.tokenizer_vocab, trained.bos_id)  # fmt: skip
        if args.samples > 1:
            print(f"--- sample {i + 1} (seed {args.seed + i})")
        print(args.prompt + tokenizer.decode(ids, skip_special_tokens=True))
    return 0
