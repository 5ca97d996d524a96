"""Running the `corpus` command inside the test process."""

from __future__ import annotations

import contextlib
import io

from corpus_cli.main import main


def corpus_cli(*args: str) -> tuple[int, str, str]:
    """``corpus ARGS`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(args))
        except SystemExit as e:  # argparse: --help and usage errors
            rc = e.code if isinstance(e.code, int) else 1
    return rc, out.getvalue(), err.getvalue()
