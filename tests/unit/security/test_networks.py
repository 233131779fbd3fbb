"""The client's address behind trusted proxies (idp.security.networks), and its configuration."""

import pytest

from idp.config import ConfigError, parse_config
from idp.security.networks import PEER_ADDR_KEY, ClientAddress, client_address, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        pytest.param("203.0.113.5", None, (), "203.0.113.5", id="no-proxy"),
        pytest.param("10.0.0.2", "203.0.113.5", (), "10.0.0.2", id="header-ignored-without-trusted-proxies"),
        pytest.param("198.51.100.9", "203.0.113.5", PROXIES, "198.51.100.9", id="spoofed-header-from-untrusted-peer"),
        pytest.param("10.0.0.2", "203.0.113.5", PROXIES, "203.0.113.5", id="one-proxy"),
        pytest.param("10.0.0.2", "203.0.113.5, 10.0.0.3", PROXIES, "203.0.113.5", id="chain-of-proxies"),
        pytest.param("10.0.0.2", "6.6.6.6, 203.0.113.5", PROXIES, "203.0.113.5",
                     id="client-prepends-a-spoofed-address"),
        pytest.param("10.0.0.2", "1.1.1.1", PROXIES, "1.1.1.1", id="right-most-untrusted-wins"),
        pytest.param("10.0.0.2", "10.0.0.9, 10.0.0.3", PROXIES, "10.0.0.9", id="every-hop-trusted"),
        pytest.param("10.0.0.2", None, PROXIES, "10.0.0.2", id="trusted-peer-without-header"),
        pytest.param("10.0.0.2", "", PROXIES, "10.0.0.2", id="trusted-peer-empty-header"),
        pytest.param("10.0.0.2", "203.0.113.5, unknown", PROXIES, "10.0.0.2", id="malformed-right-most-entry"),
        pytest.param("10.0.0.2", "203.0.113.5, , 10.0.0.3", PROXIES, "10.0.0.3", id="empty-entry-in-chain"),
        pytest.param("10.0.0.2", "garbage, 203.0.113.5", PROXIES, "203.0.113.5", id="malformed-left-of-client"),
        pytest.param("10.0.0.2", "<script>, 999.1.1.1", PROXIES, "10.0.0.2", id="hostile-entries"),
        pytest.param("10.0.0.2", "203.0.113.5:51234", PROXIES, "203.0.113.5", id="ipv4-with-port"),
        pytest.param("10.0.0.2", " 203.0.113.5 ,10.0.0.3 ", PROXIES, "203.0.113.5", id="spaces"),
        pytest.param("fd00::2", "2001:DB8::7", PROXIES, "2001:db8::7", id="ipv6"),
        pytest.param("fd00::2", "2001:db8::7, fd00::3", PROXIES, "2001:db8::7", id="ipv6-chain"),
        pytest.param("10.0.0.2", "[2001:db8::7]:443", PROXIES, "2001:db8::7", id="ipv6-bracketed-with-port"),
        pytest.param("fd00::2", "203.0.113.5", PROXIES, "203.0.113.5", id="ipv4-client-ipv6-proxy"),
        pytest.param("::ffff:10.0.0.2", "203.0.113.5", PROXIES, "203.0.113.5", id="ipv4-mapped-peer"),
        pytest.param("10.0.0.2", "::ffff:198.51.100.1", PROXIES, "198.51.100.1", id="ipv4-mapped-client"),
        pytest.param("2001:db8::5", "203.0.113.5", PROXIES, "2001:db8::5", id="untrusted-ipv6-peer"),
        pytest.param("", "203.0.113.5", PROXIES, "", id="no-peer"),
        pytest.param("not-an-address", "203.0.113.5", PROXIES, "not-an-address", id="malformed-peer"),
    ],
)
def test_client_address(peer, forwarded, trusted, expected):
    assert client_address(peer, forwarded, trusted) == expected


def test_a_long_header_is_read_only_for_a_bounded_number_of_hops():
    header = ", ".join(["203.0.113.5"] + ["10.0.0.3"] * 10_000)
    # Never further left than MAX_HOPS: the client is then the furthest proxy reached.
    assert client_address("10.0.0.2", header, PROXIES) == "10.0.0.3"


def _call(middleware, environ):
    seen = {}

    def inner(env, start_response):
        seen.update(env)
        start_response("200 OK", [])
        return [b""]

    middleware.wsgi_app = inner
    middleware(environ, lambda *args: None)
    return seen


def test_the_middleware_sets_remote_addr_and_keeps_the_peer():
    seen = _call(ClientAddress(None, ["10.0.0.0/8"]),
                 {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.5, 10.0.0.3"})
    assert seen["REMOTE_ADDR"] == "203.0.113.5" and seen[PEER_ADDR_KEY] == "10.0.0.2"


def test_the_middleware_ignores_the_header_without_trusted_proxies():
    seen = _call(ClientAddress(None, []), {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.5"})
    assert seen["REMOTE_ADDR"] == "10.0.0.2" and seen[PEER_ADDR_KEY] == "10.0.0.2"


def _errors(value):
    with pytest.raises(ConfigError) as caught:
        parse_config({"issuer": "https://login.example.com", "secret_key": "s" * 40, "trusted_proxies": value}, {})
    return caught.value.errors


def test_trusted_proxies_are_read_in_canonical_form():
    config = parse_config({"issuer": "https://login.example.com", "secret_key": "s" * 40,
                           "trusted_proxies": ["10.0.0.0/8", "192.0.2.7", "FD00::/8"]}, {})
    assert config.trusted_proxies == ["10.0.0.0/8", "192.0.2.7/32", "fd00::/8"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(["10.0.0.0/8", "proxy.internal"],
                     ["trusted_proxies[1]: not an IP network (an address, or a CIDR such as 10.0.0.0/8)"], id="name"),
        pytest.param(["10.0.0.0/33"],
                     ["trusted_proxies[0]: not an IP network (an address, or a CIDR such as 10.0.0.0/8)"],
                     id="prefix-too-long"),
        pytest.param(["10.0.0.0/8", "10.1.2.3/16"],
                     ["trusted_proxies[1]: has host bits set (did you mean 10.1.0.0/16?)"], id="host-bits"),
        pytest.param("10.0.0.0/8", ["trusted_proxies: Input should be a valid list"], id="not-a-list"),
    ],
)
def test_bad_trusted_proxies_are_reported_with_their_key_path(value, expected):
    assert _errors(value) == expected
