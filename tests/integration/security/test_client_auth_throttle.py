"""Failed client authentications at /token (both paths), /introspect and /revoke: throttled per client_id
and per address, audited and logged without the secret."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from tests.integration.oidc.conftest import API_SECRET, CLIENTS, basic

WHERE = ["token-early", "token-view", "introspect", "revoke"]
WRONG_SECRET = "guessed-secret-0123456789"
THROTTLED = {"error": "invalid_client", "error_description": "Too many failed client authentications. Try again later."}


def throttling(per_client="3 per 15 minutes", per_ip="100 per 15 minutes"):
    return {"clients": CLIENTS, "flows": ["login", "consent"],
            "throttling": {"client_auth_per_client": per_client, "client_auth_per_ip": per_ip}}


@pytest.fixture
def config_overrides():
    return throttling()


def call(client, where, client_id="api", secret=API_SECRET, peer="127.0.0.1"):
    """One client authentication at `where` (HTTP Basic, as most clients do)."""
    kwargs = {"headers": basic(client_id, secret), "environ_base": {"REMOTE_ADDR": peer}}
    if where == "token-early":
        return client.post("/token", data={"grant_type": "client_credentials"}, **kwargs)
    if where == "token-view":
        return client.post("/token", data={"grant_type": "client_credentials"}, content_type="multipart/form-data",
                           **kwargs)
    return client.post(f"/{where}", data={"token": "not-a-token"}, **kwargs)


def audit_rows(event):
    db.session.expire_all()
    return db.session.scalars(select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id)).all()


def assert_throttled(response):
    assert response.status_code == 429
    assert response.get_json() == THROTTLED
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert response.headers["Cache-Control"] == "no-store" and response.mimetype == "application/json"


@pytest.mark.parametrize("failing_at", WHERE)
def test_after_the_limit_even_the_right_secret_is_refused_everywhere(client, failing_at):
    for where in WHERE:
        assert call(client, where).status_code == 200, where  # below the limit: the right secret works
    for _ in range(3):
        assert call(client, failing_at, secret=WRONG_SECRET).status_code == 401
    for where in WHERE:
        assert_throttled(call(client, where))


def test_both_token_paths_answer_the_throttled_request_alike(client):
    for _ in range(3):
        call(client, "token-early", secret=WRONG_SECRET)
    early, view = call(client, "token-early"), call(client, "token-view")
    assert early.get_json() == view.get_json() == THROTTLED
    assert sorted(early.headers.keys()) == sorted(view.headers.keys())
    assert "WWW-Authenticate" not in early.headers


def test_an_unknown_client_id_is_throttled_as_a_known_one(client):
    for client_id in ("api", "ghost"):
        answers = [call(client, "token-early", client_id=client_id, secret=WRONG_SECRET).status_code for _ in range(4)]
        assert answers == [401, 401, 401, 429], client_id


@pytest.mark.parametrize("config_overrides", [throttling(per_client="100 per 15 minutes", per_ip="3 per 15 minutes")])
def test_failures_count_per_address(client):
    for number in range(3):
        assert call(client, "token-early", client_id=f"guess{number}", secret=WRONG_SECRET,
                    peer="203.0.113.5").status_code == 401
    assert_throttled(call(client, "introspect", peer="203.0.113.5"))
    assert call(client, "token-early", peer="198.51.100.7").status_code == 200


def test_a_wrong_secret_in_the_body_counts_too(client):
    for _ in range(3):
        response = client.post("/token", data={"grant_type": "client_credentials", "client_id": "api",
                                               "client_secret": WRONG_SECRET})
        assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    assert_throttled(call(client, "token-early"))


def test_failures_and_lockouts_are_audited_and_logged_without_the_secret(client, caplog):
    caplog.set_level(logging.DEBUG)
    call(client, "token-early", secret=WRONG_SECRET, peer="203.0.113.5")
    call(client, "introspect", client_id="ghost", secret=WRONG_SECRET, peer="203.0.113.5")
    client.post("/revoke", data={"token": "x", "client_id": "api", "client_secret": WRONG_SECRET},
                environ_base={"REMOTE_ADDR": "203.0.113.5"})
    call(client, "token-view", secret=WRONG_SECRET, peer="203.0.113.5")  # api's third failure
    for _ in range(3):  # refused three times: one lockout row, not three
        call(client, "token-view", peer="203.0.113.5")
    failures = audit_rows("client.authentication_failed")
    assert [(row.ip, row.details) for row in failures] == [
        ("203.0.113.5", {"endpoint": "token", "method": "client_secret_basic", "client_id": "api",
                         "known_client": True}),
        ("203.0.113.5", {"endpoint": "introspection", "method": "client_secret_basic", "client_id": None,
                         "known_client": False}),
        ("203.0.113.5", {"endpoint": "revocation", "method": "client_secret_post", "client_id": "api",
                         "known_client": True}),
        ("203.0.113.5", {"endpoint": "token", "method": "client_secret_basic", "client_id": "api",
                         "known_client": True}),
    ]
    [locked] = audit_rows("client.locked_out")
    assert locked.ip == "203.0.113.5" and locked.details["scope"] == "client"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "client.authentication_failed" in logged and "client.locked_out" in logged
    assert WRONG_SECRET not in logged and API_SECRET not in logged
    assert all(WRONG_SECRET not in str(row.details) for row in failures)
