"""Unicode and whitespace normalisation applied to every document's text."""

import re
import unicodedata

_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# C0/C1 control characters other than tab and newline carry no text and confuse tokenizers.
_LINE_BREAKS = str.maketrans({"\r": "\n", "\x0b": "\n", "\x0c": "\n", "\x85": "\n"})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def normalize_text(text: str) -> str:
    """NFC, no control characters, single spaces inside lines, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text)
    # Vertical tab, form feed and NEL separate lines: turn them into newlines before dropping controls.
    text = text.replace("\r\n", "\n").translate(_LINE_BREAKS)
    text = _CONTROL.sub("", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
