"""Which PyTorch build ``make setup`` installs on this machine, as pip arguments.

    python scripts/torch_index.py [--record FILE]    # prints the arguments; the reason on stderr

PyPI's torch for Linux is the CUDA build (several GB with its nvidia-* wheels); the CPU build
comes from PyTorch's own index. So:

1. ``TORCH_INDEX`` set: that index (``TORCH_INDEX=pypi`` or ``default``: pip's own indexes).
2. An NVIDIA GPU (``nvidia-smi -L`` lists one): pip's indexes, that is the CUDA build.
3. Not Linux (macOS, Windows): pip's indexes; their PyPI builds are the CPU (and MPS) ones.
4. Linux without a GPU: PyTorch's CPU index when it answers, with pip's indexes beside it for
   the rest (the ``+cpu`` build sorts above the CUDA one of the same version); when it does not
   answer (a machine that reaches only a PyPI mirror), pip's indexes, and the reason says so.

``--record FILE`` also writes the choice and its reason (``make setup`` keeps it in
``.venv/torch-build.txt``).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PYPI = "https://pypi.org/simple"


@dataclass(frozen=True)
class Choice:
    build: str  # "cpu", "cuda", "default" or "override"
    pip_args: tuple[str, ...]
    reason: str


def has_nvidia_gpu() -> bool:
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and "GPU" in done.stdout


def answers(url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(url + "/torch/", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def choose(
    env: Mapping[str, str],
    system: str,
    gpu: Callable[[], bool] = has_nvidia_gpu,
    reachable: Callable[[str], bool] = answers,
) -> Choice:
    override = env.get("TORCH_INDEX", "").strip()
    if override:
        if override.lower() in ("pypi", "default"):
            return Choice("override", (), f"TORCH_INDEX={override}: pip's own indexes")
        return Choice("override", ("--index-url", override, "--extra-index-url", PYPI),
                      f"TORCH_INDEX={override}")  # fmt: skip
    if gpu():
        return Choice("cuda", (), "nvidia-smi lists a GPU: the CUDA build from pip's indexes")
    if system != "Linux":
        return Choice("default", (), f"{system}: PyPI's torch is the CPU build there")
    if reachable(CPU_INDEX):
        return Choice("cpu", ("--index-url", CPU_INDEX, "--extra-index-url", PYPI),
                      f"no NVIDIA GPU: the CPU build from {CPU_INDEX}")  # fmt: skip
    return Choice(
        "default",
        (),
        f"no NVIDIA GPU, but {CPU_INDEX} does not answer: pip's own indexes (on Linux that is the "
        "CUDA build unless they hold a CPU wheel; set TORCH_INDEX to choose)",
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/torch_index.py", description=__doc__.split("\n")[0])
    p.add_argument("--record", help="also write the choice and its reason to this file")
    a = p.parse_args(argv)
    choice = choose(os.environ, platform.system())
    print(f"torch: {choice.reason}", file=sys.stderr)
    if a.record:
        with open(a.record, "w", encoding="utf-8") as f:
            f.write(f"build: {choice.build}\npip arguments: {' '.join(choice.pip_args) or '(none)'}\n"
                    f"reason: {choice.reason}\n")  # fmt: skip
    print(" ".join(choice.pip_args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
