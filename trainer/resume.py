"""Where a run starts in its folder: resumed from the checkpoint there (its data order checked),
or new (the earlier run's files moved aside, ``init_from``'s weights loaded), and the schedule a
``--time-budget`` fits; what the checkpoint records of the data (``extra``) is set here."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from corpus.manifest import MANIFEST_NAME, sha256_file
from trainer import budget
from trainer.checkpoint import (
    CheckpointError,
    check_compatible,
    data_order,
    data_order_changes,
    refuse_data_order_change,
    restore,
    set_aside,
)
from trainer.config import TrainConfig
from trainer.distributed import barrier, from_main
from trainer.mixture import parse_data
from trainer.parallel import seed_dropout
from trainer.prepare import load_base
from trainer.setup import Setup


@dataclass
class Start:
    """The step a run starts at and what its checkpoint carries over."""

    step: int = 0
    resumed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    """The checkpoint's ``extra``: losses, skipped steps, the time budget's plan, the data order."""
    order_changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    """The data order changes accepted by --reset-data-order."""


def begin(
    s: Setup,
    ckpt: Path,
    state: dict[str, Any] | None,
    say: Callable[[str], None],
    t_start: float,
    asked_steps: int,
) -> tuple[Setup, Start]:
    """Resume or start anew in ``s.config.out``; the Setup with the time budget's schedule."""
    Path(s.config.out).mkdir(parents=True, exist_ok=True)
    if (
        starts_anew(s, ckpt) and s.config.init_from and not s.config.lora_rank
    ):  # LoRA: loaded before the adapters
        # Before resume() moves an earlier run of this folder aside: --init-from may name it.
        init_from(s, Path(s.config.init_from), say)
    resumed = resume(s, ckpt, say, state)
    start = Start(resumed[0], True, resumed[1], resumed[2]) if resumed else Start()
    s = _fit_time_budget(s, start, t_start, asked_steps, say)
    start.extra["manifest_sha256"] = manifest_sha(*(x.path for x in s.sources))
    start.extra["data_order"] = data_order_of(s)
    start.extra["tokenizer_sha256"] = s.run.manifest["tokenizer"]["sha256"]
    return s, start


def _fit_time_budget(
    s: Setup, start: Start, t_start: float, asked_steps: int, say: Callable[[str], None]
) -> Setup:
    c = s.config
    if start.resumed and c.time_budget and start.extra.get("time_budget"):
        # The schedule was fitted when the run started; a resumed run finishes that one.
        return budget.apply(s, budget.Plan(**start.extra["time_budget"]))
    if not c.time_budget:
        return s
    # Each rank timed its own steps; all follow the main rank's plan.
    plan = from_main(budget.fit(s, t_start + c.time_budget), s.world)
    s = budget.apply(s, plan)
    start.extra["time_budget"] = plan.to_dict()
    say(
        f"time budget {s.config.time_budget:g} s: {plan.step_seconds:.3f} s per step measured here, "
        f"so {s.config.max_steps} steps (warmup {s.config.warmup_steps}) instead of {asked_steps}"
    )
    return s


def starts_anew(s: Setup, ckpt: Path) -> bool:
    """A new run in the folder: no checkpoint there, or ``--resume never``."""
    return not ckpt.exists() or s.config.resume == "never"


def resume(
    s: Setup, ckpt: Path, say: Callable[[str], None], state: dict[str, Any] | None
) -> tuple[int, dict[str, Any], list[tuple[str, Any, Any]]] | None:
    """Load the checkpoint ``state`` (read by ``train``) into the model; (step, extra, the data
    order changes accepted by --reset-data-order) or None for a new run, which owns the folder:
    an earlier run's checkpoints, history and metrics are moved aside first."""
    if starts_anew(s, ckpt):
        # Moved now, not at the first save: a crash before then must not leave an old
        # checkpoint beside the new run's metrics for the next `--resume auto` to pick up.
        barrier(s.world)  # every rank has seen the folder before it changes
        moved = (
            set_aside(s.config.out)
            if s.world.main and (ckpt.exists() or (ckpt.parent / "checkpoints").exists())
            else None
        )
        barrier(s.world)
        if moved:
            say(f"a new run in {s.config.out}: the earlier run's files moved to {moved}; starting at step 0")
        return None
    assert state is not None
    check_compatible(ckpt, state["config"], s.config)
    extra = dict(state["extra"])
    changes = _data_order_changes(s, state["config"], extra)
    if changes and not s.config.reset_data_order:
        refuse_data_order_change(ckpt, changes)
    step = restore(state, s.model, s.optimizer)
    seed_dropout(s.config.seed, s.world, step)
    if step > s.config.max_steps:
        raise CheckpointError(
            f"{ckpt}: at step {step}, past max_steps {s.config.max_steps}; "
            "raise --max-steps or use --resume never"
        )
    say(f"resuming from {ckpt} at step {step}")
    return step, extra, changes


def init_from(s: Setup, path: Path, say: Callable[[str], None]) -> None:
    """Continued pretraining: the weights of another run's checkpoint, nothing else of it."""
    load_base(s.model, path, s.config, s.run, say)


def data_order_of(s: Setup) -> dict[str, Any]:
    shas = [sha256_file(Path(x.path) / MANIFEST_NAME) for x in s.sources]
    return data_order(s.config, [(x.name, x.weight, sha) for x, sha in zip(s.sources, shas, strict=True)])


def _data_order_changes(
    s: Setup, saved_config: dict[str, Any], extra: dict[str, Any]
) -> list[tuple[str, Any, Any]]:
    now = data_order_of(s)
    saved = extra.get("data_order")
    if saved is None:  # a checkpoint from before the order was saved: its config and manifests
        legacy = TrainConfig.from_dict({**saved_config, "data": saved_config.get("data") or s.config.data})
        if not legacy.global_batch:  # older still: batch_size x grad_accum, as split_global_batch reads it
            legacy = replace(legacy, global_batch=legacy.batch_size * legacy.grad_accum)
        saved = data_order(legacy, [(x.name, x.weight, None) for x in parse_data(legacy.data)])
    changes = data_order_changes(saved, now)
    if "data_order" not in extra and extra.get("manifest_sha256") not in (
        None,
        manifest_sha(*(x.path for x in s.sources)),
    ):
        changes.append(("data manifests", "the manifests it trained on", "other manifests"))
    return changes


def manifest_sha(*directories: str | Path) -> str:
    """The manifest's sha256 (one run), or a sha256 of the runs' manifest hashes (a mixture)."""
    digests = [sha256_file(Path(d) / MANIFEST_NAME) for d in directories]
    return digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()
