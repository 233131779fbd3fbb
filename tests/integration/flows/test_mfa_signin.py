"""The sign-in step `mfa`: who must prove a second factor, with what, and what the tokens then say."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, MfaFactor
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.companies.helpers import authorize, browser, id_token, person, tokens, walk
from tests.integration.flows.mfa_helpers import (
    ORIGIN,
    RP_ID,
    add_key,
    add_totp,
    code_at,
    mfa_config,
    post_code,
    webauthn_assert,
)
from tests.integration.oidc.conftest import basic, query
from tests.webauthn_authenticator import SoftAuthenticator

ACR_MFA = "urn:portail:acr:mfa"


@pytest.fixture
def config_overrides():
    return mfa_config(["company_admins"])


def _events(name):
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def _to_mfa(actions, client_id="shop", **extra):
    """Start a sign-in to the portal; the /mfa page it stops at (a path)."""
    redirect_uri = {"shop": "https://shop.example.com/callback",
                    "catalogue": "https://catalogue.example.com/callback",
                    "prices": "https://prices.example.com/callback"}[client_id]
    response = authorize(actions.client, client_id=client_id, redirect_uri=redirect_uri, **extra)
    result = walk(actions, response)
    assert not isinstance(result, str), f"no second factor was asked for: {result}"
    location = response.headers["Location"]
    for _ in range(5):
        if location.startswith("/mfa"):
            return location
        location = actions.client.get(location).headers["Location"]
    raise AssertionError(location)


def _finish(actions, response):
    location = walk(actions, response)
    assert isinstance(location, str) and "code=" in location, location
    return location


@pytest.fixture
def admin(app):
    company = make_company("C-1", name="Alpha")
    user, actions = person(app, "boss@example.com")
    make_membership(user, company, role="order", is_admin=True)
    return user, actions


def test_a_covered_person_proves_a_totp_code_and_the_id_token_says_so(app, admin):
    user, actions = admin
    secret = add_totp(user)
    path = _to_mfa(actions)
    page = actions.client.get(path)
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.get_data(as_text=True)

    location = _finish(actions, post_code(actions.client, path, code=code_at(secret)))
    claims = id_token(actions.client, tokens(actions.client, location))
    assert set(claims["amr"]) == {"pwd", "otp", "mfa"}
    assert claims["acr"] == ACR_MFA
    # The SSO session keeps the proof: the next portal does not ask again.
    again = walk(actions, authorize(actions.client, client_id="catalogue",
                                    redirect_uri="https://catalogue.example.com/callback"))
    assert isinstance(again, str) and "code=" in again


def test_without_a_factor_nothing_is_issued_and_prompt_none_is_interaction_required(app, admin):
    user, actions = admin
    add_totp(user)
    response = authorize(actions.client, prompt="none")
    assert query(response.headers["Location"])["error"] == "interaction_required"
    path = _to_mfa(actions)
    assert post_code(actions.client, path, code="000000").status_code == 401


def test_a_used_code_is_refused_a_second_time(app, admin):
    user, actions = admin
    secret = add_totp(user)
    code = code_at(secret)
    _finish(actions, post_code(actions.client, _to_mfa(actions), code=code))
    other = browser(app)
    assert other.login("boss@example.com", PASSWORD).status_code == 302
    refused = post_code(other.client, _to_mfa(other), code=code)
    assert refused.status_code == 401
    assert [e.details["reason"] for e in _events("user.mfa_failed")] == ["replayed"]


@pytest.mark.parametrize(("offset", "accepted"), [(-1, True), (1, True), (-2, False), (2, False)])
def test_one_step_of_clock_skew_is_accepted_two_are_not(app, admin, offset, accepted):
    user, actions = admin
    secret = add_totp(user)
    response = post_code(actions.client, _to_mfa(actions), code=code_at(secret, offset))
    assert (response.status_code == 302) is accepted


def test_a_recovery_code_works_once(app, admin):
    from idp.security import mfa

    user, actions = admin
    add_totp(user)
    with app.test_request_context():
        codes = mfa.issue_recovery_codes(user, notify=False)
        db.session.commit()
    location = _finish(actions, post_code(actions.client, _to_mfa(actions), recovery_code=codes[0].upper()))
    assert id_token(actions.client, tokens(actions.client, location))["acr"] == ACR_MFA
    other = browser(app)
    other.login("boss@example.com", PASSWORD)
    assert post_code(other.client, _to_mfa(other), recovery_code=codes[0]).status_code == 401
    assert post_code(other.client, _to_mfa(other), recovery_code=codes[1]).status_code == 302


def test_wrong_codes_are_throttled_per_account_even_the_right_one_then(app, admin):
    user, actions = admin
    secret = add_totp(user)
    path = _to_mfa(actions)
    for _ in range(5):
        assert post_code(actions.client, path, code="123456").status_code == 401
    refused = post_code(actions.client, path, code=code_at(secret))
    assert refused.status_code == 401
    assert "not correct" in refused.get_data(as_text=True)
    assert _events("user.mfa_locked_out")


SELECTOR_CASES = [
    # (selector, the covered person and their portal, the one not covered and theirs)
    ("operators", {"is_operator": True}, {}),
    ("company_admins", {"admin": True}, {}),
    ("role:order", {"role": "order"}, {"role": "order_for_approval"}),
    ("company:C-1", {"company": "C-1"}, {"company": "C-2"}),
    ("client:catalogue", {"portal": "catalogue"}, {"portal": "shop"}),
]


@pytest.mark.parametrize(("selector", "covered", "other"), SELECTOR_CASES, ids=[case[0] for case in SELECTOR_CASES])
def test_each_selector_forces_the_step_for_whom_it_names_only(make_app, selector, covered, other):
    app = make_app(**mfa_config([selector]))
    with app.app_context():
        companies = {"C-1": make_company("C-1", name="Alpha"), "C-2": make_company("C-2", name="Beta")}
        for email, setup, expected in (("in@example.com", covered, True), ("out@example.com", other, False)):
            user = make_user(email, locale="en", is_operator=setup.get("is_operator", False))
            make_membership(user, companies[setup.get("company", "C-1")], role=setup.get("role", "order"),
                            is_admin=setup.get("admin", False))
            add_totp(user)
            actions = browser(app)
            actions.login(email, PASSWORD)
            portal = setup.get("portal", "shop")
            redirect_uri = f"https://{portal}.example.com/callback"
            result = walk(actions, authorize(actions.client, client_id=portal, redirect_uri=redirect_uri))
            asked = not isinstance(result, str)
            if asked:
                assert result.status_code == 200 and "Two-step verification" in result.get_data(as_text=True)
            assert asked is expected, (email, selector)


def test_a_client_asks_for_a_second_factor_by_acr_values_or_an_essential_acr_claim(make_app):
    app = make_app(**mfa_config([]))
    with app.app_context():
        company = make_company("C-1", name="Alpha")
        user, actions = person(app, "ana@example.com")
        make_membership(user, company, role="order")
        secret = add_totp(user)
        plain = walk(actions, authorize(actions.client))
        assert isinstance(plain, str)
        claims = id_token(actions.client, tokens(actions.client, plain))
        assert claims["acr"] == "urn:portail:acr:pwd" and claims["amr"] == ["pwd"]

        # Step-up of the existing session.
        path = _to_mfa(actions, acr_values=ACR_MFA)
        location = _finish(actions, post_code(actions.client, path, code=code_at(secret)))
        assert id_token(actions.client, tokens(actions.client, location))["acr"] == ACR_MFA

        other = browser(app)
        other.login("ana@example.com", PASSWORD)
        essential = '{"id_token": {"acr": {"essential": true, "values": ["urn:portail:acr:mfa"]}}}'
        assert _to_mfa(other, claims=essential).startswith("/mfa")


def test_a_refresh_after_the_policy_changed_is_refused_without_a_second_factor(make_app):
    before = make_app(**mfa_config([]))
    with before.app_context():
        company = make_company("C-1", name="Alpha")
        user, actions = person(before, "boss@example.com")
        make_membership(user, company, role="order", is_admin=True)
        location = walk(actions, authorize(actions.client, scope="openid companies offline_access",
                                           prompt="consent"))
        refresh = tokens(actions.client, location)["refresh_token"]
    after = make_app(**mfa_config(["company_admins"]))
    with after.app_context():
        response = after.test_client().post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh},
                                            headers=basic("shop", "shop-secret-0123456789"))
        assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
        assert _events("refresh_token.mfa_required")
    with before.app_context():
        # The token was left unused: without the policy it still works.
        response = before.test_client().post("/token", data={"grant_type": "refresh_token",
                                                             "refresh_token": refresh},
                                             headers=basic("shop", "shop-secret-0123456789"))
        assert response.status_code == 200


def test_a_security_key_is_a_second_factor_and_a_cloned_one_is_refused(app, admin):
    user, actions = admin
    key = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, user_verification=False)
    factor = add_key(user, key, discoverable=False)
    location = _finish(actions, webauthn_assert(actions.client, _to_mfa(actions), key))
    claims = id_token(actions.client, tokens(actions.client, location))
    assert set(claims["amr"]) == {"pwd", "hwk", "mfa"} and claims["acr"] == ACR_MFA

    db.session.expire_all()
    assert db.session.get(MfaFactor, factor.id).sign_count == 1
    other = browser(app)
    other.login("boss@example.com", PASSWORD)
    refused = webauthn_assert(other.client, _to_mfa(other), key, sign_count=1)
    assert refused.status_code == 401
    assert _events("mfa.sign_count_regressed")


def test_a_passkey_signs_in_without_a_password_and_counts_as_two_factors_only_with_user_verification(app):
    company = make_company("C-1", name="Alpha")
    user = make_user("boss@example.com", locale="en")
    make_membership(user, company, role="order", is_admin=True)
    verified = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, user_verification=True)
    add_key(user, verified)
    actions = browser(app)
    response = _passkey_sign_in(actions, verified, authorize(actions.client))
    location = _finish(actions, response)
    claims = id_token(actions.client, tokens(actions.client, location))
    assert set(claims["amr"]) == {"hwk", "mfa"} and claims["acr"] == ACR_MFA

    # Without user verification the key is one factor: the step asks for another, and the same key
    # without verification does not do.
    unverified = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, user_verification=False)
    add_key(user, unverified)
    actions = browser(app)
    response = _passkey_sign_in(actions, unverified, authorize(actions.client))
    path = response.headers["Location"]
    for _ in range(5):
        if path.startswith("/mfa"):
            break
        path = actions.client.get(path).headers["Location"]
    assert path.startswith("/mfa")
    assert webauthn_assert(actions.client, path, unverified).status_code == 401


def _passkey_sign_in(actions, authenticator, response):
    import json

    from tests.conftest import csrf_from

    login_path = response.headers["Location"]
    html = actions.client.get(login_path).get_data(as_text=True)
    assert "Sign in with a passkey" in html
    token = csrf_from(html)
    options = actions.client.post("/login/passkey/options", headers={"X-CSRFToken": token}).get_json()
    assert options["allowCredentials"] == []
    answer = authenticator.get(options)
    return actions.client.post("/login/passkey", data={"csrf_token": token, "credential": json.dumps(answer),
                                                       "interaction": query(login_path)["interaction"]})


def test_the_admin_pages_ask_covered_admins_for_their_second_factor(app, admin):
    user, actions = admin
    secret = add_totp(user)
    company_id = user.memberships[0].company.public_id
    page = f"/admin/companies/{company_id}/members"
    response = actions.client.get(page)
    assert response.status_code == 302 and response.headers["Location"].startswith("/mfa?next=")
    back = post_code(actions.client, response.headers["Location"], code=code_at(secret))
    assert back.headers["Location"] == page
    assert actions.client.get(page).status_code == 200


def test_refreshed_id_tokens_and_userinfo_say_truthfully_what_was_used(app, admin):
    user, actions = admin
    secret = add_totp(user)
    path = _to_mfa(actions, scope="openid companies offline_access", prompt="consent")
    body = tokens(actions.client, _finish(actions, post_code(actions.client, path, code=code_at(secret))))
    refreshed = actions.client.post("/token", data={"grant_type": "refresh_token",
                                                    "refresh_token": body["refresh_token"]},
                                    headers=basic("shop", "shop-secret-0123456789")).get_json()
    claims = id_token(actions.client, refreshed)
    assert set(claims["amr"]) == {"pwd", "otp", "mfa"} and claims["acr"] == ACR_MFA
    info = actions.client.get("/userinfo", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert info.get_json()["acr"] == ACR_MFA and set(info.get_json()["amr"]) == {"pwd", "otp", "mfa"}
