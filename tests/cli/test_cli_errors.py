"""Every command answers bad input with one `error:` line naming what is wrong and exit 2; an
error that is not about the input (a bug) keeps its traceback."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from cli_helpers import corpus_cli

from corpus.errors import InputError

# Each command's commonest bad input, a run or file that is not there, and what the line says.
MISSING = "{tmp}/missing"
BAD_INPUT = [
    (["crawl", "--seeds", MISSING, "--name", "x", "--output", "{tmp}/crawl"],
     "{tmp}/missing: No such file or directory"),
    (["build", "--input", "{tmp}/*.jsonl", "--output", "{tmp}/out"], "{tmp}/*.jsonl: no input file matches"),
    (["build", "--config", MISSING, "--output", "{tmp}/out"], "{tmp}/missing: No such file or directory"),
    (["train", "--data", MISSING, "--out", "{tmp}/runs"], "{tmp}/missing/manifest.json: no manifest"),
    (["shards", "inspect", MISSING], "{tmp}/missing/manifest.json: no manifest"),
    (["shards", "decode", MISSING, "--id", "x"], "{tmp}/missing/manifest.json: no manifest"),
    (["report", MISSING], "{tmp}/missing/summary.json: missing"),
    (["status", MISSING], "{tmp}/missing/heartbeat.json: no heartbeat"),
    (["cluster", MISSING, "x"], "{tmp}/missing: no clusters/ Parquet"),
    (["sft", "--input", MISSING, "--tokenizer-from", MISSING, "--output", "{tmp}/sft"], "no input matches"),
    (["export", MISSING, "--hf", "{tmp}/hf"], "{tmp}/missing: cannot be read"),
    (["generate", MISSING], "{tmp}/missing: cannot be read"),
    (["plan", MISSING], "{tmp}/missing/manifest.json: no manifest"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "says"), BAD_INPUT, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_every_command_gives_bad_input_one_line_and_exit_2(
    argv: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CORPUS_DEBUG", raising=False)
    rc, _, err = corpus_cli(*[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert rc == 2, err
    assert err.startswith(f"error: {says.replace('{tmp}', str(tmp_path))}"), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_train_on_a_missing_run_exits_2_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORPUS_DEBUG", raising=False)
    missing = tmp_path / "nonexistent"
    rc, _, err = corpus_cli("train", "--data", str(missing), "--out", str(tmp_path / "runs"))
    assert rc == 2
    assert (
        err == f"error: {missing}/manifest.json: no manifest; the pipeline run is missing or did not finish\n"
    )
    monkeypatch.setenv("CORPUS_DEBUG", "1")  # the traceback, for a bug report
    with pytest.raises(InputError, match="no manifest"):
        corpus_cli("train", "--data", str(missing), "--out", str(tmp_path / "runs"))


def test_a_build_whose_output_cannot_be_made_exits_2(tmp_path: Path) -> None:
    # --output names a file: the run's folder cannot be made under it (pipelines/files.py OutputError).
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", "utf-8")
    rc, out, err = corpus_cli("build", "--output", str(blocker), "--name", "x")
    assert rc == 2, out + err
    assert err == f"error: {blocker}/x: cannot make the folder (Not a directory)\n"


def _bug(*args, **kwargs):
    raise ValueError("a bug, not the user's input")


def _os_bug(*args, **kwargs):
    raise OSError(errno.EIO, "an I/O error about no file the user named")


@pytest.mark.parametrize(
    ("target", "argv"),
    [
        ("corpus.progress.read_heartbeat", ["status", "{tmp}"]),
        ("corpus.shards.inspect.inspect_run", ["shards", "inspect", "{tmp}"]),
        ("trainer.plan.plan", ["plan", "{run}", "--params", "1e6"]),
        ("pipelines.corpus_job.load_config", ["build", "--output", "{tmp}"]),
        ("trainer.train.train", ["train", "--data", "{run}", "--out", "{tmp}/runs"]),
        (
            "pipelines.crawl_job.load_config",
            ["crawl", "--seeds", "{tmp}/seeds", "--name", "x", "--output", "{tmp}"],
        ),
    ],
)
@pytest.mark.parametrize("bug", [_bug, _os_bug], ids=["ValueError", "OSError"])
def test_a_bug_is_not_taken_for_bad_input(
    target: str, argv: list[str], bug, code_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CORPUS_DEBUG", raising=False)
    monkeypatch.setattr(target, bug)
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{run}", str(code_corpus)) for a in argv]
    with pytest.raises((ValueError, OSError), match="a bug|an I/O error") as raised:
        corpus_cli(*argv)
    assert not isinstance(raised.value, InputError)


def test_a_worker_s_bad_input_is_one_line_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Found where a worker loads the filters' lists: Beam's logged traceback is left out too.
    monkeypatch.delenv("CORPUS_DEBUG", raising=False)
    missing = tmp_path / "badwords"
    rc, _, err = corpus_cli("build", "--output", str(tmp_path), "--set", f"safety.badwords_dir={missing}")
    assert rc == 2
    assert err.startswith(f"error: {missing}: safety.badwords_dir is not a folder [while running ")
    assert err.count("\n") == 1
    assert not (tmp_path / "sample" / "manifest.json").exists()
    assert not [r for r in caplog.records if r.exc_info]
