"""Only an ID token of ours is an id_token_hint, at /logout and at /authorize.

Review finding: an access token passed as `id_token_hint` to /logout signed the person out at
once, without asking (the hint is taken as the client's proof of who is signed out).
"""

from __future__ import annotations

import time

import pytest

from idp.oidc import tokens
from tests.integration.oidc.conftest import API_SECRET, ISSUER, authorize_params, basic, query


def _signed_in(flow):
    code, _ = flow.code_for("ada")
    return flow.exchange(code).get_json()


def _claims(user, **extra):
    now = int(time.time())
    return {"iss": ISSUER, "aud": "web", "sub": user.public_id, "iat": now, "exp": now + 600, **extra}


def _service_token(flow):
    response = flow.token({"grant_type": "client_credentials"}, basic("api", API_SECRET))
    return response.get_json()["access_token"]


# Each makes a token that is signed by the provider's own keys, and is not an ID token.
NOT_ID_TOKENS = {
    "access-token": lambda flow, user, body: body["access_token"],
    "service-access-token": lambda flow, user, body: _service_token(flow),
    "logout-token": lambda flow, user, body: tokens.sign(_claims(
        user, jti="j1", sid="s1", events={"http://schemas.openid.net/event/backchannel-logout": {}}),
        typ="logout+jwt"),
    "jwt-for-no-client": lambda flow, user, body: tokens.sign(_claims(user, aud="nobody")),
    "jwt-with-an-audience-list": lambda flow, user, body: tokens.sign(_claims(user, aud=["web", "nobody"])),
    "jwt-of-another-issuer": lambda flow, user, body: tokens.sign(_claims(user, iss="https://other.example")),
    "jwt-with-access-claims": lambda flow, user, body: tokens.sign(_claims(user, scope="openid", client_id="web")),
    "at-jwt-shaped-as-id-token": lambda flow, user, body: tokens.sign(_claims(user), typ="at+jwt"),
}


def _still_signed_in(flow):
    again = flow.authorize(**authorize_params(prompt="none"))
    assert "code" in query(again.headers["Location"]), again.headers["Location"]


@pytest.mark.parametrize("make", NOT_ID_TOKENS.values(), ids=NOT_ID_TOKENS.keys())
def test_logout_refuses_a_hint_that_is_not_an_id_token(flow, user, client, make):
    body = _signed_in(flow)
    hint = make(flow, user, body)
    response = client.get("/logout", query_string={"id_token_hint": hint,
                                                   "post_logout_redirect_uri": "https://web.example.com/"})
    assert response.status_code == 400
    assert "The sign-out request is not valid (id_token_hint)." in response.get_data(as_text=True)
    _still_signed_in(flow)


@pytest.mark.parametrize("make", NOT_ID_TOKENS.values(), ids=NOT_ID_TOKENS.keys())
def test_authorize_refuses_a_hint_that_is_not_an_id_token(flow, user, make):
    body = _signed_in(flow)
    params = authorize_params(id_token_hint=make(flow, user, body), prompt="none")
    result = query(flow.authorize(**params).headers["Location"])
    assert (result["error"], result["error_description"]) == ("invalid_request", "Invalid 'id_token_hint'.")
    assert result["state"] == params["state"]


def test_the_id_token_itself_is_a_hint(flow, user, client):
    body = _signed_in(flow)
    silent = query(flow.authorize(**authorize_params(id_token_hint=body["id_token"], prompt="none"))
                   .headers["Location"])
    assert "code" in silent
    response = client.get("/logout", query_string={"id_token_hint": body["id_token"],
                                                   "post_logout_redirect_uri": "https://web.example.com/"})
    assert response.status_code == 302 and response.headers["Location"] == "https://web.example.com/"
    gone = query(flow.authorize(**authorize_params(prompt="none")).headers["Location"])
    assert gone["error"] == "login_required"
