"""PII redaction: e-mail addresses, public IP addresses, phone numbers and (optionally) payment
card numbers become typed placeholders (``<EMAIL>``, ``<IP>``, ``<PHONE>``, ``<CARD>``).

- URLs are left alone (``https://host/path``, ``www.host``): the text needs them and a
  ``user@host`` inside a URL is not an address to hide. ``mailto:`` links are addresses and go.
- Only globally routable unicast IP addresses are personal; ``127.0.0.1``, ``192.168.1.1``,
  ``::1``, multicast and documentation ranges stay, as does anything ``ipaddress`` rejects, and
  dotted quads of numbers up to 20 (section and version numbers).
- A phone number needs 8 to 15 digits and a phone's shape: international (``+49 30 1234567``),
  a bracketed area code (``(030) 123 4567``) or ``555-123-4567``. Bare groups of digits (file
  sizes and times in ``ls -l`` output, dates) are not phone numbers.
- A card number is 13 to 19 digits that pass the Luhn check.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from dataclasses import dataclass

from corpus.config import PiiConfig

STAGE = "pii"

_URL = re.compile(r"(?:https?|ftp)://[^\s<>\"']+|\bwww\.[^\s<>\"']+", re.IGNORECASE)
# Each pattern starts with a single character class, with its look-behind after it: Python's re
# then skips ahead to candidate characters in C instead of trying the whole pattern at every
# position (three to five times faster on real text). The guards below skip a pass outright.
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+-](?<![\w.+-].)[A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"
)
_IPV4 = re.compile(r"\d(?<![\w.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?![\w.]*\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
_PHONE = re.compile(
    r"[+(\d](?<![\w+./-].)"
    r"(?:(?<=\+)\d{1,3}[\s.-]?(?:\(\d{1,5}\)[\s.-]?)?\d{1,5}(?:[\s.-]\d{1,8}){1,5}"
    r"|(?<=\()\d{2,5}\)[\s.-]?\d{2,5}(?:[\s.-]\d{2,5}){1,3}"
    r"|(?<=\d)\d{2}-\d{3}-\d{4})(?![\w:/-]|\.\d)"
)
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


@dataclass(frozen=True)
class Redacted:
    text: str
    counts: Counter


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _public_ip(candidate: str) -> bool:
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    if not address.is_global or address.is_multicast:
        return False
    # Dotted quads of small numbers are section or version numbers ("Section 5.2.3.1") far more
    # often than hosts; the hosts among them (1.1.1.1, 8.8.8.8) are public services, not people.
    return not (address.version == 4 and all(int(p) <= 20 for p in candidate.split(".")))


_ISO_DATE = re.compile(r"^\+?\d{4}-\d{2}-\d{2}$")


def _phone(candidate: str) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    return 8 <= digits <= 15 and not _ISO_DATE.match(candidate)


def redact(text: str, config: PiiConfig) -> Redacted:
    counts: Counter = Counter()

    def sub(pattern: re.Pattern, accept, label: str, text: str) -> str:
        pieces: list[str] = []
        last = 0
        urls: list[tuple[int, int]] | None = None
        for m in pattern.finditer(text):
            if not accept(m.group(0)):
                continue
            start, end = m.span()
            # URLs are found only in texts with something to redact, and again in each pass's
            # text (earlier passes changed its lengths).
            if urls is None:
                urls = [u.span() for u in _URL.finditer(text)]
            if any(a <= start and end <= b for a, b in urls):
                continue
            pieces += (text[last:start], label)
            last = end
            counts[label.strip("<>").lower()] += 1
        return "".join(pieces) + text[last:] if pieces else text

    if config.emails and "@" in text:
        text = sub(_EMAIL, lambda s: True, "<EMAIL>", text)
    if config.cards:
        text = sub(_CARD, lambda s: _luhn(re.sub(r"\D", "", s)), "<CARD>", text)
    if config.ip_addresses:
        text = sub(_IPV4, _public_ip, "<IP>", text)
        if _IPV6_HINT.search(text):
            text = sub(_IPV6, _public_ip, "<IP>", text)
    if config.phones:
        text = sub(_PHONE, _phone, "<PHONE>", text)
    return Redacted(text, counts)
