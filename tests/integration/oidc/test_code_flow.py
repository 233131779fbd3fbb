"""The authorization code flow through the Flask test client, with every JWT verified by PyJWT."""

from __future__ import annotations

import base64
import hashlib

from tests.integration.oidc.conftest import (
    ISSUER,
    WEB_REDIRECT,
    WEB_SECRET,
    authorize_params,
    basic,
    pkce,
    query,
    verify_jwt,
)


def _half_hash(value: str) -> str:
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_confidential_client_signs_in(flow, user, client):
    code, params = flow.code_for("ada")
    response = flow.exchange(code)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert set(body) >= {"access_token", "id_token", "refresh_token", "expires_in", "scope"}

    id_token = verify_jwt(client, body["id_token"], audience="web")
    assert id_token["sub"] == user.public_id
    assert id_token["nonce"] == params["nonce"]
    assert id_token["amr"] == ["pwd"]
    assert id_token["acr"] == "urn:portail:acr:pwd"
    assert id_token["at_hash"] == _half_hash(body["access_token"])
    assert {"iss", "aud", "exp", "iat", "auth_time", "sid"} <= set(id_token)
    assert id_token["email"] == user.email

    access = verify_jwt(client, body["access_token"], audience="web", typ="at+jwt")
    assert access["client_id"] == "web"
    assert access["sub"] == user.public_id
    assert access["scope"] == "openid profile email"

    info = client.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.status_code == 200
    claims = info.get_json()
    assert claims["sub"] == user.public_id
    assert claims["email"] == user.email
    assert claims["given_name"] == "Ada"
    assert "phone_number" not in claims

    posted = client.post("/userinfo", data={"access_token": body["access_token"]})
    assert posted.get_json() == claims


def test_sso_second_authorization_needs_no_sign_in(flow, user):
    flow.code_for("ada")
    code, _ = flow.code_for(None)  # the session is reused: no login page
    assert flow.exchange(code).status_code == 200


def test_client_secret_post_and_es256(flow, user, client):
    code, _ = flow.code_for("ada", client_id="web-post")
    response = flow.token({"grant_type": "authorization_code", "code": code, "redirect_uri": WEB_REDIRECT,
                           "client_id": "web-post", "client_secret": WEB_SECRET})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    id_token = verify_jwt(client, body["id_token"], audience="web-post")
    import jwt as pyjwt

    assert pyjwt.get_unverified_header(body["id_token"])["alg"] == "ES256"
    assert id_token["sub"] == user.public_id


def test_public_client_with_pkce_and_loopback_port(flow, user):
    verifier, challenge = pkce()
    redirect = "http://127.0.0.1:53111/callback"
    code, _ = flow.code_for("ada", client_id="mobile", redirect_uri=redirect, code_challenge=challenge,
                            code_challenge_method="S256")
    response = flow.token({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                           "client_id": "mobile", "code_verifier": verifier})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "refresh_token" in response.get_json()


def test_private_use_scheme_redirect(flow, user):
    _verifier, challenge = pkce()
    location = flow.follow_to_client(flow.authorize(**authorize_params(
        client_id="mobile", redirect_uri="com.example.app:/callback", code_challenge=challenge,
        code_challenge_method="S256")), login="ada")
    assert location.startswith("com.example.app:/callback?code=")


def test_discovery_is_complete(client):
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["issuer"] == ISSUER
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                "revocation_endpoint", "introspection_endpoint", "end_session_endpoint"):
        assert document[key].startswith(ISSUER + "/")
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert document["backchannel_logout_supported"] is True
    assert document["response_types_supported"] == ["code"]
    assert set(document["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert {"company", "companies", "company_id"} <= set(document["claims_supported"])
    keys = client.get("/jwks").get_json()["keys"]
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    assert all("d" not in k for k in keys)


def test_client_credentials(flow, client):
    response = flow.token({"grant_type": "client_credentials", "scope": "companies"},
                          basic("api", "api-secret-0123456789abcdef"))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert "refresh_token" not in body and "id_token" not in body
    access = verify_jwt(client, body["access_token"], audience="api", typ="at+jwt")
    assert access["sub"] == "api"


def test_refresh_rotates_and_reuse_revokes_the_family(flow, user, client):
    code, _ = flow.code_for("ada")
    first = flow.exchange(code).get_json()
    refreshed = flow.token({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                           basic("web", WEB_SECRET))
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    second = refreshed.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    new_id = verify_jwt(client, second["id_token"], audience="web")
    assert new_id["sub"] == user.public_id and "nonce" not in new_id

    reuse = flow.token({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                       basic("web", WEB_SECRET))
    assert reuse.status_code == 400
    assert reuse.get_json()["error"] == "invalid_grant"
    # The whole family is revoked: the newest refresh token and its access token too.
    again = flow.token({"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
                       basic("web", WEB_SECRET))
    assert again.get_json()["error"] == "invalid_grant"
    info = client.get("/userinfo", headers={"Authorization": "Bearer " + second["access_token"]})
    assert info.status_code == 401


def test_second_redemption_fails_and_revokes(flow, user, client):
    code, _ = flow.code_for("ada")
    first = flow.exchange(code).get_json()
    second = flow.exchange(code)
    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    assert client.get("/userinfo", headers={"Authorization": "Bearer " + first["access_token"]}).status_code == 401
    refresh = flow.token({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                         basic("web", WEB_SECRET))
    assert refresh.get_json()["error"] == "invalid_grant"


def test_prompt_none_without_session(flow):
    response = flow.authorize(**authorize_params(prompt="none"))
    assert response.status_code == 302
    result = query(response.headers["Location"])
    assert result["error"] == "login_required"
    assert result["iss"] == ISSUER
    assert "state" in result


def test_prompt_none_with_session(flow, user):
    flow.code_for("ada")
    response = flow.authorize(**authorize_params(prompt="none"))
    assert "code" in query(response.headers["Location"])


def test_a_refused_refresh_leaves_the_token_usable(flow, user, client):
    """The rotation is committed with the new token: an answer that fails after the claim (a scope
    never granted, another client's credentials) does not spend the refresh token."""
    code, _ = flow.code_for("ada")
    first = flow.exchange(code).get_json()
    wider = flow.token({"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                        "scope": "openid offline_access admin"}, basic("web", WEB_SECRET))
    assert wider.status_code == 400
    assert wider.get_json()["error"] == "invalid_scope"
    other = flow.token({"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                        "client_id": "web-post", "client_secret": WEB_SECRET})
    assert other.status_code == 400
    assert other.get_json()["error"] == "invalid_grant"

    refreshed = flow.token({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                           basic("web", WEB_SECRET))
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    verify_jwt(client, refreshed.get_json()["id_token"], audience="web")


def test_a_rotation_that_cannot_be_stored_hands_out_no_token(flow, user, client, app, monkeypatch):
    """Should the commit of a rotation fail, the answer is a JSON 503 and the old token still works."""
    from sqlalchemy.exc import OperationalError

    from idp.extensions import db

    code, _ = flow.code_for("ada")
    first = flow.exchange(code).get_json()
    real_commit = db.session.commit

    def failing_commit() -> None:
        raise OperationalError("COMMIT", {}, Exception("database is locked"))

    monkeypatch.setattr(db.session, "commit", failing_commit)
    refused = flow.token({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                         basic("web", WEB_SECRET))
    assert refused.status_code == 503
    assert refused.get_json()["error"] == "temporarily_unavailable"
    assert refused.headers["Retry-After"] == "5"
    assert "access_token" not in refused.get_json() and refused.headers["Cache-Control"] == "no-store"
    monkeypatch.setattr(db.session, "commit", real_commit)

    refreshed = flow.token({"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                           basic("web", WEB_SECRET))
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
