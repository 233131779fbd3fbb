"""The client's address behind trusted proxies, as the throttles, the audit log and every view see it."""

from __future__ import annotations

import pytest
from flask import jsonify, request
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from idp.security.networks import PEER_ADDR_KEY
from tests.conftest import Actions, IsolatedClient
from tests.factories import PASSWORD, make_user
from tests.integration.oidc.conftest import CLIENTS, basic

WRONG = "Wrong email, username or password."
PROXY = "10.0.0.2"
THROTTLING = {"login_per_account": "100 per 15 minutes", "login_per_ip": "4 per 15 minutes"}
API_CLIENTS = [client for client in CLIENTS if client["client_id"] == "api"]


def browser(app, peer, forwarded=None):
    """A person's browser, connected from `peer` (a proxy or the person), with the header a proxy adds."""
    app.test_client_class = IsolatedClient
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = peer
    if forwarded is not None:
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded
    return Actions(client)


def rows(event):
    db.session.expire_all()
    return [(e.ip, e.user_id) for e in db.session.scalars(select(AuditEvent).where(AuditEvent.event == event)
                                                          .order_by(AuditEvent.id))]


@pytest.fixture
def config_overrides():
    return {"trusted_proxies": ["10.0.0.0/8", "fd00::/8"], "throttling": THROTTLING, "clients": API_CLIENTS}


def test_behind_one_proxy_each_client_has_its_own_per_ip_limit(app):
    """The security review's case: many failures of one client must not lock out another behind the same proxy."""
    ana = make_user("ana@example.com")
    attacker = browser(app, PROXY, "203.0.113.5")
    for number in range(4):
        assert attacker.login(f"someone{number}@example.com", "Wrong-Password-1").status_code == 401
    assert attacker.login("ana@example.com", PASSWORD).status_code == 401  # this client's limit is reached
    assert browser(app, PROXY, "198.51.100.7").login("ana@example.com", PASSWORD).status_code == 302
    assert rows("user.sign_in_failed") == [("203.0.113.5", None)] * 4
    assert rows("user.locked_out") == [("203.0.113.5", ana.id)]
    assert rows("user.signed_in") == [("198.51.100.7", ana.id)]


def test_a_header_from_an_untrusted_peer_is_ignored(app):
    make_user("ana@example.com")
    for number in range(4):  # a new made-up address each time: all count for the real one
        spoofer = browser(app, "198.51.100.9", f"192.0.2.{number}")
        assert spoofer.login(f"someone{number}@example.com", "Wrong-Password-1").status_code == 401
    assert browser(app, "198.51.100.9", "192.0.2.200").login("ana@example.com", PASSWORD).status_code == 401
    assert {ip for ip, _ in rows("user.sign_in_failed")} == {"198.51.100.9"}
    assert browser(app, "198.51.100.10").login("ana@example.com", PASSWORD).status_code == 302


@pytest.mark.parametrize("config_overrides", [{"throttling": THROTTLING}])
def test_without_trusted_proxies_the_peer_is_the_client(app):
    make_user("ana@example.com")
    for number in range(4):
        browser(app, PROXY, f"203.0.113.{number}").login("ana@example.com", "Wrong-Password-1")
    assert browser(app, PROXY, "203.0.113.99").login("ana@example.com", PASSWORD).status_code == 401
    assert {ip for ip, _ in rows("user.sign_in_failed")} == {PROXY}


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        pytest.param(PROXY, "203.0.113.5, 10.0.0.3", "203.0.113.5", id="chain-of-proxies"),
        pytest.param(PROXY, "6.6.6.6, 203.0.113.5", "203.0.113.5", id="spoofed-left-part"),
        pytest.param("fd00::2", "2001:db8::7", "2001:db8::7", id="ipv6"),
        pytest.param("fd00::2", "2001:db8::7, fd00::3", "2001:db8::7", id="ipv6-chain"),
        pytest.param(PROXY, "not-an-address", PROXY, id="malformed"),
        pytest.param("198.51.100.9", "203.0.113.5", "198.51.100.9", id="untrusted-peer"),
    ],
)
def test_the_audit_log_names_the_client(app, peer, forwarded, client):
    make_user("ana@example.com")
    browser(app, peer, forwarded).login("ana@example.com", "Wrong-Password-1")
    assert [ip for ip, _user in rows("user.sign_in_failed")] == [client]


def test_ipv6_clients_are_throttled_per_address(app):
    make_user("ana@example.com")
    for number in range(4):
        browser(app, "fd00::2", "2001:db8::7").login(f"someone{number}@example.com", "Wrong-Password-1")
    assert browser(app, "fd00::2", "2001:db8::7").login("ana@example.com", PASSWORD).status_code == 401
    assert browser(app, "fd00::2", "2001:db8::8").login("ana@example.com", PASSWORD).status_code == 302


def test_views_see_the_client_and_the_environ_keeps_the_peer(app):
    app.add_url_rule("/_address", "address_probe",
                     lambda: jsonify(client=request.remote_addr, peer=request.environ[PEER_ADDR_KEY]))
    seen = browser(app, PROXY, "203.0.113.5, 10.0.0.3").client.get("/_address").get_json()
    assert seen == {"client": "203.0.113.5", "peer": PROXY}


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data"],
                         ids=["early-path", "flask-view"])
def test_the_token_endpoint_sees_the_client_on_both_paths(app, monkeypatch, content_type):
    from idp.oidc.token_endpoint import TokenEndpoint

    taken = []
    answer = TokenEndpoint._answer
    monkeypatch.setattr(TokenEndpoint, "_answer", lambda self, environ: taken.append(1) or answer(self, environ))
    client = browser(app, PROXY, "203.0.113.5").client
    refused = client.post("/token", data={"grant_type": "client_credentials"}, headers=basic("api", "wrong-secret"),
                          content_type=content_type)
    assert refused.status_code == 401
    assert bool(taken) == (content_type == "application/x-www-form-urlencoded")
    assert rows("client.authentication_failed") == [("203.0.113.5", None)]
