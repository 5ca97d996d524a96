"""Which addresses the crawler may connect to: global unicast addresses, plus networks the user
allows (tests: loopback). Checked where aiohttp resolves a name (``VettedResolver``) and again for
every socket it opens (``vetted_socket``), so a redirect to a literal address or a DNS answer
that changes between lookups cannot reach a private network."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

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
