"""Run-to-run facts about the job (seconds, memory, throughput), kept apart from the outputs that
must be byte-identical: they travel beside the counts and end in ``run_stats.json``."""

from __future__ import annotations

import ctypes
import resource
import sys
from collections.abc import Iterable
from typing import Any


def unit_finished() -> float:
    """At the end of a unit's work: the peak so far (MiB), then freed heap pages handed back
    to the operating system (glibc keeps them otherwise, and a long-lived worker's footprint
    creeps up with the units it has done)."""
    peak = peak_rss_mb()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
    return peak


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB: Linux's VmHWM (getrusage's maxrss
    is inherited by a worker forked from a big parent), else getrusage."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


IO_KEYS = ("bytes_read", "bytes_written", "table_bytes", "table_bytes_read")
"""Byte counts summed per stage: what its tasks read and wrote through pipelines/files.py, and
for the dedups the bytes of the key tables the units wrote and the bytes their tasks read of
them."""

DEDUP_STAGES = ("url_dedup", "exact_dedup", "near_dedup")


def by_stage(stats: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per stage: units (and tasks), summed worker seconds and bytes, the largest peak RSS of any
    worker; for URL, exact and near dedup the read amplification (bytes their tasks read of the
    key tables ÷ bytes of those tables)."""
    out: dict[str, dict[str, Any]] = {}
    for s in stats:
        into = out.setdefault(
            s["stage"],
            {
                "units": 0,
                "worker_seconds": 0.0,
                "bytes_in": 0,
                "bytes_out": 0,
                "documents": 0,
                "peak_rss_mb": 0.0,
                **dict.fromkeys(IO_KEYS, 0),
            },
        )
        if s.get("task"):
            into["tasks"] = into.get("tasks", 0) + 1
        else:
            into["units"] += 1
        into["worker_seconds"] += s.get("seconds", 0.0)
        for key in ("bytes_in", "bytes_out", "documents", *IO_KEYS):
            into[key] += s.get(key, 0)
        into["peak_rss_mb"] = max(into["peak_rss_mb"], s.get("peak_rss_mb", 0.0))
    for stage, into in out.items():
        seconds = into["worker_seconds"]
        into["worker_seconds"] = round(seconds, 3)
        into["mb_per_worker_second"] = round(into["bytes_in"] / 1e6 / seconds, 2) if seconds else None
        into["documents_per_worker_second"] = round(into["documents"] / seconds, 1) if seconds else None
        if stage in DEDUP_STAGES:
            tables = into["table_bytes"]
            into["read_amplification"] = round(into["table_bytes_read"] / tables, 4) if tables else None
        else:
            del into["table_bytes"], into["table_bytes_read"]
    return out
