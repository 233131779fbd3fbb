"""IDOR: every administration route refuses a non-admin, an admin of another company, and a non-operator.

The route lists are checked against the application's URL map, so a new admin route without a
case here fails the first test.
"""

from types import SimpleNamespace

import pytest

from idp.models.base import utcnow
from idp.models.requests import AccountRequest
from tests.factories import make_company, make_membership, make_user
from tests.integration.companies.helpers import access_requests, browser, company_config, join, memberships, person

COMPANY_ROUTES = [
    ("GET", "admin_companies.members"),
    ("POST", "admin_companies.change_role"),
    ("POST", "admin_companies.set_admin"),
    ("GET", "admin_companies.deactivate"),
    ("POST", "admin_companies.deactivate"),
    ("POST", "admin_companies.reactivate"),
    ("GET", "admin_companies.remove"),
    ("POST", "admin_companies.remove"),
    ("GET", "admin_companies.requests"),
    ("GET", "admin_companies.request_detail"),
    ("POST", "admin_companies.approve"),
    ("POST", "admin_companies.reject"),
    ("GET", "admin_companies.invite"),
    ("POST", "admin_companies.invite"),
    ("POST", "admin_companies.revoke_invitation"),
    ("POST", "admin_companies.resend_invitation"),
    ("GET", "admin_companies.member"),
    ("POST", "admin_companies.set_restrictions"),
    ("GET", "admin_companies.member_api_keys"),
    ("POST", "admin_companies.member_api_keys"),
    ("GET", "admin_companies.revoke_api_key"),
    ("POST", "admin_companies.revoke_api_key"),
]
OPERATOR_ROUTES = [
    ("GET", "admin_operator.index"),
    ("GET", "admin_operator.companies"),
    ("GET", "admin_operator.users"),
    ("GET", "admin_operator.disable_user"),
    ("POST", "admin_operator.disable_user"),
    ("GET", "admin_operator.reset_mfa"),
    ("POST", "admin_operator.reset_mfa"),
    ("GET", "admin_operator.audit_log"),
    ("GET", "admin_operator.undelivered_mail"),
    ("GET", "admin_operator.account_request_list"),
    ("GET", "admin_operator.account_request"),
    ("POST", "admin_operator.approve_account_request"),
    ("POST", "admin_operator.reject_account_request"),
]
# Routes that name a member, a request or an invitation: an admin of another company must not reach
# the victim's through their own company's id either.
NAMED_ROUTES = [r for r in COMPANY_ROUTES if r[1] not in (
    "admin_companies.members", "admin_companies.requests", "admin_companies.invite")]
# `confirm`: what a confirmation page's button sends, so that a destructive POST would take effect.
PAYLOAD = {"role": "order", "branch": "", "admin": "1", "reason": "no", "email": "x@example.com", "confirm": "yes",
           "allowed_ips": "203.0.113.0/24", "name": "stolen", "scope": "api", "ttl_days": "5"}


@pytest.fixture
def config_overrides():
    return company_config()


def _admin_rules(app):
    rules = {}
    for rule in app.url_map.iter_rules():
        admin = rule.endpoint.startswith(("admin_companies.", "admin_operator."))
        if admin and rule.endpoint != "admin_companies.index":
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                rules[(method, rule.endpoint)] = rule
    return rules


def test_every_admin_route_is_covered(app):
    assert set(_admin_rules(app)) == set(COMPANY_ROUTES) | set(OPERATOR_ROUTES)


@pytest.fixture
def world(app):
    """A victim company with an admin, a member and a pending request; an attacker company."""
    victim = make_company("C-1", name="Victim")
    admin = make_user("admin@victim.example")
    make_membership(admin, victim, is_admin=True)
    member_user, member = person(app, "member@victim.example")
    make_membership(member_user, victim, role="order")
    _, requester = person(app, "requester@example.com")
    assert join(requester, "C-1", "CODE-1234").status_code == 302
    [pending] = access_requests(victim)
    attacker_company = make_company("C-2", name="Attacker")
    attacker_user, attacker = person(app, "admin@attacker.example")
    make_membership(attacker_user, attacker_company, is_admin=True)
    account_request = AccountRequest(customer_number="C-1", company_name="Victim", contact_given_name="A",
                                     contact_family_name="B", contact_email="a@victim.example",
                                     people=[], terms_accepted_at=utcnow())
    from idp.extensions import db

    db.session.add(account_request)
    db.session.commit()
    from idp.companies import invitations

    with app.test_request_context():
        invitation = invitations.invite(victim, "invitee@example.com", "order", actor=admin)
        db.session.commit()
        from idp.security import api_keys

        key, _raw = api_keys.issue(member_user, victim, admin, "ERP", "api", 30)
    return SimpleNamespace(key=key, victim=victim, member=member, attacker=attacker, attacker_company=attacker_company,
                           member_user=member_user, pending=pending, admin=admin, account_request=account_request,
                           invitation=invitation)


def _values(world, company):
    return {"company_id": company.public_id, "user_id": world.member_user.public_id,
            "request_id": world.pending.public_id, "invitation_id": world.invitation.id, "key_id": world.key.public_id}


def _call(app, actions, method, endpoint, values):
    from flask import url_for

    rule = _admin_rules(app)[(method, endpoint)]
    with app.test_request_context():
        url = url_for(endpoint, **{k: v for k, v in values.items() if k in rule.arguments})
    if method == "GET":
        return actions.client.get(url)
    _, token = actions.get_form("/companies/join")
    return actions.client.post(url, data={"csrf_token": token, **PAYLOAD})


def _unchanged(world, before):
    from idp.companies import invitations

    assert [(m.user_id, m.role, m.is_admin, m.status) for m in memberships(world.victim)] == before
    assert [r.status for r in access_requests(world.victim)] == ["pending"]
    assert [(i.id, i.token_hash) for i in invitations.pending_for(world.victim)] == [
        (world.invitation.id, world.invitation.token_hash)]
    from sqlalchemy import select

    from idp.extensions import db
    from idp.models import ApiKey

    # The victim's key is neither revoked nor joined by another, and no restriction was set.
    assert [(k.public_id, k.revoked_at) for k in db.session.scalars(select(ApiKey))] == [(world.key.public_id, None)]
    assert all(m.allowed_ips is None for m in memberships(world.victim))


@pytest.mark.parametrize(("method", "endpoint"), COMPANY_ROUTES, ids=[f"{m} {e}" for m, e in COMPANY_ROUTES])
@pytest.mark.parametrize("who", ["member", "other-admin"])
def test_company_routes_refuse_outsiders(app, world, method, endpoint, who):
    before = [(m.user_id, m.role, m.is_admin, m.status) for m in memberships(world.victim)]
    actions = world.member if who == "member" else world.attacker
    response = _call(app, actions, method, endpoint, _values(world, world.victim))
    assert response.status_code == 404, (who, endpoint, response.status_code)
    _unchanged(world, before)


@pytest.mark.parametrize(("method", "endpoint"), NAMED_ROUTES, ids=[f"{m} {e}" for m, e in NAMED_ROUTES])
def test_an_admin_cannot_reach_another_companys_people_through_their_own(app, world, method, endpoint):
    before = [(m.user_id, m.role, m.is_admin, m.status) for m in memberships(world.victim)]
    response = _call(app, world.attacker, method, endpoint, _values(world, world.attacker_company))
    assert response.status_code == 404, (endpoint, response.status_code)
    _unchanged(world, before)


@pytest.mark.parametrize(("method", "endpoint"), OPERATOR_ROUTES, ids=[f"{m} {e}" for m, e in OPERATOR_ROUTES])
@pytest.mark.parametrize("who", ["member", "company-admin"])
def test_operator_routes_refuse_non_operators(app, world, method, endpoint, who):
    before = [(m.user_id, m.role, m.is_admin, m.status) for m in memberships(world.victim)]
    actions = world.member if who == "member" else world.attacker
    values = {"user_id": world.member_user.public_id, "request_id": world.account_request.public_id}
    response = _call(app, actions, method, endpoint, values)
    assert response.status_code == 404
    _unchanged(world, before)
    from idp.extensions import db

    db.session.refresh(world.member_user)
    db.session.refresh(world.account_request)
    assert world.member_user.status == "active" and world.account_request.status == "pending"


@pytest.mark.parametrize(("method", "endpoint"), COMPANY_ROUTES[:1] + OPERATOR_ROUTES[:1], ids=["company", "operator"])
def test_anonymous_visitors_are_sent_to_sign_in(app, world, method, endpoint):
    response = _call(app, browser(app), method, endpoint, _values(world, world.victim))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(("method", "endpoint"), COMPANY_ROUTES, ids=[f"{m} {e}" for m, e in COMPANY_ROUTES])
def test_the_companys_own_admin_reaches_every_route(app, world, method, endpoint):
    """The control case: the 404s above come from the access rule, not from a broken route."""
    from tests.factories import PASSWORD

    admin = browser(app)
    assert admin.login("admin@victim.example", PASSWORD).status_code == 302
    response = _call(app, admin, method, endpoint, _values(world, world.victim))
    assert response.status_code in (200, 302), (endpoint, response.status_code)


@pytest.mark.parametrize(("method", "endpoint"), OPERATOR_ROUTES, ids=[f"{m} {e}" for m, e in OPERATOR_ROUTES])
def test_an_operator_reaches_every_operator_route(app, world, method, endpoint):
    from tests.factories import PASSWORD

    make_user("operator@example.com", is_operator=True)
    operator = browser(app)
    assert operator.login("operator@example.com", PASSWORD).status_code == 302
    values = {"user_id": world.member_user.public_id, "request_id": world.account_request.public_id}
    response = _call(app, operator, method, endpoint, values)
    assert response.status_code in (200, 302), (endpoint, response.status_code)
