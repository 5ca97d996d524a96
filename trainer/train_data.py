"""The data a run trains and validates on, read before step 0: every source's run verified
against its manifest, their train and val splits, the train batches (one run, or a weighted
mixture of runs), the shards too short for a window, and the unigram entropy of the train split."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from corpus.errors import InputError
from corpus.manifest import MANIFEST_NAME, ManifestError
from trainer.config import ConfigError, TrainConfig
from trainer.data import ENTROPY_SAMPLE_TOKENS, Shard, TrainBatches, open_split, too_short, unigram_entropy
from trainer.distributed import World, from_main
from trainer.mixture import MixtureBatches, Source
from trainer.verify import RunData, verify_once, verify_run


@dataclass
class TrainData:
    """The splits of every source (in the order of ``--data``) and what is read from them."""

    train_by_source: list[list[Shard]]
    val_by_source: list[list[Shard]]
    train_shards: list[Shard]
    val_shards: list[Shard]
    batches: TrainBatches | MixtureBatches
    entropy: float


def unused(shards: list[Shard], seq_len: int) -> dict[str, Any] | None:
    """The shards too short for one window (``data.too_short``) and their tokens, which training
    never uses: counted in the summary, not silently left out; None when there are none."""
    short = too_short(shards, seq_len)
    return {"shards": [x.name for x in short], "tokens": sum(len(x.tokens) for x in short)} if short else None


def verified_runs(sources: list[Source], out: str, world: World, say: Callable[[str], None]) -> list[RunData]:
    """Every source's run verified (``_verify``), all tokenized with one tokenizer."""
    runs = _verify(sources, out, world, say)
    run = runs[0]
    for other in runs[1:]:
        if other.manifest["tokenizer"]["sha256"] != run.manifest["tokenizer"]["sha256"]:
            raise ConfigError(
                f"data: {other.directory} was tokenized with another tokenizer than {run.directory} "
                "(tokenizer.json sha256 differs); the runs of a mixture must share one"
            )
    return runs


def _verify(sources: list[Source], out: str, world: World, say: Callable[[str], None]) -> list[RunData]:
    """Every source's run verified: its shard checksums read once per manifest (by the main rank,
    the others wait and check headers and sizes only), remembered in ``out``."""
    runs, failed = [], None
    if world.main:
        try:
            for source in sources:
                run, read = verify_once(source.path, out)
                what = (
                    "shard checksums"
                    if read
                    else "checksums verified earlier, shard sizes and times unchanged"
                )
                say(f"data: {run.directory} verified (manifest, {what}, {run.tokenizer_path.name})")
                runs.append(run)
        except InputError as e:
            failed = e
    # The other ranks learn the main rank's verdict instead of waiting at a barrier it never
    # reaches (a collective's timeout is 30 minutes).
    message = from_main(None if failed is None else str(failed), world)
    if failed is not None:
        raise failed
    if message is not None:
        raise ManifestError(message)
    return runs if world.main else [verify_run(source.path, checksums=False) for source in sources]


def load(
    config: TrainConfig, runs: list[RunData], sources: list[Source], world: World, say: Callable[[str], None]
) -> TrainData:
    """The splits of ``runs`` and this rank's batches over them, for ``config`` with its global
    batch resolved (``prepare.split_global_batch``)."""
    train_by_source = [open_split(r, "train") for r in runs]
    val_by_source = [open_split(r, "val") for r in runs]
    for r, shards in zip(runs, train_by_source, strict=True):
        if not shards:
            raise ManifestError(f"{r.directory / MANIFEST_NAME}: no shard of split 'train'")
    train_shards = [shard for shards in train_by_source for shard in shards]
    val_shards = [shard for shards in val_by_source for shard in shards]
    if len({r.doc_at_end for r in runs}) > 1:
        raise ConfigError(
            "data: the runs of a mixture put the document token at different ends (shard.document_token)"
        )
    batches = _batches(config, runs[0], train_by_source, sources, world, say)
    _note_unused(config.seq_len, train_shards, val_shards, say)
    entropy = _entropy(train_shards, val_shards, runs[0].vocab_size, say)
    return TrainData(train_by_source, val_by_source, train_shards, val_shards, batches, entropy)


def _batches(
    config: TrainConfig,
    run: RunData,
    train_by_source: list[list[Shard]],
    sources: list[Source],
    world: World,
    say: Callable[[str], None],
) -> TrainBatches | MixtureBatches:
    """This rank's batches: of the one source, or drawn from every source by its weight."""
    per_source = [
        TrainBatches(
            shards,
            config.batch_size,
            config.seq_len,
            config.seed,
            config.global_batch,
            world.rank,
            config.grad_accum,
            run.bos_id if config.bos_aligned else None,
            run.doc_at_end,
        )  # fmt: skip
        for shards in train_by_source
    ]
    if len(sources) == 1:
        return per_source[0]
    batches = MixtureBatches(
        per_source, [src.weight for src in sources], config.batch_size, config.seed, config.global_batch,
        world.rank, config.grad_accum,
    )  # fmt: skip
    say("mixture: " + ", ".join(f"{src.name} {src.weight:.3f}" for src in sources))
    return batches


def _note_unused(
    seq_len: int, train_shards: list[Shard], val_shards: list[Shard], say: Callable[[str], None]
) -> None:
    for split, shards in (("train", train_shards), ("val", val_shards)):
        if short := unused(shards, seq_len):
            names = ", ".join(short["shards"][:5]) + (", ..." if len(short["shards"]) > 5 else "")
            say(
                f"note: {len(short['shards'])} {split} shard(s) of at most seq_len {seq_len} "
                f"tokens, {short['tokens']:,} tokens never {'trained on' if split == 'train' else 'scored'} "
                f"({names})"
            )


def _entropy(
    train_shards: list[Shard], val_shards: list[Shard], vocab_size: int, say: Callable[[str], None]
) -> float:
    """A bounded pass over the memmaps (all of a small split); it also checks that the token ids
    it reads fit the vocabulary."""
    entropy = unigram_entropy(train_shards, vocab_size)
    train_tokens = sum(len(s.tokens) for s in train_shards)
    sampled = " (of a sample)" if train_tokens > ENTROPY_SAMPLE_TOKENS else ""
    say(
        f"train: {len(train_shards)} shards, {train_tokens:,} "
        f"tokens, unigram entropy{sampled} {entropy:.4f} nats/token | val: {len(val_shards)} shards, "
        f"{sum(len(s.tokens) for s in val_shards):,} tokens"
    )
    return entropy
