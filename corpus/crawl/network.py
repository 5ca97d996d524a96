"""Which addresses the crawler may connect to: global unicast addresses, plus networks the user
allows (tests: loopback). Checked where aiohttp resolves a name (``VettedResolver``) and again for
every socket it opens (``vetted_socket``), so a redirect to a literal address or a DNS answer
that changes between lookups cannot reach a private network."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


class BlockedAddress(OSError):
    """A connection to an address outside the allowed networks was refused."""


def address_allowed(ip: str, allowed: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in n for n in allowed if n.version == address.version):
        return True
    return address.is_global and address not in _SHARED and not address.is_multicast


def literal_address(host: str) -> str | None:
    """The address when ``host`` is an IP literal (aiohttp connects to those without resolving)."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def address_key(ip: str) -> str:
    """One spelling per address, for counting connections per address: an IPv4-mapped IPv6
    address (``::ffff:127.0.0.2``) is the IPv4 address it maps."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _system_lookup(name: str) -> list[str]:
    # What the fetcher's resolver asks (aiohttp's ThreadedResolver, IPv4, in the system's order).
    found = socket.getaddrinfo(name, 0, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
    return [str(sockaddr[0]) for *_, sockaddr in found]


def host_addresses(
    hosts: Iterable[str],
    allowed: Sequence[Network],
    known: Mapping[str, str] | None = None,
    lookup: Callable[[str], list[str]] = _system_lookup,
) -> dict[str, str]:
    """The address each ``host[:port]`` is fetched from, as the fetcher's per-address limit
    counts it: a literal address itself, else the first allowed address its name resolves to
    (the fetcher's choice). A name that does not resolve now (or not to an allowed address)
    keeps the address ``known`` gives it (learnt when it was last fetched), else it is left
    out. Names are looked up at once (threads), as Nutch's generator resolves hosts to
    partition them by address."""
    names: dict[str, list[str]] = {}
    out: dict[str, str] = {}
    for host in hosts:
        name = urlsplit(f"http://{host}").hostname or host
        literal = literal_address(name)
        if literal is not None:
            out[host] = address_key(literal)
        else:
            names.setdefault(name, []).append(host)

    def first_allowed(name: str) -> str | None:
        try:
            return next((address_key(a) for a in lookup(name) if address_allowed(a, allowed)), None)
        except (OSError, ValueError):  # UnicodeError is a ValueError; so is a NUL in a name
            return None

    if names:
        with ThreadPoolExecutor(max_workers=min(32, len(names))) as pool:
            found = dict(zip(names, pool.map(first_allowed, names), strict=True))
        for name, of_name in names.items():
            for host in of_name:
                address = found[name] or (known or {}).get(host)
                if address:
                    out[host] = address
    return out


class VettedResolver(AbstractResolver):
    """The system resolver, keeping only allowed addresses (BlockedAddress when none is)."""

    def __init__(self, allowed: Sequence[Network]) -> None:
        self.allowed = list(allowed)
        self.inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        results: list[ResolveResult] = await self.inner.resolve(host, port, family)
        ok = [r for r in results if address_allowed(r["host"], self.allowed)]
        if not ok:
            found = ", ".join(sorted({r["host"] for r in results}))
            raise BlockedAddress(f"{host} resolves to {found}, outside the allowed networks")
        return ok

    async def close(self) -> None:
        await self.inner.close()


def vetted_socket(allowed: Sequence[Network]):
    """A ``TCPConnector(socket_factory=...)`` that refuses to open a socket to a disallowed address."""

    def factory(addr_info) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        if not address_allowed(str(sockaddr[0]), allowed):
            raise BlockedAddress(f"connection to {sockaddr[0]} refused: outside the allowed networks")
        sock = socket.socket(family=family, type=kind, proto=proto)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    return factory
