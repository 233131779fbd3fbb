"""Networks: who the client is behind trusted proxies, and the WSGI layer that says it once per request."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

PEER_ADDR_KEY = "idp.peer_addr"  # the socket's peer, kept in the environ beside the client address
# A request through more proxies than this is not a deployment we know: its header is not read further.
MAX_HOPS = 16


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The networks of `trusted_proxies` (validated by the configuration), as ipaddress objects."""
    return tuple(ip_network(value) for value in values)


def _address(text: str) -> IPAddress | None:
    """An address as a peer or a proxy writes it: bare, `1.2.3.4:port` or `[v6]:port`; None if malformed."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        found = ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; the networks name them as IPv4.
    if isinstance(found, IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def _trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_address(peer: str, forwarded_for: str | None, trusted: tuple[IPNetwork, ...]) -> str:
    """The address of the client: the socket's peer, or, when that peer is a trusted proxy, the
    right-most X-Forwarded-For address that is not itself a trusted proxy.

    Each proxy appends the address it was connected from, so the right end of the header was
    written by our own proxies and the left end by anyone: the walk goes from the right and stops
    at the first hop not in `trusted`. A header from an untrusted peer is ignored altogether.
    Should a trusted proxy have written something that is not an address, nothing left of it is
    believed: the client is that proxy, the last hop known for sure (as when every hop is trusted).
    """
    nearest = _address(peer)
    if nearest is None:
        return peer
    if _trusted(nearest, trusted):
        for entry in reversed((forwarded_for or "").split(",")[-MAX_HOPS:]):
            hop = _address(entry)
            if hop is None:
                break
            nearest = hop
            if not _trusted(hop, trusted):
                break
    return str(nearest)


class ClientAddress:
    """WSGI middleware, outermost: REMOTE_ADDR becomes the client's address (client_address), the
    socket's peer is kept under PEER_ADDR_KEY. Flask-Limiter's keys, the audit rows and every
    `request.remote_addr` then name the same client, and so does the token endpoint's early layer.

    Not werkzeug's ProxyFix: ProxyFix believes the n-th X-Forwarded-For entry from the right for a
    configured count of hops, whoever connected. A client reaching the server directly, or through
    a path with one hop fewer, chooses its own address. Here a header is read only when the peer is
    in `trusted_proxies`, and each hop is believed only while it is itself a trusted proxy.
    """

    def __init__(self, wsgi_app: WSGIApp, trusted: Iterable[str]) -> None:
        self.wsgi_app = wsgi_app
        self.trusted = parse_networks(trusted)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR") or ""
        environ[PEER_ADDR_KEY] = peer
        if peer:
            environ["REMOTE_ADDR"] = client_address(peer, environ.get("HTTP_X_FORWARDED_FOR"), self.trusted)
        return self.wsgi_app(environ, start_response)
