"""Revocation, introspection, claims (companies), consent, keys and the signals that revoke tokens."""

from __future__ import annotations

import json

import pytest

from tests.factories import make_company, make_membership, make_user
from tests.integration.oidc.conftest import (
    API_SECRET,
    ISSUER,
    WEB_REDIRECT,
    WEB_SECRET,
    authorize_params,
    basic,
    query,
    verify_jwt,
)


def _tokens(flow, **params):
    return _tokens_for(flow, "ada", **params)


def _tokens_for(flow, login, **params):
    code, _ = flow.code_for(login, **params)
    response = flow.exchange(code)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_revoking_a_refresh_token_revokes_its_family(flow, user, client):
    body = _tokens(flow)
    response = client.post("/revoke", data={"token": body["refresh_token"], "token_type_hint": "refresh_token"},
                           headers=basic("web", WEB_SECRET))
    assert response.status_code == 200
    refresh = flow.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                         basic("web", WEB_SECRET))
    assert refresh.get_json()["error"] == "invalid_grant"
    assert client.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}).status_code == 401


def test_revoking_an_access_token(flow, user, client):
    body = _tokens(flow)
    assert client.post("/revoke", data={"token": body["access_token"]}, headers=basic("web", WEB_SECRET)).status_code \
        == 200
    info = client.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.status_code == 401
    assert 'error="invalid_token"' in info.headers["WWW-Authenticate"]


@pytest.mark.parametrize(("data", "headers", "status", "error"), [
    ({"token": "x"}, {}, 401, "invalid_client"),
    ({}, "web", 400, "invalid_request"),
], ids=["no-client", "no-token"])
def test_revocation_rules(client, data, headers, status, error):
    response = client.post("/revoke", data=data, headers=basic("web", WEB_SECRET) if headers == "web" else headers)
    assert response.status_code == status
    assert response.get_json()["error"] == error


def test_revoking_an_unknown_or_foreign_token_is_ok(flow, user, client):
    body = _tokens(flow)
    assert client.post("/revoke", data={"token": "unknown"}, headers=basic("web", WEB_SECRET)).status_code == 200
    assert client.post("/revoke", data={"token": "unknown", "token_type_hint": "id_token"},
                       headers=basic("web", WEB_SECRET)).status_code == 200
    # Another client cannot revoke it: the answer is the same, and the token still works.
    assert client.post("/revoke", data={"token": body["refresh_token"], "client_id": "web-post",
                                        "client_secret": WEB_SECRET}).status_code == 200
    refresh = flow.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                         basic("web", WEB_SECRET))
    assert refresh.status_code == 200


def test_introspection(flow, user, client):
    body = _tokens(flow)
    active = client.post("/introspect", data={"token": body["access_token"]}, headers=basic("api", API_SECRET))
    assert active.status_code == 200
    result = active.get_json()
    assert result["active"] is True and result["sub"] == user.public_id and result["client_id"] == "web"
    refresh = client.post("/introspect", data={"token": body["refresh_token"]}, headers=basic("web", WEB_SECRET))
    assert refresh.get_json()["active"] is True
    foreign = client.post("/introspect", data={"token": body["refresh_token"]}, headers=basic("api", API_SECRET))
    assert foreign.get_json() == {"active": False}
    assert client.post("/introspect", data={"token": "garbage"},
                       headers=basic("api", API_SECRET)).get_json() == {"active": False}
    client.post("/revoke", data={"token": body["access_token"]}, headers=basic("web", WEB_SECRET))
    assert client.post("/introspect", data={"token": body["access_token"]},
                       headers=basic("api", API_SECRET)).get_json() == {"active": False}


def test_introspection_is_for_confidential_clients(client):
    response = client.post("/introspect", data={"token": "x", "client_id": "mobile"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize(("headers", "data", "status", "error"), [
    ({}, None, 401, None),
    ({"Authorization": "Bearer not-a-jwt"}, None, 401, "invalid_token"),
    ({"Authorization": "Basic abc"}, None, 400, "invalid_request"),
], ids=["none", "garbage", "basic"])
def test_userinfo_rules(client, headers, data, status, error):
    response = client.get("/userinfo", headers=headers)
    assert response.status_code == status
    if error:
        assert f'error="{error}"' in response.headers["WWW-Authenticate"]


def test_userinfo_refuses_a_token_without_openid(flow, user, client):
    body = flow.token({"grant_type": "client_credentials"}, basic("api", API_SECRET)).get_json()
    assert client.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}).status_code in (
        401, 403)


def test_company_claims(flow, user, client):
    acme = make_company("C-100", name="Acme")
    beta = make_company("C-200", name="Beta", active=False)
    make_membership(user, acme, role="order", is_admin=True, branch="Lyon")
    make_membership(user, beta, role="prices_only")
    body = _tokens(flow, scope="openid companies")
    id_token = verify_jwt(client, body["id_token"], audience="web")
    assert id_token["companies"] == [{"id": "C-100", "name": "Acme", "role": "order", "admin": True,
                                      "branch": "Lyon"}]
    assert id_token["company"]["id"] == "C-100"
    assert (id_token["company_id"], id_token["company_name"], id_token["company_role"], id_token["company_admin"],
            id_token["company_branch"]) == ("C-100", "Acme", "order", "true", "Lyon")
    info = client.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}).get_json()
    assert info["company"] == id_token["company"]
    refreshed = flow.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                           basic("web", WEB_SECRET)).get_json()
    assert verify_jwt(client, refreshed["id_token"], audience="web")["company_id"] == "C-100"


def test_no_company_claim_when_several_and_none_chosen(flow, user, client):
    make_membership(user, make_company("C-300"))
    make_membership(user, make_company("C-400"))
    # Without the company_choice flow nobody chose: `company` is absent, `companies` lists both.
    body = _tokens(flow, scope="openid companies")
    id_token = verify_jwt(client, body["id_token"], audience="web")
    assert len(id_token["companies"]) == 2
    assert "company" not in id_token and "company_id" not in id_token


def test_memberships_are_read_only_for_a_company_claim(flow, user, client, app):
    """A grant whose tokens carry no company claim reads no membership; one that does reads them once."""
    from sqlalchemy import event

    from idp.extensions import db

    make_membership(user, make_company("C-500", name="Gamma"), role="order")
    without = _tokens(flow, scope="openid offline_access")
    with_companies = _tokens(flow, scope="openid offline_access companies")
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        plain = flow.token({"grant_type": "refresh_token", "refresh_token": without["refresh_token"]},
                           basic("web", WEB_SECRET))
        plain_reads = [s for s in statements if "memberships" in s]
        statements.clear()
        rich = flow.token({"grant_type": "refresh_token", "refresh_token": with_companies["refresh_token"]},
                          basic("web", WEB_SECRET))
        rich_reads = [s for s in statements if "memberships" in s]
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert plain.status_code == 200 and rich.status_code == 200
    assert plain_reads == []
    assert "companies" not in verify_jwt(client, plain.get_json()["id_token"], audience="web")
    assert len(rich_reads) == 1
    assert verify_jwt(client, rich.get_json()["id_token"], audience="web")["company_id"] == "C-500"
    assert verify_jwt(client, rich.get_json()["access_token"], audience="web", typ="at+jwt")["company_id"] == "C-500"


def test_claims_request_parameter(flow, user, client):
    claims = json.dumps({"id_token": {"phone_number": {"essential": True}}})
    body = _tokens(flow, scope="openid", claims=claims)
    id_token = verify_jwt(client, body["id_token"], audience="web")
    assert id_token["phone_number"] == "+33 1 23 45 67 89"
    assert "email" not in id_token


def _userinfo(client, access_token):
    response = client.get("/userinfo", headers={"Authorization": "Bearer " + access_token})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


USERINFO_REQUEST = json.dumps({"userinfo": {"email": {"essential": True}, "phone_number": None,
                                            "frobnicate": {"essential": True}}})


def test_claims_request_parameter_for_userinfo(flow, user, client):
    body = _tokens(flow, scope="openid", claims=USERINFO_REQUEST)
    info = _userinfo(client, body["access_token"])
    assert info["email"] == user.email
    assert info["phone_number"] == "+33 1 23 45 67 89"
    assert "frobnicate" not in info  # an unknown claim is ignored
    assert "given_name" not in info and "email_verified" not in info  # nothing else than asked for
    # Asked for the UserInfo endpoint only: the ID token keeps to the scope.
    id_token = verify_jwt(client, body["id_token"], audience="web")
    assert "email" not in id_token and "phone_number" not in id_token
    access = verify_jwt(client, body["access_token"], audience="web", typ="at+jwt")
    assert access["userinfo_claims"] == ["email", "phone_number"]
    # The refresh family keeps them.
    refreshed = flow.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                           basic("web", WEB_SECRET)).get_json()
    assert _userinfo(client, refreshed["access_token"])["email"] == user.email
    # Without the parameter, the scope alone.
    plain = _userinfo(client, _tokens(flow, scope="openid")["access_token"])
    assert "email" not in plain and "phone_number" not in plain


def test_claims_request_for_userinfo_without_a_value(flow, client):
    person = make_user(username="grace", given_name="Grace")
    body = _tokens_for(flow, "grace", scope="openid", claims=USERINFO_REQUEST)
    info = _userinfo(client, body["access_token"])
    assert info["email"] == person.email
    assert "phone_number" not in info  # the user has none: omitted, not null


@pytest.mark.parametrize("config_overrides", [{"clients": [
    {"client_id": "web", "secret": WEB_SECRET, "redirect_uris": [WEB_REDIRECT], "scopes": ["openid", "profile"]},
]}])
def test_claims_request_stays_within_the_client_scopes(flow, user, client):
    claims = json.dumps({"userinfo": {"email": None, "given_name": None},
                         "id_token": {"phone_number": None, "family_name": None}})
    body = _tokens(flow, scope="openid", claims=claims)
    info = _userinfo(client, body["access_token"])
    assert info["given_name"] == "Ada"
    assert "email" not in info
    id_token = verify_jwt(client, body["id_token"], audience="web")
    assert id_token["family_name"] == "Lovelace"
    assert "phone_number" not in id_token


@pytest.mark.parametrize("claims", ["{", '["userinfo"]', '"userinfo"'])
def test_malformed_claims_request(flow, user, claims):
    params = authorize_params(claims=claims)
    result = query(flow.authorize(**params).headers["Location"])
    assert result["error"] == "invalid_request"
    assert result["error_description"] == "Invalid 'claims' parameter."
    assert result["state"] == params["state"]


def test_consent_is_asked_once_and_remembered(flow, user):
    params = {"client_id": "third", "redirect_uri": "https://third.example.com/cb"}
    flow.code_for("ada", consent=True, **params)
    code, _ = flow.code_for(None, **params)  # remembered: no page
    assert code
    response = flow.authorize(**authorize_params(prompt="consent", **params))
    assert response.headers["Location"].startswith("/consent")


def test_consent_refused(flow, user):
    params = authorize_params(client_id="third", redirect_uri="https://third.example.com/cb")
    location = flow.follow_to_client(flow.authorize(**params), login="ada", consent=False)
    assert query(location)["error"] == "access_denied"


def test_prompt_none_needing_consent(flow, user):
    flow.code_for("ada")  # signed in
    response = flow.authorize(**authorize_params(client_id="third", redirect_uri="https://third.example.com/cb",
                                                 prompt="none"))
    assert query(response.headers["Location"])["error"] == "consent_required"


def test_prompt_login_and_max_age_ask_again(flow, user):
    flow.code_for("ada")
    for extra in ({"prompt": "login"}, {"max_age": "0"}):
        response = flow.authorize(**authorize_params(**extra))
        assert response.headers["Location"].startswith("/login?"), extra
        flow.follow_to_client(response, login="ada")


def test_id_token_hint_of_someone_else_asks_to_sign_in(flow, user, client):
    from tests.factories import make_user

    other = make_user(username="bob")
    body = _tokens(flow)
    hint = body["id_token"]
    flow.follow_to_client(flow.authorize(**authorize_params(prompt="login")), login="bob")
    response = flow.authorize(**authorize_params(id_token_hint=hint, prompt="none"))
    assert query(response.headers["Location"])["error"] == "login_required"
    assert other.public_id != user.public_id


def test_key_rotation_keeps_old_tokens_verifiable(flow, user, client, app):
    from idp.oidc.keys import rotate

    before = _tokens(flow)
    old_kid = __import__("jwt").get_unverified_header(before["id_token"])["kid"]
    with app.app_context():
        rotate()
    after = _tokens(flow)
    new_kid = __import__("jwt").get_unverified_header(after["id_token"])["kid"]
    assert new_kid != old_kid
    kids = {k["kid"] for k in client.get("/jwks").get_json()["keys"]}
    assert {old_kid, new_kid} <= kids
    verify_jwt(client, before["id_token"], audience="web")
    assert client.get("/userinfo", headers={"Authorization": "Bearer " + before["access_token"]}).status_code == 200
    with app.app_context():
        rotate()
    kids = {k["kid"] for k in client.get("/jwks").get_json()["keys"]}
    assert old_kid not in kids and new_kid in kids


def test_disabling_a_user_revokes_their_refresh_tokens(flow, user, app):
    from idp import accounts

    body = _tokens(flow)
    with app.app_context():
        accounts.disable_user(user.email)
        from idp.extensions import db

        db.session.commit()
    refresh = flow.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                         basic("web", WEB_SECRET))
    assert refresh.get_json()["error"] == "invalid_grant"
    introspected = flow.client.post("/introspect", data={"token": body["access_token"]},
                                    headers=basic("api", API_SECRET))
    assert introspected.get_json() == {"active": False}


def test_company_parameter_names_the_company(flow, user, client):
    make_membership(user, make_company("C-500", name="Five"))
    make_membership(user, make_company("C-600", name="Six"))
    body = _tokens(flow, scope="openid companies", company="C-600")
    assert verify_jwt(client, body["id_token"], audience="web")["company_id"] == "C-600"


def test_company_chosen_by_the_company_step(flow, user, client, app):
    from idp import pipeline

    make_membership(user, make_company("C-700", name="Seven"))
    chosen = make_company("C-800", name="Eight")
    make_membership(user, chosen, role="prices_only")
    params = authorize_params(scope="openid companies")
    login = flow.authorize(**params)
    interaction = query(login.headers["Location"])["interaction"]
    signed_in = flow.actions.submit("/login", {"login": "ada", "password": "Correct-Horse-9-Battery",
                                               "interaction": interaction}, form_path=login.headers["Location"])
    # What the company step (idp/flows/company_choice.py) records: the contract the claims read.
    with app.test_request_context():
        resume = pipeline.complete(interaction, "company", company_id=chosen.public_id)
    assert signed_in.headers["Location"] == resume
    location = flow.follow_to_client(signed_in)
    body = flow.exchange(query(location)["code"]).get_json()
    id_token = verify_jwt(client, body["id_token"], audience="web")
    assert (id_token["company_id"], id_token["company_role"]) == ("C-800", "prices_only")
    info = client.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}).get_json()
    assert info["company_id"] == "C-800"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_signed_tokens_carry_any_text_and_verify_with_another_library(app, client, alg):
    """The compact serialisation is ours: PyJWT (against /jwks) and joserfc both read it back,
    French names included, and a token altered after signing is refused."""
    import time

    from idp.oidc import tokens

    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "x1", "aud": "web", "iat": now, "exp": now + 60,
              "name": "Hélène Çavaillé-Ørsted", "scope": "openid"}
    token = tokens.sign(dict(claims), alg, "JWT")
    assert verify_jwt(client, token, audience="web") == claims
    assert tokens.verify(token) == claims
    header, payload, signature = token.split(".")
    forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    assert tokens.verify(f"{header}.{forged}.{signature}") is None
