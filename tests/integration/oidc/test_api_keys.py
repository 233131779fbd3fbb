"""REST API keys: issued on the admin pages, shown once, exchanged at /token (RFC 8693), revoked.

The access tokens are verified with PyJWT against /jwks, not with our code.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import ApiKey, AuditEvent, User
from idp.models.base import utcnow
from tests.conftest import Actions, IsolatedClient
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.oidc.conftest import basic, verify_jwt

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
KEY_TYPE = "urn:portail:params:oauth:token-type:api_key"
SECRET = "rest-secret-0123456789"
CLIENTS = [
    {"client_id": "rest", "secret": SECRET, "grant_types": [EXCHANGE]},
    {"client_id": "cli", "token_endpoint_auth_method": "none", "grant_types": [EXCHANGE]},
    {"client_id": "web", "secret": SECRET, "redirect_uris": ["https://web.example.com/cb"]},
]
OFFICE, HOME = "192.0.2.10", "198.51.100.20"
KEY_RE = re.compile(r'id="new-key" type="text" readonly value="(idpk_[A-Za-z0-9_-]{43})"')


@pytest.fixture
def config_overrides():
    return {"flows": ["login", "company_choice", "api_keys"], "clients": CLIENTS,
            "api_keys": {"self_service": True, "scopes": ["orders:read", "orders:write"], "default_ttl_days": 30,
                         "max_ttl_days": 90},
            "throttling": {"api_key_per_key": "5 per 10 minutes"}}


def browser(app, address=OFFICE):
    app.test_client_class = IsolatedClient
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return Actions(client)


@pytest.fixture
def world(app):
    acme = make_company("C-1", name="Acme", branches="MTL;QC")
    claire, bob = make_user("claire@example.com"), make_user("bob@example.com")
    make_membership(claire, acme, is_admin=True)
    membership = make_membership(bob, acme, role="order_for_approval", branch="QC")
    other = make_company("C-2", name="Other")
    make_membership(bob, other, role="prices_only")
    admin = browser(app)
    assert admin.login("claire@example.com", PASSWORD).status_code == 302
    return acme, claire, bob, membership, admin


def keys_page(acme, bob):
    return f"/admin/companies/{acme.public_id}/members/{bob.public_id}"


def issue(admin, acme, bob, **fields):
    page = keys_page(acme, bob)
    data = {"name": "ERP sync", "scope": ["orders:read"], "ttl_days": "10", **fields}
    return admin.submit(f"{page}/api-keys", data, form_path=page)


def exchange(app, key, address=OFFICE, client=("rest", SECRET), **extra):
    data = {"grant_type": EXCHANGE, "subject_token": key, "subject_token_type": KEY_TYPE, **extra}
    headers = basic(*client) if client[1] else {}
    if not client[1]:
        data["client_id"] = client[0]
    return browser(app, address).client.post("/token", data=data, headers=headers)


def new_key(admin, acme, bob, **fields):
    response = issue(admin, acme, bob, **fields)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return KEY_RE.search(response.get_data(as_text=True)).group(1)


def stored_key():
    db.session.expire_all()
    return db.session.scalars(select(ApiKey)).one()


def test_lifecycle_issue_show_once_exchange_last_use_revoke(app, world):
    acme, _claire, bob, _membership, admin = world
    response = issue(admin, acme, bob)
    key = KEY_RE.search(response.get_data(as_text=True)).group(1)
    assert response.headers["Cache-Control"] == "no-store"
    row = stored_key()
    assert row.key_hash != key and key not in row.key_hash and row.prefix == key[:11]
    assert (row.expires_at - utcnow()).days in (9, 10)
    listing = admin.client.get(keys_page(acme, bob)).get_data(as_text=True)
    assert key not in listing and row.prefix in listing and "Never" in listing  # shown once, listed by prefix

    answer = exchange(app, key, scope="orders:read")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in", "scope"}
    assert (body["issued_token_type"], body["token_type"], body["scope"]) == (
        "urn:ietf:params:oauth:token-type:access_token", "Bearer", "orders:read")
    claims = verify_jwt(admin.client, body["access_token"], audience="rest", typ="at+jwt")
    assert claims["sub"] == bob.public_id and claims["api_key"] == row.public_id
    assert (claims["company_id"], claims["company_role"], claims["company_branch"], claims["company_admin"]) == (
        "C-1", "order_for_approval", "QC", "false")
    assert [c["id"] for c in claims["companies"]] == ["C-1"]  # that membership only
    used = stored_key()
    assert used.last_used_ip == OFFICE and used.last_used_at is not None
    listing = admin.client.get(keys_page(acme, bob)).get_data(as_text=True)
    assert f"from {OFFICE}" in listing

    revoke = f"{keys_page(acme, bob)}/api-keys/{row.public_id}/revoke"
    confirm = admin.client.get(revoke)
    assert confirm.status_code == 200 and "Revoke the key ERP sync?" in confirm.get_data(as_text=True)
    assert admin.submit(revoke, {"confirm": "yes"}).status_code == 302
    refused = exchange(app, key)
    assert (refused.status_code, refused.get_json()["error"]) == (400, "invalid_grant")
    # The access token already issued is no longer active for resource servers that introspect.
    introspected = browser(app).client.post("/introspect", data={"token": body["access_token"]},
                                            headers=basic("rest", SECRET))
    assert introspected.get_json() == {"active": False}
    db.session.expire_all()
    names = [e.event for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert {"api_key.issued", "api_key.used", "api_key.revoked", "api_key.refused"} <= set(names)


def _expire(row_id):
    db.session.execute(update(ApiKey).where(ApiKey.id == row_id).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def _disable_bob(bob):
    db.session.execute(update(User).where(User.id == bob.id).values(status="disabled"))
    db.session.commit()


@pytest.mark.parametrize("case", ["expired", "user-disabled", "membership-deactivated", "outside-allowed-ips",
                                  "unknown-key", "wrong-token-type"])
def test_refused_keys_get_invalid_grant(app, world, case):
    acme, _claire, bob, membership, admin = world
    key = new_key(admin, acme, bob)
    extra = {}
    if case == "expired":
        _expire(stored_key().id)
    elif case == "user-disabled":
        _disable_bob(bob)
    elif case == "membership-deactivated":
        page = f"/admin/companies/{acme.public_id}/members/{bob.public_id}/deactivate"
        assert admin.submit(page, {"confirm": "yes"}).status_code == 302
        assert stored_key().revoked_at is not None  # deactivation voids the member's keys
    elif case == "outside-allowed-ips":
        membership.allowed_ips = "192.0.2.0/24,2001:db8::/32"
        db.session.commit()
        assert exchange(app, key, address="2001:db8::9").status_code == 200  # inside, by IPv6
        key_address = HOME
    elif case == "unknown-key":
        key = key[:-4] + "AAAA"
    if case == "wrong-token-type":
        extra["subject_token_type"] = "urn:ietf:params:oauth:token-type:access_token"
    answer = exchange(app, key, address=key_address if case == "outside-allowed-ips" else OFFICE, **extra)
    expected = "invalid_request" if case == "wrong-token-type" else "invalid_grant"
    assert (answer.status_code, answer.get_json()["error"]) == (400, expected)
    assert "refresh_token" not in answer.get_json()


def test_scope_beyond_the_key_is_refused(app, world):
    acme, _claire, bob, _membership, admin = world
    key = new_key(admin, acme, bob)
    assert exchange(app, key, scope="orders:write").get_json()["error"] == "invalid_scope"


def test_a_public_client_exchanges_and_a_client_without_the_grant_cannot(app, world):
    acme, _claire, bob, _membership, admin = world
    key = new_key(admin, acme, bob, scope=["orders:read", "orders:write"])
    answer = exchange(app, key, client=("cli", None))
    assert answer.status_code == 200 and answer.get_json()["scope"] == "orders:read orders:write"
    assert exchange(app, key, client=("web", SECRET)).get_json()["error"] == "unauthorized_client"


def test_use_is_throttled_per_key(app, world):
    acme, _claire, bob, _membership, admin = world
    key = new_key(admin, acme, bob)
    for _ in range(5):
        assert exchange(app, key).status_code == 200
    throttled = exchange(app, key)
    assert throttled.status_code == 429 and throttled.get_json()["error"] == "invalid_grant"
    assert int(throttled.headers["Retry-After"]) > 0


@pytest.mark.parametrize(("fields", "message"), [
    pytest.param({"ttl_days": "91"}, "The validity is from 1 to 90 days.", id="too-long"),
    pytest.param({"scope": ["admin"]}, "Choose at least one of the scopes offered.", id="unknown-scope"),
    pytest.param({"name": ""}, "Give the key a name", id="no-name"),
])
def test_bad_issue_forms_are_refused(app, world, fields, message):
    acme, _claire, bob, _membership, admin = world
    response = issue(admin, acme, bob, **fields)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert db.session.scalars(select(ApiKey)).all() == []


def test_default_ttl_and_self_service(app, world):
    acme = world[0]
    me = browser(app)
    me.login("bob@example.com", PASSWORD)
    response = me.submit("/account/api-keys", {"name": "Script", "scope": ["orders:read"], "ttl_days": "",
                                               "company": acme.public_id})
    key = KEY_RE.search(response.get_data(as_text=True)).group(1)
    row = stored_key()
    assert (row.expires_at - utcnow()).days in (29, 30) and row.company_id == acme.id
    assert exchange(app, key).status_code == 200
    revoke = f"/account/api-keys/{row.public_id}/revoke"
    assert me.submit(revoke, {"confirm": "yes"}).status_code == 302
    assert exchange(app, key).get_json()["error"] == "invalid_grant"


def test_discovery_lists_the_token_exchange_grant(app):
    document = browser(app).client.get("/.well-known/openid-configuration").get_json()
    assert EXCHANGE in document["grant_types_supported"]
