"""The client's address behind trusted reverse proxies (``[auth] trusted_proxies``).

Sign-in rate limiting counts per client address and sessions record it. Behind a reverse
proxy every request comes from the proxy, so the proxy's ``X-Forwarded-For`` must be read,
but only from a proxy we trust: anyone else could write any address there and get a fresh
rate-limit budget per request. The rule:

* the direct peer is not a trusted proxy: the peer address, whatever the header says;
* it is: walk ``X-Forwarded-For`` (every header line, comma-separated) from the right, skip
  trusted proxies, and take the first address that is not one: the right-most untrusted
  address, the last hop our own proxies saw. Entries left of it were written by the client
  and are ignored. An entry that is not an IP address there means a misconfigured proxy: the
  peer address is used. All hops trusted (an internal caller): the left-most one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core._settings_source import SettingsSource

if TYPE_CHECKING:
    from core.settings import Settings

__all__ = ["Network", "client_address", "parse_trusted_proxies"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_HEADER = b"x-forwarded-for"


def parse_trusted_proxies(
    entries: Sequence[str], settings: Settings | None = None, *, section: str = "auth"
) -> tuple[Network, ...]:
    """The networks of ``[auth] trusted_proxies``; a bad entry is a settings error that names
    it (``switchyard.toml:7: auth.trusted_proxies[1]: ...``)."""
    source = (settings.source if settings is not None else None) or SettingsSource()
    networks = []
    for index, entry in enumerate(entries):
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=True))
        except ValueError as exc:
            raise source.error(
                (section, "trusted_proxies", index),
                f"{entry!r} is not an IP address or CIDR network ({exc}); "
                'write e.g. "127.0.0.1", "10.0.0.0/8" or "fd00::/8"',
            ) from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(text: str, trusted: Sequence[Network]) -> bool:
    address = _address(text)
    return address is not None and any(address in network for network in trusted)


def client_address(connection: Any, trusted: Sequence[Network] = ()) -> str:
    """The client's address for rate limits and session records (see the module docstring)."""
    client = connection.scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for name, value in connection.scope.get("headers", ())
        if name.lower() == _HEADER
        for hop in value.decode("latin-1").split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if _address(hop) is None:
            return peer
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer
