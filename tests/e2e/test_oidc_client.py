"""A relying party that is not our code — Authlib's OAuth 2 client — against a live `idp serve`."""

from __future__ import annotations

import secrets

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from tests.e2e.oidc_support import Browser, query, start_provider, stop_provider, verify
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e

SECRET = "portal-secret-0123456789abcdef"
CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture(scope="module")
def server(backend, tmp_path_factory):
    directory = tmp_path_factory.mktemp("authlib-client")
    server = start_provider(backend, directory, clients=[
        {"client_id": "portal", "secret": SECRET, "redirect_uris": [CALLBACK],
         "post_logout_redirect_uris": ["http://127.0.0.1:9/"]},
        {"client_id": "app", "redirect_uris": ["http://127.0.0.1/callback"]},
        {"client_id": "rs", "secret": SECRET, "grant_types": ["client_credentials"]},
    ])
    try:
        created = server.idp("users", "create", "--email", "ines@example.com", "--username", "ines",
                             "--given-name", "Inès", "--password-stdin", input=PASSWORD + "\n")
        assert created.returncode == 0, created.stderr
        yield server
    finally:
        stop_provider(server, backend, directory)


def test_confidential_client_full_cycle(server):
    base = server.url
    metadata = requests.get(base + "/.well-known/openid-configuration", timeout=10).json()
    rp = OAuth2Session("portal", SECRET, scope="openid profile email offline_access", redirect_uri=CALLBACK,
                       token_endpoint_auth_method="client_secret_basic",
                       revocation_endpoint_auth_method="client_secret_basic")
    nonce = secrets.token_urlsafe(8)
    url, state = rp.create_authorization_url(metadata["authorization_endpoint"], nonce=nonce)
    browser = Browser(base)
    callback = browser.go(url, login="ines", password=PASSWORD)
    assert callback.startswith(CALLBACK)
    assert query(callback)["iss"] == base

    token = rp.fetch_token(metadata["token_endpoint"], authorization_response=callback, state=state)
    claims = verify(base, token["id_token"], audience="portal")
    assert claims["nonce"] == nonce and claims["given_name"] == "Inès"
    verify(base, token["access_token"], audience="portal", typ="at+jwt")

    info = rp.get(metadata["userinfo_endpoint"], timeout=10).json()
    assert info["sub"] == claims["sub"] and info["email"] == "ines@example.com"

    refreshed = rp.refresh_token(metadata["token_endpoint"])
    assert refreshed["refresh_token"] != token["refresh_token"]

    introspected = rp.introspect_token(metadata["introspection_endpoint"], token=refreshed["access_token"]).json()
    assert introspected["active"] is True and introspected["sub"] == claims["sub"]

    assert rp.revoke_token(metadata["revocation_endpoint"], token=refreshed["refresh_token"],
                           token_type_hint="refresh_token").status_code == 200
    assert rp.introspect_token(metadata["introspection_endpoint"],
                               token=refreshed["access_token"]).json() == {"active": False}

    # SSO: a second authorization needs no sign-in.
    url, _ = rp.create_authorization_url(metadata["authorization_endpoint"], nonce="n2")
    assert browser.go(url).startswith(CALLBACK)
    assert "/login" in browser.pages and browser.pages.count("/login") == 1

    # The server's log carries the security events, and never a password or a token.
    log = server.log_path.read_text()
    assert "user.signed_in" in log
    for secret in (PASSWORD, token["access_token"], token["refresh_token"], refreshed["refresh_token"], SECRET):
        assert secret not in log


def test_public_client_with_pkce(server):
    base = server.url
    verifier = secrets.token_urlsafe(48)
    rp = OAuth2Session("app", scope="openid", redirect_uri="http://127.0.0.1:61234/callback",
                       code_challenge_method="S256", token_endpoint_auth_method="none")
    url, state = rp.create_authorization_url(base + "/authorize", code_verifier=verifier)
    callback = Browser(base).go(url, login="ines@example.com", password=PASSWORD)
    token = rp.fetch_token(base + "/token", authorization_response=callback, state=state, code_verifier=verifier)
    assert verify(base, token["id_token"], audience="app")["sub"]


def test_client_credentials(server):
    rp = OAuth2Session("rs", SECRET)
    token = rp.fetch_token(server.url + "/token", grant_type="client_credentials")
    assert verify(server.url, token["access_token"], audience="rs", typ="at+jwt")["sub"] == "rs"


def test_keys_rotate_keeps_tokens_verifiable(server):
    rp = OAuth2Session("rs", SECRET)
    before = rp.fetch_token(server.url + "/token", grant_type="client_credentials")["access_token"]
    rotated = server.idp("keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    verify(server.url, before, audience="rs")
