"""`corpus --help` and every subcommand's help read well; flags and config errors are clear."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import corpus_cli

COMMANDS = ["crawl", "build", "train", "shards", "report", "status", "cluster"]


def test_top_level_help_lists_every_command() -> None:
    rc, out, _ = corpus_cli("--help")
    assert rc == 0
    assert out.startswith("usage: corpus [-h] COMMAND ...")
    for command in COMMANDS:
        assert f"\n    {command} " in out, command
    assert "corpus build --input" in out  # the examples


@pytest.mark.parametrize(
    ("argv", "usage", "mentions"),
    [
        (["build", "--help"], "usage: corpus build", "--set SECTION.KEY=VALUE"),
        (["crawl", "--help"], "usage: corpus crawl", "--allow-network"),
        (["train", "--help"], "usage: corpus train", "--resume"),
        (["shards", "--help"], "usage: corpus shards", "verify"),
        (["shards", "verify", "--help"], "usage: corpus shards verify", "--no-checksums"),
        (["shards", "inspect", "--help"], "usage: corpus shards inspect", "--json"),
        (["shards", "decode", "--help"], "usage: corpus shards decode", "--offset"),
        (["report", "--help"], "usage: corpus report", "--compare OTHER_RUN"),
        (["status", "--help"], "usage: corpus status", "heartbeat"),
        (["cluster", "--help"], "usage: corpus cluster", "--lines"),
    ],
)
def test_every_subcommand_has_help(argv: list[str], usage: str, mentions: str) -> None:
    rc, out, _ = corpus_cli(*argv)
    assert rc == 0
    assert out.startswith(usage)
    assert mentions in out


def test_no_command_is_a_usage_error() -> None:
    rc, _, err = corpus_cli()
    assert rc == 2 and "the following arguments are required: COMMAND" in err


def test_the_installed_script_runs() -> None:
    script = Path(sys.executable).with_name("corpus")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("usage: corpus")


def test_a_bad_override_names_the_field(tmp_path: Path) -> None:
    rc, _, err = corpus_cli("build", "--output", str(tmp_path), "--set", "language.min_scor=0.5")
    assert rc == 2
    assert err == "error: language.min_scor: unknown field\n"
    rc, _, err = corpus_cli("build", "--output", str(tmp_path), "--set", "language.min_score=high")
    assert rc == 2 and err == "error: language.min_score: expected a number, got 'high'\n"
    rc, _, err = corpus_cli("build", "--output", str(tmp_path), "--set", "language")
    assert rc == 2 and err == "error: --set 'language': expected section.key=value\n"
    assert not list(tmp_path.iterdir())  # nothing started


def test_crawl_overrides_name_the_field(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("http://127.0.0.1:9/\n", "utf-8")
    rc, _, err = corpus_cli("crawl", "--seeds", str(seeds), "--name", "x", "--set", "crawl.max_depht=2")
    assert rc == 2 and err == "error: crawl.max_depht: unknown field\n"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["shards", "inspect", "{tmp}/missing"], "no manifest"),
        (["report", "{tmp}/missing"], "missing"),
        (["export", "{tmp}/missing.pt", "--hf", "{tmp}/hf"], "missing.pt"),
        (["plan"], "give the corpus run"),
    ],
)  # fmt: skip
def test_bad_input_is_one_error_line(argv: list[str], says: str, tmp_path: Path, monkeypatch) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    monkeypatch.delenv("CORPUS_DEBUG", raising=False)
    rc, out, err = corpus_cli(*argv)
    assert rc == 2 and err.startswith("error: ") and says in err and "Traceback" not in err
    monkeypatch.setenv("CORPUS_DEBUG", "1")  # the traceback, for a bug report
    with pytest.raises((ValueError, OSError)):
        corpus_cli(*argv)
