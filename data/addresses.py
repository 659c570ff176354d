"""Client addresses for simulated traffic, unique per client unless sharing is asked for.

Addresses come from prefixes of Latin-American access networks, hosting
providers, mobile IPv6 blocks and the documentation ranges (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32). Benign clients and attackers
draw from the same pools with different odds, so the prefix alone never gives
the label away. Addresses are written in the canonical form `ipaddress` prints,
which is also the `client` key the parsers produce.
"""

from __future__ import annotations

import ipaddress
import random

RESIDENTIAL_V4 = (
    "181.44", "181.47", "181.110", "186.22", "186.130", "186.158", "187.190", "189.6", "189.203",
    "190.16", "190.105", "190.220", "191.96", "191.177", "200.68", "200.114", "201.17", "201.212",
    "177.37", "177.104", "179.218", "179.6", "170.80", "152.170", "143.255",
)
HOSTING_V4 = (
    "45.61", "45.95", "5.188", "103.145", "159.65", "167.99", "138.68", "134.209", "104.248",
    "34.125", "35.199", "3.91", "18.231", "51.15", "51.79", "193.32", "91.92", "144.126", "64.227",
)
DOCUMENTATION_V4 = ("192.0.2", "198.51.100", "203.0.113")
MOBILE_V6 = ("2804:14c", "2804:d59", "2800:810", "2803:9800", "2001:db8")
HOSTING_V6 = ("2a03:b0c0", "2604:a880", "2001:db8")

# Odds per origin: (residential v4, mobile/residential v6, hosting v4, hosting v6, documentation v4).
ORIGINS = {
    "customer": (0.78, 0.13, 0.04, 0.01, 0.04),
    "residential": (0.74, 0.20, 0.0, 0.0, 0.06),
    "hosting": (0.10, 0.02, 0.72, 0.08, 0.08),
}


class AddressPool:
    """Hand out client addresses; each one is given at most once."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._taken: dict[str, None] = {}

    def reserve(self, address: str) -> str:
        """Mark a fixed address (a crawler, an internal host) as used and return it canonically."""
        canonical = str(ipaddress.ip_address(address))
        self._taken[canonical] = None
        return canonical

    def take(self, origin: str) -> str:
        """Return an unused address drawn by the odds of `origin` (a key of ORIGINS)."""
        odds = ORIGINS[origin]
        while True:
            kind = self._rng.choices(range(len(odds)), weights=odds)[0]
            address = self._draw(kind)
            if address not in self._taken:
                self._taken[address] = None
                return address

    def _draw(self, kind: int) -> str:
        rng = self._rng
        if kind == 0:
            return f"{rng.choice(RESIDENTIAL_V4)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if kind == 2:
            return f"{rng.choice(HOSTING_V4)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if kind == 4:
            return f"{rng.choice(DOCUMENTATION_V4)}.{rng.randint(1, 254)}"
        prefixes = MOBILE_V6 if kind == 1 else HOSTING_V6
        groups = ":".join(f"{rng.getrandbits(16):x}" for _ in range(3))
        text = f"{rng.choice(prefixes)}:{groups}::{rng.getrandbits(16):x}"
        return str(ipaddress.ip_address(text))
