"""`--tensorboard`: the metrics as TensorBoard scalars, read back with TensorBoard's own event
reader, equal to metrics.jsonl, also across a stop and resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import trainer.loop as loop_module
import trainer.metrics as metrics_module
import trainer.prepare as prepare_module
from trainer.config import ConfigError, TrainConfig
from trainer.metrics import TENSORBOARD_DIR, read_metrics, scalars
from trainer.train import train

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def board(out: str) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(Path(out) / TENSORBOARD_DIR), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def jsonl(out: str) -> dict[str, list[tuple[int, float]]]:
    tags: dict[str, list[tuple[int, float]]] = {}
    for record in read_metrics(out):
        for tag, value in scalars(record):
            tags.setdefault(tag, []).append((record["step"], value))
    return tags


def same(a: dict[str, list[tuple[int, float]]], b: dict[str, list[tuple[int, float]]]) -> None:
    assert a.keys() == b.keys()
    for tag in a:  # events hold float32
        assert [s for s, _ in a[tag]] == [s for s, _ in b[tag]], tag
        assert [v for _, v in a[tag]] == pytest.approx([v for _, v in b[tag]], rel=1e-6), tag


class Crash(Exception):
    """Stands in for a killed process."""


def test_scalars_equal_the_json_lines_across_a_resume(
    tiny_config: Callable[..., TrainConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny_config(tensorboard=True, max_steps=6, eval_interval=3, checkpoint_interval=3)
    step_once = loop_module.train_step

    def crash_at_step_5(s, step):  # after step 3's checkpoint and the logging of steps 3 and 4
        if step == 5:
            raise Crash
        return step_once(s, step)

    monkeypatch.setattr(loop_module, "train_step", crash_at_step_5)
    with pytest.raises(Crash):
        train(config)
    monkeypatch.undo()
    assert [s for s, _ in board(config.out)["loss"]] == [0, 1, 2, 3, 4]
    train(config)  # resumes from step 3's checkpoint: steps 3 and 4 are trained and logged again
    scalars_seen = board(config.out)
    for tag in ("loss", "lr", "grad_norm", "tokens_per_s", "val_loss", "val_perplexity", "train_eval_loss"):
        assert tag in scalars_seen, tag
    assert [s for s, _ in scalars_seen["loss"]] == list(range(6))  # once each: the purge hid the rerun's
    same(scalars_seen, jsonl(config.out))

    # A new run in the same folder (resume never) hides everything the earlier one wrote.
    fresh = tiny_config(tensorboard=True, max_steps=2, eval_interval=0, resume="never")
    train(fresh)
    assert [s for s, _ in board(fresh.out)["loss"]] == [0, 1]
    same(board(fresh.out), jsonl(fresh.out))


def test_missing_package_is_a_config_error(
    tiny_config: Callable[..., TrainConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        metrics_module, "tensorboard_missing", lambda: "the tensorboard package is not installed"
    )
    monkeypatch.setattr(prepare_module, "tensorboard_missing", metrics_module.tensorboard_missing)
    with pytest.raises(ConfigError, match="tensorboard: the tensorboard package is not installed"):
        train(tiny_config(tensorboard=True))
    assert not (Path(tiny_config().out) / TENSORBOARD_DIR).exists()
