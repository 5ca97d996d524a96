"""Progress: heartbeat.json of build and train runs, `corpus status`, and the terminal line."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from cli_helpers import corpus_cli

from corpus.progress import Progress, describe, on_terminal, read_heartbeat


def test_a_finished_build_and_training_leave_heartbeats(code_corpus: Path, code_training: Path) -> None:
    beat = read_heartbeat(code_corpus)
    assert (beat["job"], beat["state"], beat["stage"]) == (
        f"build {code_corpus}",
        "finished",
        "tokenize+shard",
    )
    assert (beat["done"], beat["total"], beat["unit"]) == (1, 1, "units")
    assert beat["pid"] == os.getpid() and beat["updated"] >= beat["started"]
    rc, out, _ = corpus_cli("status", str(code_corpus))
    assert rc == 0 and out.startswith(
        f"build {code_corpus}: finished\n  stage: tokenize+shard, 1/1 units (100%)\n"
    )
    train = read_heartbeat(code_training)
    assert (train["state"], train["stage"], train["done"], train["total"]) == ("finished", "training", 80, 80)
    assert set(train["info"]) == {"loss", "tokens/s", "final_val_loss"}


def test_status_tells_a_killed_job_from_a_running_one(tmp_path: Path) -> None:
    # A real process that writes a heartbeat, then dies without finishing.
    code = (
        "import sys; from corpus.progress import Progress; "
        "p = Progress('build x', sys.argv[1], interval=0); p.stage('extract+filter', 8, 'units'); p.update(3)"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    rc, out, _ = corpus_cli("status", str(tmp_path))
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("build x: stopped (process ") and lines[0].endswith(
        " is gone; it did not finish)"
    )
    assert lines[1] == "  stage: extract+filter, 3/8 units (38%)"
    beat = read_heartbeat(tmp_path)
    beat["pid"] = os.getpid()  # as if this (living) process had written it
    assert describe(beat).startswith("build x: running\n")
    assert describe(beat, now=beat["updated"] + 600).startswith(
        "build x: running? (no heartbeat for over 5 minutes)"
    )


def test_status_without_a_heartbeat(tmp_path: Path) -> None:
    rc, _, err = corpus_cli("status", str(tmp_path))
    assert rc == 2 and err.startswith(f"error: {tmp_path / 'heartbeat.json'}: no heartbeat")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_line_is_drawn_on_a_terminal_only(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    tty = _Tty()
    p = Progress("build y", tmp_path, stream=tty, interval=0)
    p.stage("dedup", 4, "units")
    p.update(2)
    p.write("a log line")
    p.finish()
    text = tty.getvalue()
    assert "\r\x1b[2Kbuild y: dedup · [##########          ] 2/4 units · 0s" in text
    assert "\r\x1b[2Ka log line\n" in text
    assert json.loads((tmp_path / "heartbeat.json").read_text("utf-8"))["state"] == "finished"
    assert on_terminal(tty)
    monkeypatch.setenv("CI", "true")
    assert not on_terminal(tty)  # CI is quiet even on a terminal
    assert not on_terminal(io.StringIO())  # and so is a file or a pipe
    quiet = io.StringIO()
    q = Progress("build z", None, stream=quiet)
    q.stage("dedup", 4, "units")
    q.update(1)
    q.finish()
    assert quiet.getvalue() == ""
