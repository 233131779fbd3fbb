"""Claims asked for one by one (the `claims` parameter) go through consent as the scopes that carry them.

Review finding: a client requiring consent asked `scope=openid` and `claims` for the email, names
and companies; the page listed only "Know who you are", yet the tokens carried all of it, and the
consent was reused for later requests.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models.oidc import Consent
from tests.conftest import csrf_from
from tests.factories import make_company, make_membership
from tests.integration.oidc.conftest import WEB_REDIRECT, WEB_SECRET, authorize_params, basic, query, verify_jwt

THIRD = {"client_id": "third", "redirect_uri": "https://third.example.com/cb"}
CLAIMS = json.dumps({"id_token": {"email": None, "companies": None},
                     "userinfo": {"given_name": None, "family_name": None, "email": {"essential": True}}})
ONLY_WHO = "Know who you are"
LABELS = {"email": "Your email address", "companies": "Your companies and your role in each",
          "profile": "Your name, username and language"}


@pytest.fixture
def member(user):
    make_membership(user, make_company("C-77", name="Lovelace SA"), role="order")
    return user


def _signed_in(flow):
    flow.code_for("ada")  # a first-party sign-in: the session, no consent


def _consent_page(flow, **params):
    """The consent page this request leads to (the person is signed in already)."""
    response = flow.authorize(**authorize_params(**THIRD, **params))
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    location = response.headers["Location"]
    assert location.startswith("/consent?"), location
    return location, flow.client.get(location)


def _decide(flow, location, page, decision):
    response = flow.client.post(location, data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                                "decision": decision})
    return flow.follow_to_client(response)


def _exchange(flow, location):
    result = query(location)
    assert "code" in result, location
    response = flow.exchange(result["code"], client_id="third", redirect_uri=THIRD["redirect_uri"])
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _remembered(user):
    db.session.expire_all()
    row = db.session.execute(select(Consent).where(Consent.user_id == user.id,
                                                   Consent.client_id == "third")).scalar_one_or_none()
    return set(row.scopes.split()) if row is not None else set()


def test_claims_are_shown_consented_and_remembered_as_their_scopes(flow, member, client):
    _signed_in(flow)
    location, page = _consent_page(flow, scope="openid", claims=CLAIMS)
    html = page.get_data(as_text=True)
    assert ONLY_WHO in html
    for label in LABELS.values():
        assert label in html, label
    body = _exchange(flow, _decide(flow, location, page, "allow"))
    id_token = verify_jwt(client, body["id_token"], audience="third")
    assert id_token["email"] == member.email
    assert [c["id"] for c in id_token["companies"]] == ["C-77"]
    info = client.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}).get_json()
    assert (info["given_name"], info["family_name"], info["email"]) == ("Ada", "Lovelace", member.email)
    assert _remembered(member) == {"openid", "email", "companies", "profile"}
    # Remembered as scopes: a later request for the email scope itself asks nothing more.
    response = flow.authorize(**authorize_params(**THIRD, scope="openid email"))
    assert response.headers["Location"].startswith(THIRD["redirect_uri"] + "?code=")


def test_a_consent_to_openid_alone_does_not_cover_claims_asked_later(flow, member, client):
    _signed_in(flow)
    location, page = _consent_page(flow, scope="openid")
    assert _exchange(flow, _decide(flow, location, page, "allow"))
    assert _remembered(member) == {"openid"}
    # The same scope, now with claims: asked again, showing what the claims need.
    location, page = _consent_page(flow, scope="openid", claims=CLAIMS)
    assert LABELS["email"] in page.get_data(as_text=True)
    # Silently, the request that needs a new consent is consent_required, not tokens.
    silent = flow.authorize(**authorize_params(**THIRD, scope="openid", claims=CLAIMS, prompt="none"))
    assert query(silent.headers["Location"])["error"] == "consent_required"


def test_refusing_releases_nothing_and_remembers_nothing(flow, member):
    _signed_in(flow)
    location, page = _consent_page(flow, scope="openid", claims=CLAIMS)
    result = query(_decide(flow, location, page, "deny"))
    assert result["error"] == "access_denied" and "code" not in result
    assert _remembered(member) == set()


@pytest.mark.parametrize("config_overrides", [{"flows": ["login", "consent"], "clients": [
    {"client_id": "web", "secret": WEB_SECRET, "redirect_uris": [WEB_REDIRECT], "scopes": ["openid", "profile"]},
]}])
def test_a_first_party_client_gets_no_claim_beyond_its_scopes(flow, member, client):
    """No consent is asked of a first-party client: its `scopes` bound what `claims` may add."""
    asked = json.dumps({"id_token": {"email": None, "companies": None, "company_id": None, "phone_number": None,
                                     "given_name": None},
                        "userinfo": {"email": None, "company": None, "companies": None, "family_name": None}})
    code, _ = flow.code_for("ada", scope="openid", claims=asked)
    body = flow.exchange(code).get_json()
    id_token = verify_jwt(client, body["id_token"], audience="web")
    assert id_token["given_name"] == "Ada"
    assert not {"email", "companies", "company_id", "phone_number"} & set(id_token)
    access = verify_jwt(client, body["access_token"], audience="web", typ="at+jwt")
    assert access["userinfo_claims"] == ["family_name"]
    info = client.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}).get_json()
    assert info["family_name"] == "Lovelace"
    assert not {"email", "company", "companies"} & set(info)
    refreshed = flow.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                           basic("web", WEB_SECRET)).get_json()
    assert not {"email", "companies"} & set(verify_jwt(client, refreshed["id_token"], audience="web"))
