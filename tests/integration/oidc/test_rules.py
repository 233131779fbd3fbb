"""A negative test for each rule of the authorization and token endpoints (exact error strings)."""

from __future__ import annotations

import pytest

from tests.integration.oidc.conftest import (
    API_SECRET,
    ISSUER,
    WEB_REDIRECT,
    WEB_SECRET,
    authorize_params,
    basic,
    pkce,
    query,
)


@pytest.mark.parametrize(("params", "error"), [
    ({"client_id": "nobody"}, "invalid_client"),
    ({"client_id": None}, "invalid_client"),
    ({"redirect_uri": "https://evil.example.com/callback"}, "invalid_request"),
    ({"redirect_uri": "https://web.example.com/callback/extra"}, "invalid_request"),
    ({"redirect_uri": "https://web.example.com:8443/callback"}, "invalid_request"),
    ({"redirect_uri": ""}, "invalid_request"),
    ({"client_id": "mobile", "redirect_uri": "http://127.0.0.1:5/other"}, "invalid_request"),
], ids=["unknown-client", "no-client", "foreign-uri", "longer-path", "other-port-https", "no-redirect-uri",
        "loopback-other-path"])
def test_unverified_redirect_gets_an_error_page(flow, params, error):
    response = flow.authorize(**authorize_params(**params))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert f"({error})" in response.get_data(as_text=True)


def _mobile(**extra):
    return authorize_params(client_id="mobile", redirect_uri="http://127.0.0.1/callback", **extra)


@pytest.mark.parametrize(("params", "error", "description"), [
    (authorize_params(response_type="token"), "unsupported_response_type", None),
    (authorize_params(response_type="code id_token"), "unsupported_response_type", None),
    (authorize_params(request="eyJhbGciOiJub25lIn0.e30."), "request_not_supported", None),
    (authorize_params(request_uri="https://web.example.com/request.jwt"), "request_uri_not_supported", None),
    (authorize_params(max_age="soon"), "invalid_request", "Invalid 'max_age' parameter."),
    (authorize_params(claims="not json"), "invalid_request", "Invalid 'claims' parameter."),
    (authorize_params(prompt="none login"), "invalid_request", "Invalid 'prompt' parameter."),
    (authorize_params(prompt="none"), "login_required", None),
    (authorize_params(id_token_hint="not.a.token"), "invalid_request", "Invalid 'id_token_hint'."),
    (_mobile(), "invalid_request", "Missing 'code_challenge'"),
    (_mobile(code_challenge=pkce()[1]), "invalid_request", "Unsupported 'code_challenge_method'"),
    (_mobile(code_challenge=pkce()[1], code_challenge_method="plain"), "invalid_request",
     "Unsupported 'code_challenge_method'"),
    (authorize_params(code_challenge=pkce()[1], code_challenge_method="plain"), "invalid_request",
     "Unsupported 'code_challenge_method'"),
], ids=["token", "hybrid", "request-object", "request-uri", "max-age", "claims", "prompt-none-login",
        "prompt-none", "bad-id-token-hint", "public-without-pkce", "pkce-default-plain", "pkce-plain-public",
        "pkce-plain-confidential"])
def test_errors_go_back_to_a_verified_redirect(flow, params, error, description):
    response = flow.authorize(**params)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    location = response.headers["Location"]
    assert location.startswith(params["redirect_uri"] + "?")
    result = query(location)
    assert result["error"] == error
    assert result["state"] == params["state"]
    assert result["iss"] == ISSUER
    if description:
        assert result["error_description"] == description


def test_unknown_parameters_are_ignored(flow, user):
    code, _ = flow.code_for("ada", frobnicate="1", display="page", ui_locales="fr-CA en",
                            claims_locales="fr", acr_values="urn:portail:acr:pwd", login_hint="ada")
    assert flow.exchange(code).status_code == 200


def test_interaction_is_bound_to_the_browser(flow, user, app):
    response = flow.authorize(**authorize_params())
    login = response.headers["Location"]
    interaction = query(login)["interaction"]
    other = app.test_client()
    resumed = other.get(f"/authorize/resume/{interaction}")
    assert resumed.status_code == 400
    assert "started in another browser" in resumed.get_data(as_text=True)
    assert flow.client.get("/authorize/resume/unknown").status_code == 400


def _code(flow, **params):
    code, _ = flow.code_for("ada", **params)
    return code


@pytest.mark.parametrize(("make", "status", "error", "description"), [
    (lambda f: f.exchange(_code(f), secret="wrong-secret-0123456789"), 401, "invalid_client", None),
    (lambda f: f.token({"grant_type": "authorization_code", "code": _code(f), "redirect_uri": WEB_REDIRECT}),
     401, "invalid_client", None),
    (lambda f: f.exchange(_code(f), redirect_uri="https://web.example.com/other"), 400, "invalid_grant",
     "Invalid 'redirect_uri' in request."),
    (lambda f: f.exchange("made-up-code"), 400, "invalid_grant", "Invalid 'code' in request."),
    (lambda f: f.exchange(_code(f), client_id="web-post"), 401, "invalid_client", None),
    (lambda f: f.exchange(_code(f, client_id="web-post")), 400, "invalid_grant", "Invalid 'code' in request."),
    (lambda f: f.exchange(_code(f), code_verifier=pkce()[0]), 400, "invalid_request",
     "The authorization request had no 'code_challenge', but a 'code_verifier' was provided."),
    (lambda f: f.exchange(_code(f, code_challenge=pkce()[1], code_challenge_method="S256")), 400,
     "invalid_request", "Missing 'code_verifier'"),
    (lambda f: f.exchange(_code(f, code_challenge=pkce()[1], code_challenge_method="S256"),
                          code_verifier=pkce()[0]), 400, "invalid_grant", "Code challenge failed."),
    (lambda f: f.token({"grant_type": "password", "username": "ada", "password": "x"}, basic("web", WEB_SECRET)),
     400, "unsupported_grant_type", None),
    (lambda f: f.token({"grant_type": "client_credentials"}, basic("web", WEB_SECRET)), 400,
     "unauthorized_client", None),
    (lambda f: f.token({"grant_type": "authorization_code", "code": "x", "redirect_uri": WEB_REDIRECT},
                       basic("api", API_SECRET)), 400, "unauthorized_client", None),
    (lambda f: f.token({"grant_type": "client_credentials", "client_id": "api", "client_secret": API_SECRET},
                       basic("api", API_SECRET)), 400, "invalid_request", None),
    (lambda f: f.token({"grant_type": "refresh_token", "refresh_token": "nope"}, basic("web", WEB_SECRET)),
     400, "invalid_grant", None),
], ids=["wrong-secret", "no-auth", "redirect-mismatch", "unknown-code", "other-client", "code-of-other-client",
        "verifier-without-challenge", "missing-verifier", "wrong-verifier", "password-grant",
        "cc-not-allowed", "code-not-allowed", "two-auth-methods", "unknown-refresh"])
def test_token_endpoint_rules(flow, user, make, status, error, description):
    response = make(flow)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == error
    if description:
        assert body["error_description"] == description


def test_public_client_needs_its_verifier(flow, user):
    _verifier, challenge = pkce()
    redirect = "http://127.0.0.1/callback"
    code, _ = flow.code_for("ada", client_id="mobile", redirect_uri=redirect, code_challenge=challenge,
                            code_challenge_method="S256")
    response = flow.token({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                           "client_id": "mobile"})
    assert response.get_json()["error"] == "invalid_request"


def test_code_expires(flow, user, app, backend, monkeypatch):
    import time

    from idp import store
    from idp.oidc.server import CODE_KEY
    from idp.oidc.tokens import hash_token

    code, _ = flow.code_for("ada")
    ttl = app.config["IDP"].tokens.code_ttl_seconds
    if backend.redis_url:
        # Redis expires the key itself: the code is stored with the code's lifetime, and once
        # Redis has let it go (brought forward to now), the exchange is refused.
        redis_store = app.extensions["idp.store"]
        key = redis_store._prefix + CODE_KEY + hash_token(code)
        assert 0 < redis_store._redis.pttl(key) <= ttl * 1000
        redis_store._redis.pexpire(key, 1)
        deadline = time.monotonic() + 2
        while redis_store._redis.exists(key) and time.monotonic() < deadline:
            time.sleep(0.01)
    else:
        later = time.monotonic() + ttl + 1
        monkeypatch.setattr(store.time, "monotonic", lambda: later)
    assert flow.exchange(code).get_json()["error"] == "invalid_grant"


def test_code_ttl_is_sixty_seconds(app):
    assert app.config["IDP"].tokens.code_ttl_seconds == 60
