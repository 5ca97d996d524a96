"""The one error type for bad input, and how a command tells it from a bug.

A command shows bad input (a file, a flag, a config the user gave) as one ``error: ...`` line and
exits 2; anything else is a bug in this code and keeps its traceback. ``CORPUS_DEBUG=1`` shows the
traceback of bad input too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

USER_FILE_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)
"""OSErrors that are about a path the user named, when they carry it (``filename``)."""


class InputError(ValueError):
    """Bad input: a file, a flag, a config; the command prints one line and exits 2. The message
    names the file or field and what is wrong.

    A ValueError, so the rule "validation raises ValueError naming the field" holds for callers
    that catch ValueError; a ValueError that is not an InputError is a bug."""


def is_bad_input(e: BaseException) -> bool:
    """An InputError, or an OSError about a path the user named (one without ``filename`` could
    be any file, ours included: a bug until shown otherwise)."""
    return isinstance(e, InputError) or (isinstance(e, USER_FILE_ERRORS) and e.filename is not None)


def shown_as_line(e: BaseException) -> bool:
    """Whether a command prints ``e`` as one ``error:`` line and exits 2, rather than raising it:
    bad input, unless CORPUS_DEBUG is set."""
    return is_bad_input(e) and not os.environ.get("CORPUS_DEBUG")


def error_line(e: BaseException) -> str:
    """``error: PATH: what is wrong`` (an OSError's path first, as our own messages have it)."""
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"error: {e.filename}: {e.strerror}"
    return f"error: {e}"


def load_json(path: str | os.PathLike) -> Any:
    """The JSON in a file the user named (a run's summary, ...); not JSON is bad input naming the
    file, a missing file the OSError naming it."""
    try:
        return json.loads(Path(path).read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
