"""Address restrictions of members (allowed_ips), portals (clients[].allowed_networks) and the operator pages.

Every request says where it comes from through REMOTE_ADDR (no trusted proxy here, so the peer is the
client). A member restricted in one company is refused only when acting for that company.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Membership, RefreshToken
from tests.conftest import Actions, IsolatedClient
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.oidc.conftest import Flow, authorize_params, basic, query, verify_jwt

SECRET = "portal-secret-0123456789"
REDIRECT = "https://portal.example.com/callback"
PORTAL = {"client_id": "portal", "secret": SECRET, "redirect_uris": [REDIRECT],
          "grant_types": ["authorization_code", "refresh_token"],
          "scopes": ["openid", "profile", "email", "offline_access", "companies"]}
FENCED = {"client_id": "fenced", "secret": SECRET, "redirect_uris": [REDIRECT],
          "grant_types": ["authorization_code", "refresh_token"], "allowed_networks": ["203.0.113.0/24"]}
FLOWS = ["login", "ip_restriction", "company_choice", "tools"]
OFFICE, HOME, OFFICE_V6, HOME_V6 = "192.0.2.10", "198.51.100.20", "2001:db8:1::5", "2001:db9::5"


@pytest.fixture
def config_overrides():
    return {"flows": FLOWS, "clients": [PORTAL, FENCED],
            "operators": {"allowed_networks": ["10.20.0.0/16"]}}


def browser(app, address):
    app.test_client_class = IsolatedClient
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return Flow(client, Actions(client))


@pytest.fixture
def world(app):
    """Ana is a member of Alpha, restricted to the office's networks, and of Beta, unrestricted."""
    alpha, beta = make_company("C-A", name="Alpha"), make_company("C-B", name="Beta")
    ana = make_user("ana@example.com")
    make_membership(ana, alpha, allowed_ips="192.0.2.0/24,2001:db8:1::/48")
    make_membership(ana, beta)
    return alpha, beta, ana


def sign_in(flow, company, **extra):
    """Authorize for `company`; the provider's last answer (the portal's redirect or a page)."""
    params = authorize_params("portal", REDIRECT, scope="openid companies offline_access", company=company, **extra)
    response = flow.authorize(**params)
    for _ in range(10):
        location = response.headers.get("Location", "")
        if response.status_code not in (302, 303) or location.startswith(REDIRECT):
            return response
        if location.startswith("/login"):
            response = flow.actions.submit("/login", {"login": "ana@example.com", "password": PASSWORD,
                                                      "interaction": query(location)["interaction"]},
                                           form_path=location)
        else:
            response = flow.client.get(location)
    raise AssertionError("too many redirects")


def tokens_for(flow, company):
    response = sign_in(flow, company)
    code = query(response.headers["Location"])["code"]
    answer = flow.token({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
                        basic("portal", SECRET))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def refresh(flow, refresh_token):
    return flow.token({"grant_type": "refresh_token", "refresh_token": refresh_token}, basic("portal", SECRET))


def events(name):
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


@pytest.mark.parametrize(("address", "allowed"), [
    pytest.param(OFFICE, True, id="ipv4-in-cidr"),
    pytest.param("192.0.3.1", False, id="ipv4-outside"),
    pytest.param(OFFICE_V6, True, id="ipv6-in-cidr"),
    pytest.param(HOME_V6, False, id="ipv6-outside"),
    pytest.param("::ffff:192.0.2.77", True, id="ipv4-mapped-ipv6"),
])
def test_sign_in_for_the_restricting_company_follows_its_allowed_ips(app, world, address, allowed):
    response = sign_in(browser(app, address), "C-A")
    if allowed:
        assert "code" in query(response.headers["Location"])
    else:
        page = response.get_data(as_text=True)
        assert response.status_code == 403
        assert "Not from this network" in page and "Alpha" in page
        assert "192.0.2.0/24" not in page  # the rule is named, the list is not shown
        [event] = events("membership.address_refused")
        assert event.company_id == world[0].id and event.ip == address


def test_the_same_person_acting_for_another_company_is_not_affected(app, world):
    flow = browser(app, HOME)
    assert sign_in(flow, "C-A").status_code == 403
    response = sign_in(flow, "C-B")
    claims = verify_jwt(flow.client, tokens_for(flow, "C-B")["access_token"])
    assert "code" in query(response.headers["Location"])
    assert claims["company_id"] == "C-B"


def test_the_restriction_holds_once_the_company_is_picked(app, world):
    """Before the pick there is nothing to check; the company step resumes, where the check runs again."""
    flow = browser(app, HOME)
    response = sign_in(flow, None)
    assert response.status_code == 200 and "/companies/choose" in response.request.path
    interaction = query(response.request.url)["interaction"]
    picked = flow.actions.submit("/companies/choose", {"company_id": world[0].public_id, "interaction": interaction},
                                 form_path=f"/companies/choose?interaction={interaction}")
    refused = flow.client.get(flow.client.get(picked.headers["Location"]).headers["Location"])
    assert refused.status_code == 403 and "Not from this network" in refused.get_data(as_text=True)


def test_prompt_none_gets_access_denied(app, world):
    flow = browser(app, HOME)
    assert sign_in(flow, "C-B").status_code == 302  # signed in, for Beta
    response = flow.authorize(**authorize_params("portal", REDIRECT, company="C-A", prompt="none"))
    assert query(response.headers["Location"])["error"] == "access_denied"


def test_refresh_from_outside_the_allowed_ips_is_invalid_grant(app, world):
    tokens = tokens_for(browser(app, OFFICE), "C-A")
    outside = refresh(browser(app, HOME), tokens["refresh_token"])
    assert (outside.status_code, outside.get_json()["error"]) == (400, "invalid_grant")
    assert [e.ip for e in events("refresh_token.address_refused")] == [HOME]
    # Refused, not spent: the same token still works from the office.
    inside = refresh(browser(app, OFFICE), tokens["refresh_token"])
    assert inside.status_code == 200, inside.get_json()


def test_refresh_for_the_unrestricted_company_works_from_anywhere(app, world):
    tokens = tokens_for(browser(app, HOME), "C-B")
    assert refresh(browser(app, "203.0.113.99"), tokens["refresh_token"]).status_code == 200


@pytest.fixture
def admin(app, world):
    alpha = world[0]
    claire = make_user("claire@example.com")
    make_membership(claire, alpha, is_admin=True, allowed_ips="192.0.2.0/24")
    return claire


def test_an_admin_outside_their_own_restriction_is_refused_the_admin_pages(app, world, admin):
    members = f"/admin/companies/{world[0].public_id}/members"
    inside = browser(app, OFFICE).actions
    assert inside.login("claire@example.com", PASSWORD).status_code == 302
    assert inside.client.get(members).status_code == 200
    outside = browser(app, HOME).actions
    assert outside.login("claire@example.com", PASSWORD).status_code == 302
    response = outside.client.get(members)
    assert response.status_code == 403 and "network addresses" in response.get_data(as_text=True)
    assert len(events("admin.address_refused")) == 1


def test_admin_sets_addresses_and_branch_normalised_and_refresh_tokens_go(app, world, admin):
    alpha, _beta, ana = world
    alpha.branches = "MTL;QC"
    db.session.commit()
    tokens = tokens_for(browser(app, OFFICE), "C-A")
    claire = browser(app, OFFICE).actions
    claire.login("claire@example.com", PASSWORD)
    page = f"/admin/companies/{alpha.public_id}/members/{ana.public_id}"
    response = claire.submit(f"{page}/restrictions", {"allowed_ips": "2001:DB8:1::/48\n192.0.2.7, 10.0.0.0/8",
                                                      "branch": "QC"}, form_path=page)
    assert response.status_code == 302
    db.session.expire_all()
    membership = db.session.scalars(select(Membership).where(Membership.user_id == ana.id,
                                                             Membership.company_id == alpha.id)).one()
    assert (membership.allowed_ips, membership.branch) == ("2001:db8:1::/48,192.0.2.7,10.0.0.0/8", "QC")
    [event] = events("membership.restrictions_changed")
    assert event.details["allowed_ips"] == ["2001:db8:1::/48", "192.0.2.7", "10.0.0.0/8"]
    assert event.details["before"]["allowed_ips"] == ["192.0.2.0/24", "2001:db8:1::/48"]
    assert db.session.scalars(select(RefreshToken.revoked_at)).all() != [None]
    assert refresh(browser(app, OFFICE), tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    page_html = claire.client.get(f"/admin/companies/{alpha.public_id}/members").get_data(as_text=True)
    assert "Limited to 3 addresses or networks" in page_html


@pytest.mark.parametrize(("typed", "message"), [
    pytest.param("192.0.2.300", "192.0.2.300 is not an IP address or a network", id="bad-octet"),
    pytest.param("10.1.2.3/8", "did you mean 10.0.0.0/8", id="host-bits"),
    pytest.param("office", "office is not an IP address", id="word"),
])
def test_a_wrong_entry_is_named_and_nothing_changes(app, world, admin, typed, message):
    alpha, _beta, ana = world
    claire = browser(app, OFFICE).actions
    claire.login("claire@example.com", PASSWORD)
    page = f"/admin/companies/{alpha.public_id}/members/{ana.public_id}"
    response = claire.submit(f"{page}/restrictions", {"allowed_ips": f"192.0.2.0/24\n{typed}", "branch": ""},
                             form_path=page)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(select(Membership.allowed_ips).where(Membership.user_id == ana.id,
                                                                   Membership.company_id == alpha.id)).one() == (
        "192.0.2.0/24,2001:db8:1::/48")


def test_a_branch_not_of_the_directory_is_refused(app, world, admin):
    alpha, _beta, ana = world
    alpha.branches = "MTL;QC"
    db.session.commit()
    claire = browser(app, OFFICE).actions
    claire.login("claire@example.com", PASSWORD)
    page = f"/admin/companies/{alpha.public_id}/members/{ana.public_id}"
    response = claire.submit(f"{page}/restrictions", {"allowed_ips": "", "branch": "Paris"}, form_path=page)
    assert response.status_code == 400 and "Choose one of the branches of Alpha" in response.get_data(as_text=True)


def test_a_portal_limited_to_networks_refuses_others_at_authorize_and_token(app, world):
    flow = browser(app, HOME)
    response = flow.authorize(**authorize_params("fenced", REDIRECT))
    assert response.status_code == 403 and "networks its owner has allowed" in response.get_data(as_text=True)
    answer = flow.token({"grant_type": "refresh_token", "refresh_token": "x"}, basic("fenced", SECRET))
    assert (answer.status_code, answer.get_json()["error"]) == (400, "unauthorized_client")
    allowed = browser(app, "203.0.113.4").authorize(**authorize_params("fenced", REDIRECT))
    assert allowed.status_code == 302 and allowed.headers["Location"].startswith("/login")


def test_operator_pages_only_from_the_operators_networks(app):
    make_user("olivia@example.com", is_operator=True)
    outside = browser(app, HOME).actions
    outside.login("olivia@example.com", PASSWORD)
    assert outside.client.get("/admin/operator/").status_code == 403
    inside = browser(app, "10.20.3.4").actions
    inside.login("olivia@example.com", PASSWORD)
    assert inside.client.get("/admin/operator/").status_code == 200
    # A non-operator learns nothing: still a 404 from anywhere.
    make_user("bob@example.com")
    bob = browser(app, HOME).actions
    bob.login("bob@example.com", PASSWORD)
    assert bob.client.get("/admin/operator/").status_code == 404
