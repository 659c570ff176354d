"""Client identity: the logged peer address and X-Forwarded-For from trusted proxies.

A client field that is not an IP address is taken as a hostname (`HostnameLookups On`),
except a field of only digits and dots: no hostname looks like that, so `999.1.1.1`,
`203.0.113.31451` and `1.2.3` are rejected as invalid IPv4 addresses. So is
`01.02.03.004`: Python's `ipaddress` rejects leading zeros because inet_aton reads
them as octal (010 is 8), so the intended address is ambiguous and is not guessed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

from stream.events import TAG_FORWARDED, AccessEvent
from stream.parsers.base import ParseError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
CLIENT_ACCEPTED = (
    "expected an IPv4 or IPv6 address (optionally [bracketed], with :port or %zone) or a hostname"
)
DIGITS_AND_DOTS = re.compile(r"[0-9.]+")


class Client(NamedTuple):
    address: str  # as logged, without brackets or port
    ip: str | None  # canonical IP text without zone, or None for a hostname
    port: int | None


def _canonical_ip(text: str) -> str | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:1.2.3.4 from a dual-stack socket is the IPv4 client
            return str(ip.ipv4_mapped)
        if ip.scope_id is not None:  # ECS source.ip has no zone, so only source.address keeps it
            return str(ipaddress.IPv6Address(text.split("%", 1)[0]))
    return str(ip)


def _split_port(text: str) -> tuple[str, int | None] | None:
    """Split `host:port` or `[v6]:port`; return None when the port is not a number 0..65535."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:]
        if not port_text:
            return host, None
    else:
        host, _, port_text = text.rpartition(":")
    if not port_text.isdigit() or len(port_text) > 5 or int(port_text) > 65535:
        return None
    return host, int(port_text)


@lru_cache(maxsize=65_536)
def parse_client(text: str) -> Client:
    """Parse the client field of a log line; raise ParseError when it is empty or `-`."""
    if not text or text == "-":
        raise ParseError(f"missing client address {text!r}; {CLIENT_ACCEPTED}")
    ip = _canonical_ip(text)
    if ip is not None:  # bare IPv4 or IPv6, also `2001:db8::1:443`, which is a valid address
        return Client(text, ip, None)
    if text.startswith("[") or text.count(":") == 1:
        split = _split_port(text)
        if split is None:
            raise ParseError(f"invalid client address {text!r}; {CLIENT_ACCEPTED}")
        host, port = split
        ip = _canonical_ip(host)
        if ip is None:
            _reject_numeric_host(host)
        return Client(host, ip, port)
    if ":" in text:
        raise ParseError(f"invalid client address {text!r}; {CLIENT_ACCEPTED}")
    _reject_numeric_host(text)
    return Client(text, None, None)


def _reject_numeric_host(host: str) -> None:
    """Raise ParseError for a host of only digits and dots, which is a broken IPv4 address, not a hostname."""
    if DIGITS_AND_DOTS.fullmatch(host) is None:
        return
    octets = host.split(".")
    if not all(octets):
        problem = "it has an empty part between dots, expected 4 numbers 0-255"
    elif len(octets) == 1:
        problem = "it is a bare number, expected 4 numbers 0-255 separated by dots"
    elif len(octets) != 4:
        problem = f"it has {len(octets)} dot-separated parts, expected 4 numbers 0-255"
    elif any(len(octet) > 1 and octet.startswith("0") for octet in octets):
        problem = "leading zeros are ambiguous (some tools read them as octal); write each number without them"
    else:
        problem = f"{max(octets, key=int)} is over 255"
    raise ParseError(
        f"invalid IPv4 address {host!r}: {problem}; a hostname is never only digits and dots; {CLIENT_ACCEPTED}"
    )


def check_virtual_host(vhost: str, client: Client) -> None:
    """Raise ParseError unless the field before the client reads as a virtual host.

    Apache's vhost_combined writes `name:port` there, and nginx formats starting with `$host`
    write a bare name followed by the client's IP address. A bare name followed by another
    name (`a b - - [...]`) may be a client field with a space in it, so it is not guessed.
    """
    name, colon, port = vhost.rpartition(":")
    if (colon and name and port.isdigit()) or client.ip is not None:
        return
    raise ParseError(
        f"two fields before ident and user ({vhost!r} {client.address!r}), and {vhost!r} is not a virtual "
        "host 'name:port' followed by a client, nor a name followed by a client IP address; expected "
        "'host ident user [time]' or 'vhost:port host ident user [time]'"
    )


class TrustedProxies:
    """Networks whose X-Forwarded-For header is believed.

    Only the right-most entries of X-Forwarded-For were written by our own
    proxies; anything to their left came from the client and can be forged.
    """

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in networks:
            try:
                self.networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except (ValueError, AttributeError):
                raise ParseError(f"trusted_proxies: {item!r} is not an IP address or CIDR") from None
        self._cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.networks)

    def contains(self, ip: str) -> bool:
        known = self._cache.get(ip)
        if known is None:
            address = ipaddress.ip_address(ip)
            known = any(address in network for network in self.networks)
            if len(self._cache) < 65_536:
                self._cache[ip] = known
        return known

    def resolve(self, peer_ip: str | None, forwarded_for: str | None) -> Client | None:
        """Return the real client behind a trusted peer, or None to keep the peer.

        The client is the right-most X-Forwarded-For entry that is not a trusted
        proxy. When every entry is trusted the left-most one is the client.
        """
        if not forwarded_for or peer_ip is None or not self.networks or not self.contains(peer_ip):
            return None
        chosen: Client | None = None
        for entry in reversed(forwarded_for.split(",")):
            try:
                candidate = parse_client(entry.strip().strip('"'))
            except ParseError:
                break  # `-`, "unknown" or junk: nothing left of it can be trusted
            if candidate.ip is None:
                break
            chosen = candidate
            if not self.contains(candidate.ip):
                break
        return chosen


def apply_forwarded(event: AccessEvent, proxies: TrustedProxies, forwarded_for: str | None) -> None:
    """Replace the event's client with the one behind a trusted proxy and tag it `forwarded`."""
    client = proxies.resolve(event.source_ip, forwarded_for)
    if client is None:
        return
    event.source_address, event.source_ip, event.source_port = client
    event.tags = (*event.tags, TAG_FORWARDED)
