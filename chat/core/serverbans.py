"""Server bans: addresses and networks refused by the whole server until a time. Pure."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from chat.protocol.errors import BAD_COMMAND, ProtocolError

MAX_SERVER_BANS = 1000
"""Server-wide address bans at once."""
MAX_SERVER_BAN_TIME = 365 * 24 * 3600
"""Longest server ban, in seconds (0 asks for this)."""


@dataclass(frozen=True, slots=True)
class ServerBan:
    """An address or network refused by the whole server until `until` (wall clock)."""

    net: str  # as `ipaddress.ip_network` prints it: `10.0.0.0/8`, `127.0.0.2/32`
    until: float
    reason: str
    by: str


def parse_network(text: str) -> str:
    """An address or CIDR network, canonical (`10.1.2.3/8` is refused: host bits set)."""
    try:
        return str(ipaddress.ip_network(text.strip(), strict=True))
    except ValueError:
        raise ProtocolError(
            BAD_COMMAND, "a server ban is an address (10.0.0.7) or a network (10.0.0.0/24)"
        ) from None


def address_banned(bans: dict[str, ServerBan], address: str, now: float) -> ServerBan | None:
    """The live server ban covering `address` (an IP, as the transport gives it), or None.
    O(bans): at most `MAX_SERVER_BANS`, checked once per connection."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    for ban in bans.values():
        if ban.until > now and ip in _network(ban.net):
            return ban
    return None


@functools.lru_cache(maxsize=4096)
def _network(net: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(net)


def prune(bans: dict[str, ServerBan], now: float) -> None:
    for net in [net for net, ban in bans.items() if ban.until <= now]:
        del bans[net]
