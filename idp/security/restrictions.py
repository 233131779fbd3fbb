"""Address restrictions: parsing what an admin types into networks, and whether an address is in them.

Pure functions over values. A member's `allowed_ips`, a portal's `allowed_networks` and the operator
pages' `operators.allowed_networks` all mean the same thing: nothing (None or empty) admits every
address; otherwise the client's address (idp.security.networks.client_address) must be in one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv6Address, ip_address, ip_network

from idp.security.networks import IPNetwork

MAX_ENTRIES = 50  # per member: an office's few networks, not a country's
_SEPARATORS = re.compile(r"[,\s]+")


@dataclass(frozen=True)
class EntryError:
    """One entry an admin typed that is not an address or a network; `entry` is shown as typed."""

    entry: str
    problem: str  # "not_an_address", "host_bits", "too_many"
    suggestion: str | None = None  # for host_bits: the network that was probably meant


def parse_allowed_ips(text: str | None) -> tuple[list[str], list[EntryError]]:
    """The networks in `text` (one per line or comma-separated) in canonical form, without
    duplicates and in the order typed; and the entries that are not networks, each by itself.

    A bare address is a network of one (`192.0.2.7` is `192.0.2.7/32`, kept as typed); an
    IPv6 address is written as `ipaddress` writes it (`2001:DB8::1` becomes `2001:db8::1`).
    A CIDR with host bits set (`10.1.2.3/8`) is refused with the network it probably meant:
    widening it silently could admit far more than the admin thought.
    """
    entries = [entry for entry in _SEPARATORS.split(text or "") if entry]
    networks: list[str] = []
    errors: list[EntryError] = []
    for entry in entries:
        try:
            network = ip_network(entry)
        except ValueError:
            try:
                wider = ip_network(entry, strict=False)
            except ValueError:
                errors.append(EntryError(entry[:64], "not_an_address"))
            else:
                errors.append(EntryError(entry[:64], "host_bits", str(wider)))
            continue
        canonical = str(network.network_address) if network.num_addresses == 1 else str(network)
        if canonical not in networks:
            networks.append(canonical)
    if len(networks) > MAX_ENTRIES:
        errors.append(EntryError(str(len(networks)), "too_many"))
    return networks, errors


@lru_cache(maxsize=1024)
def _networks(values: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    found = []
    for value in values:
        try:
            found.append(ip_network(value))
        except ValueError:  # a stored value is canonical; should one not be, it admits no one
            continue
    return tuple(found)


def address_allowed(address: str | None, networks: Iterable[str] | None) -> bool:
    """Is `address` in one of `networks`? No networks (None or empty): every address is.

    With networks, an address that is missing or not an address is refused: a restriction is
    never lifted by what cannot be read.
    """
    values = tuple(networks or ())
    if not values:
        return True
    try:
        found = ip_address((address or "").strip())
    except ValueError:
        return False
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; the networks name them as IPv4.
    if isinstance(found, IPv6Address) and found.ipv4_mapped is not None:
        found = found.ipv4_mapped
    return any(found.version == network.version and found in network for network in _networks(values))
