"""robots.txt as RFC 9309 reads it: the body decoded by its Content-Encoding within a byte cap,
its records grouped as the RFC says, then matched by protego.

protego 0.7 closes a group at any line between two ``User-agent`` lines that is not one
(``User-agent: FooBot`` / ``Unknown: x`` / ``User-agent: *`` / ``Disallow: /`` leaves FooBot
unrestricted); RFC 9309 2.2.4 says other records must not interfere with the grouping, so
FooBot is disallowed. ``rfc9309_text`` regroups the records before protego reads them: only the
lines that are records remain, each group's user-agent lines first, then its other lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from protego import Protego

# Field names (lowercased) a line may start with, spellings and common typos included (those
# Google and protego accept), to the name written for protego.
_FIELDS = {
    **dict.fromkeys(("user-agent", "useragent", "user agent"), "user-agent"),
    "allow": "allow",
    **dict.fromkeys(("disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw"), "disallow"),
    **dict.fromkeys(("sitemap", "sitemaps", "site-map"), "sitemap"),
    **dict.fromkeys(("crawl-delay", "crawl delay"), "crawl-delay"),
    **dict.fromkeys(("request-rate", "request rate"), "request-rate"),
    **dict.fromkeys(("visit-time", "visit time"), "visit-time"),
    "host": "host",
}
_RULES = ("allow", "disallow")
_SITE_WIDE = ("sitemap", "host")  # records of the file, not of a group


def _record(line: str) -> tuple[str, str] | None:
    """(field, value) of one line, or None for a blank line, a comment or a line that is no
    known record. A missing colon is forgiven (``Disallow /x``), as Google and protego do."""
    line = line.split("#", 1)[0].strip()
    if not line:
        return None
    name, colon, value = line.partition(":")
    field = _FIELDS.get(name.strip().lower()) if colon else None
    if field is not None:
        return field, value.strip()
    words = line.split()
    for n in (2, 1):
        field = _FIELDS.get(" ".join(words[:n]).lower()) if len(words) >= n else None
        if field is not None:
            return field, " ".join(words[n:])
    return None


def rfc9309_text(text: str) -> str:
    """``text`` rewritten so that protego groups it as RFC 9309 does: a group is its consecutive
    user-agent lines (blank lines, comments and other records between them do not end it) and
    the records after them up to the next user-agent line that follows a rule; a group's
    crawl-delay, request-rate and visit-time stay with it; rules before any user-agent line are
    dropped (2.1); sitemap and host lines belong to the file and come last; unknown lines go.
    protego then merges the groups of one agent (2.2.1) and matches the rules (2.2.2, 2.2.3)."""
    groups: list[tuple[list[str], list[str]]] = []
    site_wide: list[str] = []
    ruled = True  # the current group has a rule: a user-agent line starts the next one
    for line in text.removeprefix("\ufeff").splitlines():
        record = _record(line)
        if record is None:
            continue
        field, value = record
        if field in _SITE_WIDE:
            if value:
                site_wide.append(f"{field}: {value}")
        elif field == "user-agent":
            if ruled:
                groups.append(([], []))
                ruled = False
            if value:  # an empty product token names no agent (its group may then name none)
                groups[-1][0].append(f"user-agent: {value}")
        elif groups:
            groups[-1][1].append(f"{field}: {value}")
            ruled = ruled or field in _RULES
    lines = [line for agents, members in groups if agents for line in (*agents, *members)]
    return "\n".join([*lines, *site_wide, ""])


def parse(text: str) -> Protego:
    """The one way robots.txt text becomes a parser: the fetch and the crawl database's copy."""
    return Protego.parse(rfc9309_text(text))


@dataclass
class Robots:
    parser: Protego | None
    """None: allow everything (robots.txt missing, 4xx)."""
    reason: str = "allowed"
    disallow_all: bool = False
    text: str | None = None
    """The robots.txt parsed (its first ``robots_max_bytes`` after decoding), kept with the
    crawl database."""
    fetched_at: float | None = None
    """Wall-clock seconds when robots.txt was asked for (``robots_max_age`` counts from it)."""

    @classmethod
    def parsed(cls, text: str, fetched_at: float | None = None) -> Robots:
        return cls(parse(text), "robots_parsed", text=text, fetched_at=fetched_at)

    def state(self) -> dict:
        return {"reason": self.reason, "disallow_all": self.disallow_all, "text": self.text,
                "fetched_at": self.fetched_at}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict) -> Robots:
        text = state.get("text")
        parser = parse(text) if text is not None else None
        return cls(parser, state["reason"], state.get("disallow_all", False), text, state.get("fetched_at"))

    def allows(self, url: str, agent: str) -> bool:
        if self.disallow_all:
            return False
        return self.parser is None or self.parser.can_fetch(url, agent)

    def delay(self, agent: str) -> float:
        if self.parser is None:
            return 0.0
        return float(self.parser.crawl_delay(agent) or 0.0)
