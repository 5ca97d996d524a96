"""The trainer's configuration: one frozen dataclass, filled from defaults, a TOML file and argv.

Precedence is defaults < ``--config FILE.toml`` < command-line flags. The command-line flags are
generated from the dataclass fields, so a new field needs no parser code; its attribute docstring
becomes the ``--help`` text.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import math
import re
import textwrap
import tomllib
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpus.errors import InputError

if TYPE_CHECKING:
    from trainer.model import GPTConfig

DTYPES = ("auto", "bf16", "fp32")
POSITIONS = ("learned", "rope")
ATTENTIONS = ("auto", "sdpa", "flex")  # trainer.model.ATTENTIONS (not imported: config stays torch-free)
RESUME_MODES = ("auto", "never")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

# Fields whose values change the shapes of the parameters: a checkpoint only resumes under the
# same values.
MODEL_FIELDS = ("n_layer", "n_head", "n_embd", "seq_len", "vocab_size", "position")


class ConfigError(InputError):
    """A setting is out of range or does not fit the data or hardware; the message names it."""


@dataclass(frozen=True)
class TrainConfig:
    data: str = "out/sample"
    """Run directory of the pipeline: manifest.json, the tokenizer and the shards."""
    out: str = "runs/sample"
    """Where checkpoint.pt, metrics.jsonl and train_summary.json go."""

    n_layer: int = 4
    """Transformer blocks."""
    n_head: int = 4
    """Attention heads per block; must divide n_embd."""
    n_embd: int = 256
    """Width of the residual stream."""
    seq_len: int = 256
    """Tokens of context per training sequence."""
    vocab_size: int = 0
    """Rows of the embedding: 0 takes the tokenizer's vocabulary rounded up to a multiple of 64."""
    position: str = "learned"
    """Position encoding: learned (GPT-2) or rope (rotary)."""
    dropout: float = 0.0
    """Dropout probability in attention and MLP (0 for short runs that never see data twice)."""

    batch_size: int = 16
    """Sequences per micro-batch."""
    grad_accum: int = 1
    """Micro-batches per optimizer step and rank; tokens per step = global_batch * seq_len."""
    global_batch: int = 0
    """Sequences per optimizer step over all ranks (batch_size * grad_accum * ranks). 0: that
    product at the start of a run. A resumed run keeps its checkpoint's and sets grad_accum to
    fit its own number of ranks; a global batch the new ranks cannot divide is refused."""
    stop_at: int = 0
    """Stop after this step (a checkpoint is written) as if interrupted; the schedule still
    runs to max_steps. 0: run to max_steps."""
    init_from: str = ""
    """A checkpoint whose weights start this run (continued pretraining): its model shape and
    tokenizer must match; optimizer, step and schedule start afresh (warmup_steps re-warms;
    0 starts at the peak rate). Ignored when the run resumes from its own checkpoint."""
    lora_rank: int = 0
    """Fine-tune low-rank adapters (LoRA, through peft) of this rank instead of every weight; the
    base weights (from init_from) stay frozen. 0: off."""
    lora_alpha: float = 16.0
    """LoRA scaling numerator: an adapter adds (alpha / rank) * B A to its layer's weight."""
    lora_targets: str = "qkv,proj,fc"
    """Comma-separated names of the Linear layers that get adapters (attention qkv and proj,
    MLP fc and proj)."""
    lora_dropout: float = 0.0
    """Dropout on the adapters' input."""
    compare_val: str = ""
    """Another pipeline run (e.g. the pretraining data) whose val split is scored before and
    after this run: what fine-tuning cost there (forgetting made visible)."""
    max_bad_steps: int = 5
    """A step whose loss or gradient norm is not finite is skipped (on every rank) and counted;
    this many in a row stop the run with an error."""
    spike_ratio: float = 3.0
    """A logged loss above this many times the running mean of the logged losses is recorded
    as a loss spike in metrics.jsonl (0: off)."""
    bos_aligned: bool = False
    """Training windows start at document starts (BOS) only, one per document per epoch."""
    keep_checkpoints: int = 1
    """checkpoint.pt is always the newest; above 1, each save also keeps
    checkpoints/step-NNNNNNNN.pt, the newest keep_checkpoints - 1 of them."""
    doc_masking: bool = False
    """Attention only within the current document of a packed window, positions restarting at
    each document's BOS."""
    attention: str = "auto"
    """How document masking attends: sdpa (a dense block-diagonal causal mask), flex
    (FlexAttention's block-sparse mask, compiled on CUDA), auto (flex on CUDA, sdpa elsewhere)."""
    fsdp: bool = False
    """With several ranks: shard parameters, gradients and optimizer state over them (FSDP2
    ``fully_shard`` per block, then the whole model) instead of a DDP replica on each."""
    activation_checkpointing: bool = False
    """Recompute each block's activations in the backward pass: less memory, ~30% more compute."""
    peak_tflops: float = 0.0
    """The device's peak TFLOP/s for MFU; 0: from the table in trainer/flops.py (GPUs only)."""
    tensorboard: bool = False
    """Also write the metrics as TensorBoard scalars to <out>/tensorboard (the ``tensorboard``
    extra; view with ``tensorboard --logdir <out>``)."""
    log_batches: bool = False
    """Write batches.jsonl: a hash of each step's global batch of token ids (resume checks)."""
    lr: float = 1e-3
    """Peak learning rate, reached at the end of the warmup."""
    min_lr: float = 1e-4
    """Learning rate at the end of the cosine decay."""
    warmup_steps: int = 30
    """Steps of linear warmup from lr / warmup_steps to lr."""
    max_steps: int = 300
    """Optimizer steps of the whole run (the cosine decay ends here)."""
    time_budget: float = 0.0
    """Seconds the run may take, evaluations included: when > 0, a fresh run times a few
    forward and backward passes first and lowers max_steps (and warmup_steps in proportion) to
    fit; a resumed run keeps the schedule it started with. 0: run max_steps."""
    weight_decay: float = 0.1
    """AdamW weight decay, applied to 2-D weights only (not to norms and biases)."""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW beta1 and beta2."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value; 0 disables clipping."""

    eval_interval: int = 100
    """Evaluate the validation loss every this many steps (and always at the end); 0: end only."""
    eval_batches: int = 20
    """Micro-batches of validation windows per evaluation."""
    log_interval: int = 10
    """Log the training loss every this many steps (and at the first and last step)."""
    checkpoint_interval: int = 100
    """Save a checkpoint every this many steps (and always at the end); 0: end only."""
    resume: str = "auto"
    """auto: continue from <out>/checkpoint.pt when it exists; never: start from step 0 (an
    earlier run's files in <out> are moved to <out>/previous/run-NNN/)."""
    reset_data_order: bool = False
    """Resume even though the seed, global batch, bos_aligned, doc_masking, the data sources,
    their weights or their manifests changed, which changes which windows every later step
    trains on (logged in metrics.jsonl and train_summary.json); without it such a resume is
    refused."""

    seed: int = 1337
    """Seeds the initialisation and, with the step number, every training batch."""
    dtype: str = "auto"
    """Compute precision: bf16 autocast, fp32, or auto (bf16 where the hardware supports it)."""
    compile: bool = False
    """Compile the model with torch.compile (pays off on long runs only)."""
    device: str = "auto"
    """cpu, cuda, cuda:N, mps, or auto (cuda when available, else cpu)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError (a ValueError) naming the first field whose value is out of range."""
        _check_types(self)
        positive = (
            "n_layer",
            "n_head",
            "n_embd",
            "seq_len",
            "batch_size",
            "grad_accum",
            "max_steps",
            "eval_batches",
            "log_interval",
            "keep_checkpoints",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        non_negative = ("vocab_size", "warmup_steps", "eval_interval", "checkpoint_interval", "seed",
                        "global_batch", "stop_at", "max_bad_steps", "spike_ratio", "peak_tflops")  # fmt: skip
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_head ({self.n_head}) must divide n_embd ({self.n_embd})")
        if self.attention not in ATTENTIONS:
            raise ConfigError(f"attention must be one of {ATTENTIONS}, got {self.attention!r}")
        if self.position not in POSITIONS:
            raise ConfigError(f"position must be one of {POSITIONS}, got {self.position!r}")
        if self.position == "rope" and (self.n_embd // self.n_head) % 2:
            raise ConfigError(f"n_head: rope needs an even head size, got {self.n_embd // self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if not 0.0 <= self.min_lr <= self.lr:
            raise ConfigError(f"min_lr must be in [0, lr={self.lr}], got {self.min_lr}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if not 0.0 <= self.time_budget < math.inf:
            raise ConfigError(f"time_budget must be a number of seconds >= 0, got {self.time_budget}")
        if self.grad_clip < 0:
            raise ConfigError(f"grad_clip must be >= 0, got {self.grad_clip}")
        if self.resume not in RESUME_MODES:
            raise ConfigError(f"resume must be one of {RESUME_MODES}, got {self.resume!r}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if not _DEVICE_RE.match(self.device):
            raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        if not self.data:
            raise ConfigError("data must name the pipeline's run directory")
        if not self.out:
            raise ConfigError("out must name an output directory")
        if self.lora_rank < 0 or self.lora_alpha <= 0 or not 0 <= self.lora_dropout < 1:
            raise ConfigError("lora_rank >= 0, lora_alpha > 0 and lora_dropout in [0, 1) are needed")
        if self.lora_rank:
            if not self.init_from:
                raise ConfigError(
                    "lora_rank: LoRA adapts a trained model: give its checkpoint with init_from"
                )
            unknown = set(self.lora_targets.split(",")) - {"qkv", "proj", "fc"}
            if unknown or not self.lora_targets:
                raise ConfigError(f"lora_targets: names among qkv, proj, fc, got {self.lora_targets!r}")
            if self.fsdp:
                raise ConfigError("lora_rank: LoRA with fsdp is not supported (use DDP or one process)")

    def model_config(self, vocab_size: int) -> GPTConfig:
        from trainer.model import GPTConfig  # lazy: torch is slow to import for `--help`

        return GPTConfig(
            vocab_size=vocab_size,
            seq_len=self.seq_len,
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_embd=self.n_embd,
            dropout=self.dropout,
            position=self.position,
        )

    @property
    def tokens_per_step(self) -> int:
        return (self.global_batch or self.batch_size * self.grad_accum) * self.seq_len

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build from plain values (TOML, JSON, a checkpoint), naming unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown)}")
        values = dict(values)
        if isinstance(values.get("betas"), list):
            values["betas"] = tuple(values["betas"])
        return cls(**values)


def _check_types(config: TrainConfig) -> None:
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value, hint = getattr(config, field.name), hints[field.name]
        if hint is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif hint is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif hint in (str, bool):
            ok = isinstance(value, hint)
        else:  # tuple[float, float]
            ok = isinstance(value, tuple) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
            )
        if not ok:
            raise ConfigError(f"{field.name} must be {_type_name(hint)}, got {value!r}")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint)


def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a dataclass (the string literal after each field)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a flat TOML table of TrainConfig fields (a ``[train]`` table is also accepted)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: config file not found") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from e
    if set(data) == {"train"} and isinstance(data["train"], dict):
        data = data["train"]
    return {key.replace("-", "_"): value for key, value in data.items()}


_CHOICES = {"dtype": DTYPES, "position": POSITIONS, "resume": RESUME_MODES}


def build_parser(prog: str = "python -m trainer.train") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train a small GPT on the token shards of a pipeline run.",
        # Defaults are suppressed so that only flags given on the command line override the TOML.
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--config", metavar="FILE.toml", help="TOML file of fields; flags override it")
    docs = field_docs(TrainConfig)
    hints = typing.get_type_hints(TrainConfig)
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        hint, default = hints[field.name], getattr(defaults, field.name)
        help_text = f"{docs.get(field.name, '')} (default: {default})"
        # argparse %-formats help strings, so a literal percent sign must be doubled.
        kwargs: dict[str, Any] = {"dest": field.name, "help": help_text.replace("%", "%%")}
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(hint) is tuple:
            n = len(typing.get_args(hint))
            metavar = tuple(f"{field.name.upper().rstrip('S')}{i + 1}" for i in range(n))
            kwargs.update(nargs=n, type=float, metavar=metavar)
        else:
            kwargs["type"] = hint
            if field.name in _CHOICES:
                kwargs["choices"] = _CHOICES[field.name]
        parser.add_argument(flag, **kwargs)
    return parser


def parse_config(argv: Sequence[str] | None = None, prog: str = "python -m trainer.train") -> TrainConfig:
    """Defaults, then the ``--config`` TOML file, then the flags; exits with a usage error."""
    parser = build_parser(prog)
    args = vars(parser.parse_args(argv))
    values: dict[str, Any] = {}
    try:
        config_file = args.pop("config", None)
        if config_file is not None:
            values.update(load_toml(config_file))
        if "betas" in args:
            args["betas"] = tuple(args["betas"])
        values.update(args)
        return TrainConfig.from_dict(values, source=config_file or "arguments")
    except ValueError as e:
        parser.error(str(e))
        raise  # unreachable: parser.error exits
