"""The token endpoint's two ways in: answered before Flask's dispatch (an urlencoded body), or by
the Flask view (any other request). Both must answer alike, errors included."""

from __future__ import annotations

import json

import pytest

from idp.store import StoreUnavailableError
from tests.integration.oidc.conftest import API_SECRET, WEB_SECRET, basic, verify_jwt

CC = {"grant_type": "client_credentials"}


def _taken_early(app, monkeypatch) -> list[str]:
    """Record the requests the early path answers itself."""
    from idp.oidc.token_endpoint import TokenEndpoint

    taken: list[str] = []
    answer = TokenEndpoint._answer

    def spy(self, environ):
        taken.append(environ["PATH_INFO"])
        return answer(self, environ)

    monkeypatch.setattr(TokenEndpoint, "_answer", spy)
    return taken


def test_a_urlencoded_request_is_answered_before_flask_with_every_header(app, client, monkeypatch):
    taken = _taken_early(app, monkeypatch)
    response = client.post("/token", data=CC, headers=basic("api", API_SECRET))
    assert taken == ["/token"]
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in response.headers
    claims = verify_jwt(client, response.get_json()["access_token"], typ="at+jwt")
    assert claims["client_id"] == "api"


@pytest.mark.parametrize("how", ["multipart", "query"])
def test_other_requests_get_the_same_answer_from_the_view(app, client, monkeypatch, how):
    taken = _taken_early(app, monkeypatch)
    if how == "multipart":
        response = client.post("/token", data=CC, headers=basic("api", API_SECRET),
                               content_type="multipart/form-data")
    else:
        response = client.post("/token?x=1", data=CC, headers=basic("api", API_SECRET))
    assert taken == []
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    verify_jwt(client, response.get_json()["access_token"], typ="at+jwt")


@pytest.mark.parametrize("secret", [API_SECRET, "not-the-secret"], ids=["granted", "refused"])
def test_both_ways_give_the_same_status_headers_and_body(app, client, monkeypatch, secret):
    taken = _taken_early(app, monkeypatch)
    early = client.post("/token", data=CC, headers=basic("api", secret))
    view = client.post("/token", data=CC, headers=basic("api", secret), content_type="multipart/form-data")
    assert taken == ["/token"]
    assert early.status_code == view.status_code
    assert sorted(early.headers.keys()) == sorted(view.headers.keys())
    for name, value in view.headers.items():
        if name not in ("Content-Length",):
            assert early.headers[name] == value, name
    assert int(early.headers["Content-Length"]) == len(early.get_data())
    assert sorted(early.get_json()) == sorted(view.get_json())
    if secret != API_SECRET:
        assert early.get_json() == view.get_json() and early.get_json()["error"] == "invalid_client"
        assert early.headers["WWW-Authenticate"].startswith("Basic")
        assert (early.headers["Cache-Control"], early.headers["Pragma"]) == ("no-store", "no-cache")


def test_oauth_errors_are_the_rfc_json(client):
    wrong = client.post("/token", data=CC, headers=basic("api", "not-the-secret"))
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_client"
    assert "frame-ancestors 'none'" in wrong.headers["Content-Security-Policy"]
    unknown = client.post("/token", data={"grant_type": "password"}, headers=basic("api", API_SECRET))
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "unsupported_grant_type"
    twice = client.post("/token", data="grant_type=client_credentials&grant_type=client_credentials",
                        content_type="application/x-www-form-urlencoded", headers=basic("api", API_SECRET))
    assert twice.status_code == 400 and twice.get_json()["error"] == "invalid_request"


def test_a_body_over_the_limit_is_refused_as_json(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/token", data="grant_type=client_credentials&pad=" + "x" * limit,
                           content_type="application/x-www-form-urlencoded", headers=basic("api", API_SECRET))
    assert response.status_code == 413
    assert response.is_json and "error" in response.get_json()


def test_outages_and_bugs_are_answered_by_the_error_handlers(app, client, flow, user, monkeypatch):
    code, _ = flow.code_for("ada")

    def store_down(*_args, **_kwargs):
        raise StoreUnavailableError("redis: connection refused")

    monkeypatch.setattr("idp.oidc.server.take_json", store_down)
    down = flow.exchange(code)
    assert down.status_code == 503 and down.headers["Retry-After"] == "5"
    assert down.get_json()["error"] == "temporarily_unavailable"

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("idp.oidc.tokens.access_token_claims", broken)
    failed = client.post("/token", data=CC, headers=basic("api", API_SECRET))
    assert failed.status_code == 500
    body = failed.get_json()
    assert body["error"] == "server_error" and "Traceback" not in json.dumps(body) and "a bug" not in json.dumps(body)
    assert "frame-ancestors 'none'" in failed.headers["Content-Security-Policy"]


def test_the_code_flow_through_the_early_path(app, client, flow, user, monkeypatch):
    taken = _taken_early(app, monkeypatch)
    code, _ = flow.code_for("ada")
    first = flow.exchange(code)
    assert first.status_code == 200, first.get_data(as_text=True)
    refreshed = flow.token({"grant_type": "refresh_token", "refresh_token": first.get_json()["refresh_token"]},
                           basic("web", WEB_SECRET))
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    assert taken == ["/token", "/token"]
    verify_jwt(client, refreshed.get_json()["id_token"], audience="web")


def test_public_documents_are_those_of_the_views_with_their_headers(app, client):
    """/jwks and the discovery document are served as prepared bytes: the same JSON as the Flask
    views give, the same headers; after a key rotation the new key is published at once."""
    from flask import json as flask_json

    from idp.oidc import endpoints
    from idp.oidc.keys import rotate

    for path, view in (("/jwks", endpoints.jwks), ("/.well-known/openid-configuration",
                                                    endpoints.openid_configuration)):
        served = client.get(path)
        assert served.status_code == 200 and served.is_json
        with app.test_request_context(path):
            expected = view()
        assert served.get_json() == flask_json.loads(expected.get_data())
        assert served.headers["Cache-Control"] == "public, max-age=300"
        assert "frame-ancestors 'none'" in served.headers["Content-Security-Policy"]
        assert "Set-Cookie" not in served.headers
    assert client.get("/.well-known/openid-configuration").headers["Access-Control-Allow-Origin"] == "*"

    before = {key["kid"] for key in client.get("/jwks").get_json()["keys"]}
    new_kids = set(rotate())
    after = {key["kid"] for key in client.get("/jwks").get_json()["keys"]}
    assert new_kids <= after and before & after  # the previous keys stay published


def test_public_documents_fall_back_to_flask_when_the_keys_cannot_be_read(app, client, monkeypatch):
    from idp.oidc.keys import KeyRing

    def unreadable(self):
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(KeyRing, "public_jwks_json", unreadable)
    monkeypatch.setattr(KeyRing, "public_jwks", unreadable)
    response = client.get("/jwks")
    assert response.status_code == 500 and response.is_json
    assert "database unreachable" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/token", "/token?via=view"])
def test_the_token_endpoint_does_not_trust_the_host_header(client, path):
    """Behind a proxy that ends TLS, requests arrive over http with an internal host name; the
    grant is judged on the configured issuer, so neither path refuses it as insecure transport."""
    response = client.post(path, data=CC, headers={**basic("api", API_SECRET), "Host": "idp-internal.example"})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_key_another_process_has_just_published_verifies_at_once(app):
    """Two processes starting together may each create a signing key: a token signed by the other
    one's key verifies here at once, not a second later (the soak saw three such 401s at /userinfo)."""
    from idp.extensions import db
    from idp.oidc.keys import _store_new_key, keyring

    ring = keyring()
    assert ring.signing_key("RS256") is not None  # loaded now: the next reload would wait a second
    created = _store_new_key("RS256")  # as the other process does at its start
    db.session.commit()
    assert ring.find(created.kid) is not None
    assert ring.find("never-published") is None
