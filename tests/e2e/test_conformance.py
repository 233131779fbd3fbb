"""A conformance battery modelled on the OpenID Foundation's Basic OP and Config OP plans.

Each test is named after the plan's module it mirrors (oidcc-*), plus PKCE, refresh rotation,
revocation, introspection and logout. It writes its own configuration, creates its own user with
`idp users create --password-stdin`, and talks to a live `idp serve` over HTTP only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import urlencode

import jwt as pyjwt
import pytest
import requests

from tests.backchannel import Receiver
from tests.e2e.oidc_support import Browser, query, start_provider, stop_provider, verify

pytestmark = pytest.mark.e2e

PASSWORD = "Qv7#tangerine-Orbit-42"
SECRET_BASIC = "basic-secret-0123456789abcdef"
SECRET_POST = "post-secret-0123456789abcdef"
RP = "https://rp.example.org"
CALLBACK = RP + "/callback"


class Suite:
    def __init__(self, server: Any, receiver: Receiver) -> None:
        self.server = server
        self.base = server.url
        self.receiver = receiver
        self.meta = requests.get(self.base + "/.well-known/openid-configuration", timeout=10).json()
        self.browser = Browser(self.base)

    def params(self, client_id: str = "rp-basic", **extra: Any) -> dict[str, str]:
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "scope": "openid",
                  "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8)}
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def url(self, params: dict[str, str]) -> str:
        return self.meta["authorization_endpoint"] + "?" + urlencode(params)

    def authorize(self, params: dict[str, str], browser: Browser | None = None, sign_in: bool = True) -> dict:
        browser = browser or self.browser
        callback = browser.go(self.url(params), login="conformance" if sign_in else None,
                              password=PASSWORD if sign_in else None)
        assert callback.startswith(CALLBACK), callback
        result = query(callback)
        assert result.get("state") == params.get("state")
        assert result["iss"] == self.base  # RFC 9207
        return result

    def token(self, data: dict[str, str], client_id: str = "rp-basic") -> requests.Response:
        if client_id == "rp-basic":
            return requests.post(self.meta["token_endpoint"], data=data, auth=(client_id, SECRET_BASIC), timeout=10)
        if client_id == "rp-post":
            return requests.post(self.meta["token_endpoint"], data={**data, "client_id": client_id,
                                                                    "client_secret": SECRET_POST}, timeout=10)
        return requests.post(self.meta["token_endpoint"], data={**data, "client_id": client_id}, timeout=10)

    def code_flow(self, client_id: str = "rp-basic", browser: Browser | None = None, **extra: Any) -> dict:
        params = self.params(client_id, **extra)
        result = self.authorize(params, browser)
        data = {"grant_type": "authorization_code", "code": result["code"], "redirect_uri": CALLBACK}
        if "code_verifier" in extra:
            data["code_verifier"] = extra["code_verifier"]
        response = self.token(data, client_id)
        assert response.status_code == 200, response.text
        assert response.headers["Cache-Control"] == "no-store"
        body = response.json()
        body["_params"] = params
        body["_claims"] = verify(self.base, body["id_token"], audience=client_id)
        return body

    def userinfo(self, access_token: str, how: str = "get-header") -> requests.Response:
        endpoint = self.meta["userinfo_endpoint"]
        if how == "get-header":
            return requests.get(endpoint, headers={"Authorization": f"Bearer {access_token}"}, timeout=10)
        if how == "post-header":
            return requests.post(endpoint, headers={"Authorization": f"Bearer {access_token}"}, timeout=10)
        return requests.post(endpoint, data={"access_token": access_token}, timeout=10)


@pytest.fixture(scope="module")
def suite(backend, tmp_path_factory):
    directory = tmp_path_factory.mktemp("conformance")
    receiver = Receiver()
    clients = [
        {"client_id": "rp-basic", "secret": SECRET_BASIC, "redirect_uris": [CALLBACK],
         "post_logout_redirect_uris": [RP + "/signed-out"], "grant_types": ["authorization_code", "refresh_token"],
         "token_endpoint_auth_method": "client_secret_basic", "backchannel_logout_uri": receiver.url},
        {"client_id": "rp-post", "secret": SECRET_POST, "redirect_uris": [CALLBACK],
         "grant_types": ["authorization_code"], "token_endpoint_auth_method": "client_secret_post",
         "id_token_signed_response_alg": "ES256"},
        {"client_id": "rp-public", "redirect_uris": [CALLBACK], "grant_types": ["authorization_code", "refresh_token"],
         "token_endpoint_auth_method": "none"},
        {"client_id": "rp-consent", "secret": SECRET_BASIC, "redirect_uris": [CALLBACK], "require_consent": True},
        {"client_id": "rp-service", "secret": SECRET_BASIC, "grant_types": ["client_credentials"]},
    ]
    server = start_provider(backend, directory, clients=clients, flows=["login", "consent"],
                            mail={"backend": "file", "from": "Portail <no-reply@example.com>", "worker": False})
    try:
        created = server.idp("users", "create", "--email", "conformance@example.org", "--username", "conformance",
                             "--given-name", "Conformance", "--family-name", "Suite", "--phone", "+33 1 00 00 00 00",
                             "--password-stdin", input=PASSWORD + "\n")
        assert created.returncode == 0, created.stderr
        yield Suite(server, receiver)
    finally:
        receiver.stop()
        stop_provider(server, backend, directory)


# -- Config OP ---------------------------------------------------------------------------------------------


def test_oidcc_discovery_issuer_and_endpoints(suite):
    meta = suite.meta
    assert meta["issuer"] == suite.base
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint",
                "revocation_endpoint", "introspection_endpoint"):
        assert meta[key].startswith(suite.base + "/"), key
    assert "code" in meta["response_types_supported"]
    assert "public" in meta["subject_types_supported"]
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert "openid" in meta["scopes_supported"]
    assert {"sub", "iss", "auth_time", "acr", "name", "email", "company"} <= set(meta["claims_supported"])
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["backchannel_logout_supported"] is True
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials",
                                                  "urn:ietf:params:oauth:grant-type:token-exchange"}
    assert set(meta["token_endpoint_auth_methods_supported"]) >= {"client_secret_basic", "client_secret_post"}


def test_oidcc_discovery_jwks(suite):
    response = requests.get(suite.meta["jwks_uri"], timeout=10)
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys and all(k.get("kid") and k.get("use") == "sig" and "d" not in k for k in keys)
    assert {"RSA", "EC"} <= {k["kty"] for k in keys}


# -- Basic OP ----------------------------------------------------------------------------------------------


def test_oidcc_server(suite):
    body = suite.code_flow()
    claims = body["_claims"]
    assert claims["nonce"] == body["_params"]["nonce"]
    assert claims["aud"] == "rp-basic"
    assert claims["iat"] <= claims["exp"]
    assert {"sub", "auth_time", "at_hash", "amr", "acr"} <= set(claims)
    info = suite.userinfo(body["access_token"]).json()
    assert info["sub"] == claims["sub"]


@pytest.mark.parametrize("how", ["get-header", "post-header", "post-body"])
def test_oidcc_userinfo(suite, how):
    body = suite.code_flow()
    response = suite.userinfo(body["access_token"], how)
    assert response.status_code == 200
    assert response.json()["sub"] == body["_claims"]["sub"]


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(suite):
    body = suite.code_flow(nonce=None)
    assert "nonce" not in body["_claims"]


@pytest.mark.parametrize(("scope", "expected"), [
    ("openid profile", {"name", "given_name", "family_name"}),
    ("openid email", {"email", "email_verified"}),
    ("openid phone", {"phone_number"}),
    ("openid profile email phone", {"name", "email", "phone_number"}),
    ("email openid", {"email"}),
], ids=["profile", "email", "phone", "all", "other-scope-order"])
def test_oidcc_scope(suite, scope, expected):
    body = suite.code_flow(scope=scope)
    info = suite.userinfo(body["access_token"]).json()
    assert expected <= set(info)


@pytest.mark.parametrize("display", ["page", "popup"])
def test_oidcc_display(suite, display):
    suite.code_flow(display=display)


def test_oidcc_prompt_login(suite):
    suite.code_flow()
    browser = suite.browser
    before = browser.pages.count("/login")
    suite.code_flow(prompt="login")
    assert browser.pages.count("/login") == before + 1


def test_oidcc_prompt_none_not_logged_in(suite):
    callback = Browser(suite.base).go(suite.url(suite.params(prompt="none")))
    assert query(callback)["error"] == "login_required"


def test_oidcc_prompt_none_logged_in(suite):
    suite.code_flow()
    before = suite.browser.pages.count("/login")
    body = suite.code_flow(prompt="none")
    assert suite.browser.pages.count("/login") == before
    assert body["_claims"]["sub"]


def test_oidcc_max_age(suite):
    first = suite.code_flow()
    before = suite.browser.pages.count("/login")
    second = suite.code_flow(max_age="10000")
    assert suite.browser.pages.count("/login") == before
    assert second["_claims"]["auth_time"] == first["_claims"]["auth_time"]
    third = suite.code_flow(max_age="0")
    assert suite.browser.pages.count("/login") == before + 1
    assert third["_claims"]["auth_time"] >= first["_claims"]["auth_time"]


def test_oidcc_id_token_hint(suite):
    first = suite.code_flow()
    second = suite.code_flow(prompt="none", id_token_hint=first["id_token"])
    assert second["_claims"]["sub"] == first["_claims"]["sub"]


@pytest.mark.parametrize("extra", [
    {"login_hint": "conformance@example.org"},
    {"ui_locales": "fr-FR en"},
    {"claims_locales": "fr"},
    {"acr_values": "urn:portail:acr:pwd urn:portail:acr:mfa"},
    {"unknown_parameter": "ignored"},
], ids=["login-hint", "ui-locales", "claims-locales", "acr-values", "unknown-parameter"])
def test_oidcc_optional_parameters_succeed(suite, extra):
    suite.code_flow(browser=Browser(suite.base), **extra)


def test_oidcc_ui_locales_shows_the_language(suite):
    page = requests.get(suite.url(suite.params(ui_locales="fr")), timeout=10)
    assert page.url.split("?")[0].endswith("/login")
    assert 'lang="fr"' in page.text


def test_oidcc_codereuse(suite):
    params = suite.params()
    result = suite.authorize(params)
    data = {"grant_type": "authorization_code", "code": result["code"], "redirect_uri": CALLBACK}
    first = suite.token(data)
    assert first.status_code == 200
    second = suite.token(data)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    # The tokens the first redemption issued are revoked.
    assert suite.userinfo(first.json()["access_token"]).status_code == 401


def test_oidcc_ensure_registered_redirect_uri(suite):
    response = requests.get(suite.url(suite.params(redirect_uri=RP + "/not-registered")), allow_redirects=False,
                            timeout=10)
    assert response.status_code == 400 and "Location" not in response.headers


def test_oidcc_ensure_redirect_uri_in_authorization_request(suite):
    response = requests.get(suite.url(suite.params(redirect_uri=None)), allow_redirects=False, timeout=10)
    assert response.status_code == 400 and "Location" not in response.headers


def test_oidcc_response_type_missing(suite):
    response = requests.get(suite.url(suite.params(response_type=None)), allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert query(response.headers["Location"])["error"] == "unsupported_response_type"


def test_oidcc_unsigned_request_object_is_refused(suite):
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps({"client_id": "rp-basic"}).encode()).rstrip(b"=").decode()
    response = requests.get(suite.url(suite.params(request=f"{header}.{payload}.")), allow_redirects=False,
                            timeout=10)
    assert query(response.headers["Location"])["error"] == "request_not_supported"


def test_oidcc_claims_essential(suite):
    claims = json.dumps({"id_token": {"email": {"essential": True}}, "userinfo": {"name": None}})
    body = suite.code_flow(claims=claims)
    assert body["_claims"]["email"] == "conformance@example.org"


def test_oidcc_client_secret_post_and_es256(suite):
    body = suite.code_flow("rp-post")
    assert pyjwt.get_unverified_header(body["id_token"])["alg"] == "ES256"


def test_oidcc_consent(suite):
    browser = Browser(suite.base)
    params = suite.params("rp-consent")
    callback = browser.go(suite.url(params), login="conformance", password=PASSWORD, consent=True)
    assert "code" in query(callback) and "/consent" in browser.pages
    denied = browser.go(suite.url(suite.params("rp-consent", prompt="consent")), consent=False)
    assert query(denied)["error"] == "access_denied"


# -- PKCE, refresh, revocation, introspection, client credentials --------------------------------------------


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_pkce_public_client(suite):
    verifier, challenge = _pkce()
    body = suite.code_flow("rp-public", code_challenge=challenge, code_challenge_method="S256",
                           code_verifier=verifier)
    assert body["refresh_token"]
    missing = requests.get(suite.url(suite.params("rp-public")), allow_redirects=False, timeout=10)
    assert query(missing.headers["Location"])["error_description"] == "Missing 'code_challenge'"
    plain = requests.get(suite.url(suite.params("rp-public", code_challenge=challenge,
                                                code_challenge_method="plain")), allow_redirects=False, timeout=10)
    assert query(plain.headers["Location"])["error"] == "invalid_request"


def test_pkce_wrong_verifier(suite):
    _verifier, challenge = _pkce()
    params = suite.params("rp-public", code_challenge=challenge, code_challenge_method="S256")
    result = suite.authorize(params)
    response = suite.token({"grant_type": "authorization_code", "code": result["code"], "redirect_uri": CALLBACK,
                            "code_verifier": _pkce()[0]}, "rp-public")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_refresh_rotation_and_reuse(suite):
    body = suite.code_flow()
    first = suite.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != body["refresh_token"]
    assert verify(suite.base, rotated["id_token"], audience="rp-basic")["sub"] == body["_claims"]["sub"]
    reuse = suite.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    family = suite.token({"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]})
    assert family.json()["error"] == "invalid_grant"


def test_revocation_and_introspection(suite):
    body = suite.code_flow()
    introspect = suite.meta["introspection_endpoint"]
    auth = ("rp-basic", SECRET_BASIC)
    assert requests.post(introspect, data={"token": body["access_token"]}, auth=auth, timeout=10).json()["active"]
    assert requests.post(introspect, data={"token": body["refresh_token"]}, auth=auth, timeout=10).json()["active"]
    revoke = requests.post(suite.meta["revocation_endpoint"], data={"token": body["refresh_token"]}, auth=auth,
                           timeout=10)
    assert revoke.status_code == 200
    assert requests.post(introspect, data={"token": body["refresh_token"]}, auth=auth,
                         timeout=10).json() == {"active": False}
    assert requests.post(introspect, data={"token": body["access_token"]}, auth=auth,
                         timeout=10).json() == {"active": False}
    public = requests.post(introspect, data={"token": body["access_token"], "client_id": "rp-public"}, timeout=10)
    assert public.status_code == 401 and public.json()["error"] == "invalid_client"


def test_client_credentials(suite):
    response = requests.post(suite.meta["token_endpoint"], data={"grant_type": "client_credentials"},
                             auth=("rp-service", SECRET_BASIC), timeout=10)
    assert response.status_code == 200
    assert verify(suite.base, response.json()["access_token"], audience="rp-service", typ="at+jwt")


@pytest.mark.parametrize(("data", "auth", "status", "error"), [
    ({"grant_type": "authorization_code", "code": "nope", "redirect_uri": CALLBACK}, ("rp-basic", SECRET_BASIC),
     400, "invalid_grant"),
    ({"grant_type": "authorization_code", "code": "nope", "redirect_uri": CALLBACK}, ("rp-basic", "wrong-secret"),
     401, "invalid_client"),
    ({"grant_type": "implicit"}, ("rp-basic", SECRET_BASIC), 400, "unsupported_grant_type"),
    ({"grant_type": "client_credentials"}, ("rp-basic", SECRET_BASIC), 400, "unauthorized_client"),
], ids=["bad-code", "bad-secret", "bad-grant", "grant-not-allowed"])
def test_token_errors(suite, data, auth, status, error):
    response = requests.post(suite.meta["token_endpoint"], data=data, auth=auth, timeout=10)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == error


# -- Logout: RP-initiated and back-channel -------------------------------------------------------------------


def test_rp_initiated_and_back_channel_logout(suite):
    browser = Browser(suite.base)
    body = suite.code_flow(browser=browser)
    already = len(suite.receiver.tokens)
    url = suite.meta["end_session_endpoint"] + "?" + urlencode({
        "id_token_hint": body["id_token"], "post_logout_redirect_uri": RP + "/signed-out", "state": "bye"})
    assert browser.go(url) == RP + "/signed-out?state=bye"
    callback = browser.go(suite.url(suite.params(prompt="none")))
    assert query(callback)["error"] == "login_required"
    received = suite.receiver.wait_for(already + 1)
    assert len(received) == already + 1
    logout = verify(suite.base, received[-1], audience="rp-basic", typ="logout+jwt")
    assert logout["sub"] == body["_claims"]["sub"] and logout["sid"] == body["_claims"]["sid"]


def test_logout_refuses_an_unregistered_redirect(suite):
    body = suite.code_flow(browser=Browser(suite.base))
    response = requests.get(suite.meta["end_session_endpoint"], params={
        "id_token_hint": body["id_token"], "post_logout_redirect_uri": "https://evil.example.com/"},
        allow_redirects=False, timeout=10)
    assert response.status_code == 400
