"""Memory maps of any number of shards within the process's file-descriptor limit.

Each ``np.memmap`` keeps a file descriptor open for as long as it lives (Python's mmap holds a
duplicate of the file's), so mapping every shard of a corpus of thousands at start-up dies with
``OSError: [Errno 24] Too many open files`` under the common soft limit of 1,024. Here a shard's
tokens are a ``LazyTokens``: it knows its length from the header and maps the file on first use;
one pool per process keeps at most ``limit`` maps open, the least recently used closed first (its
descriptor goes when the last slice cut from it does). Training reads a few windows per shard per
step, so reopening an evicted map costs microseconds against a step's milliseconds.
"""

from __future__ import annotations

import resource
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from corpus.errors import InputError


def default_limit() -> int:
    """A quarter of the soft descriptor limit (the rest stays for the process: checkpoints,
    data loader, torch, DDP sockets), between 16 and 512."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft = soft if soft != resource.RLIM_INFINITY else 4096
    return max(16, min(512, soft // 4))


class MapPool:
    """At most ``limit`` open maps, the least recently used closed first."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit or default_limit()
        self._open: OrderedDict[Path, np.ndarray] = OrderedDict()
        self.opened = 0
        """Maps opened so far (reopens of evicted ones included)."""

    def get(self, path: Path, opener: Callable[[], np.ndarray]) -> np.ndarray:
        mapped = self._open.get(path)
        if mapped is not None:
            self._open.move_to_end(path)
            return mapped
        while len(self._open) >= self.limit:
            self._open.popitem(last=False)
        try:
            mapped = opener()
        except OSError as e:
            if e.errno == 24:  # EMFILE: the process is out of descriptors, not this shard
                soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                raise InputError(
                    f"{path}: cannot be opened, the process has no file descriptor left (ulimit -n: "
                    f"soft {soft}, hard {hard}; {len(self._open)} shard maps open); raise it with "
                    "`ulimit -n` or free descriptors"
                ) from e
            raise
        self._open[path] = mapped
        self.opened += 1
        return mapped

    def close_all(self) -> None:
        self._open.clear()


POOL = MapPool()


class LazyTokens:
    """An array-like view of a file mapped on first use through ``POOL``: ``len``, indexing and
    slicing (which give numpy arrays), ``np.asarray``, ``max``."""

    def __init__(
        self, path: str | Path, length: int, opener: Callable[[], np.ndarray], pool: MapPool = POOL
    ) -> None:
        self.path, self.length, self._opener, self._pool = Path(path), length, opener, pool

    def mapped(self) -> np.ndarray:
        return self._pool.get(self.path, self._opener)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: Any) -> Any:
        return self.mapped()[key]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.mapped(), dtype=dtype)

    @property
    def dtype(self) -> np.dtype:
        return self.mapped().dtype

    def max(self) -> Any:
        return self.mapped().max()
