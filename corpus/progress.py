"""Progress of long work: a line that redraws itself on a terminal, nothing when the output is a
file, a pipe or CI, and a heartbeat file (``heartbeat.json`` in the run's folder) that a second
shell reads with ``corpus status RUN``.

The heartbeat says which job, which process on which host, its state (running, finished,
failed), the current stage with done/total, and when it was last written; a reader tells a
stopped job from a running one by the process and the age of the last write.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from corpus.errors import InputError

HEARTBEAT_NAME = "heartbeat.json"


def on_terminal(stream: TextIO) -> bool:
    """Draw progress only for a person: a terminal, not CI, not TERM=dumb."""
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """One job's progress: ``stage()`` names what it does, ``update()`` how far it got.

    Writes the heartbeat at most every ``interval`` seconds (and at every stage change and at
    the end), atomically, so a reader never sees half a file."""

    def __init__(
        self,
        job: str,
        directory: str | os.PathLike | None,
        stream: TextIO | None = None,
        draw: bool | None = None,
        interval: float = 1.0,
    ) -> None:
        self.job = job
        self.path = Path(directory) / HEARTBEAT_NAME if directory is not None else None
        self.stream = stream if stream is not None else sys.stderr
        self.draw = on_terminal(self.stream) if draw is None else draw
        self.interval = interval
        self.started = time.time()
        self.state: dict[str, Any] = {"stage": None, "done": 0, "total": None, "unit": "", "info": {}}
        self._written = 0.0
        self._drawn = ""

    def stage(self, name: str, total: int | None = None, unit: str = "") -> None:
        self.state.update(stage=name, done=0, total=total, unit=unit, info={})
        self._stage_started = time.time()
        self._emit(force=True)

    def update(self, done: int, total: int | None = None, **info: Any) -> None:
        self.state["done"] = done
        if total is not None:
            self.state["total"] = total
        self.state["info"].update(info)
        self._emit()

    def write(self, line: str) -> None:
        """Print a line above the progress line (which is drawn again on the next update)."""
        self._clear()
        print(line, file=self.stream, flush=True)

    def finish(self, state: str = "finished", **info: Any) -> None:
        self.state["info"].update(info)
        self._clear()
        self._write_heartbeat(state)

    def _emit(self, force: bool = False) -> None:
        now = time.time()
        if self.draw:
            line = self.line()
            if line != self._drawn:
                self.stream.write("\r\x1b[2K" + line)
                self.stream.flush()
                self._drawn = line
        if force or now - self._written >= self.interval:
            self._write_heartbeat("running")

    def line(self) -> str:
        s = self.state
        parts = [f"{self.job}: {s['stage'] or 'starting'}"]
        if s["total"]:
            share = s["done"] / s["total"]
            bar = "#" * int(20 * share)
            parts.append(f"[{bar:<20}] {s['done']}/{s['total']} {s['unit']}".rstrip())
            elapsed = time.time() - getattr(self, "_stage_started", self.started)
            if 0 < s["done"] < s["total"] and elapsed > 2:
                parts.append(f"ETA {duration(elapsed / s['done'] * (s['total'] - s['done']))}")
        elif s["done"]:
            parts.append(f"{s['done']} {s['unit']}".rstrip())
        parts += [f"{k} {v}" for k, v in s["info"].items()]
        parts.append(duration(time.time() - self.started))
        return " · ".join(parts)

    def clear(self) -> None:
        """Take the line off the terminal (before printing something else)."""
        self._clear()

    def _clear(self) -> None:
        if self.draw and self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = ""

    def _write_heartbeat(self, state: str) -> None:
        if self.path is None:
            return
        now = time.time()
        self._written = now
        beat = {
            "job": self.job,
            "state": state,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": round(self.started, 3),
            "updated": round(now, 3),
            **{k: v for k, v in self.state.items()},
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(beat, sort_keys=True) + "\n", "utf-8")
            os.replace(tmp, self.path)
        except OSError as e:  # progress is advisory: a full disk shows up where it matters
            self.write(f"warning: cannot write {self.path}: {e}")
            self.path = None


def read_heartbeat(directory: str | os.PathLike) -> dict[str, Any]:
    path = Path(directory) / HEARTBEAT_NAME
    if not path.exists():
        raise InputError(f"{path}: no heartbeat (the job never started here, or is older than heartbeats)")
    try:
        return json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from e


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def describe(beat: dict[str, Any], now: float | None = None) -> str:
    """A few lines a person reads: what, how far, how fresh, and whether it still runs."""
    now = time.time() if now is None else now
    age = now - beat["updated"]
    state = beat["state"]
    if state == "running" and beat.get("host") == socket.gethostname() and not alive(beat["pid"]):
        state = f"stopped (process {beat['pid']} is gone; it did not finish)"
    elif state == "running" and age > 300:
        state = "running? (no heartbeat for over 5 minutes)"
    lines = [f"{beat['job']}: {state}"]
    stage = beat.get("stage")
    if stage:
        where = f"  stage: {stage}"
        if beat.get("total"):
            where += f", {beat['done']}/{beat['total']} {beat.get('unit', '')}".rstrip()
            where += f" ({100 * beat['done'] / beat['total']:.0f}%)"
        elif beat.get("done"):
            where += f", {beat['done']} {beat.get('unit', '')}".rstrip()
        lines.append(where)
    for key, value in (beat.get("info") or {}).items():
        lines.append(f"  {key}: {value}")
    lines.append(
        f"  started {duration(now - beat['started'])} ago on {beat.get('host')} (pid {beat['pid']}), "
        f"last heartbeat {duration(age)} ago"
    )
    return "\n".join(lines)
