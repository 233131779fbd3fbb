"""Granting memberships (idp.companies.grant_membership) from an approval, an account request or an invitation.

A membership made meanwhile by another path is reused, never inserted twice; a database that
still refuses the second row gives the normal error page, never a 500. Deactivated companies are
out of their admins' reach.
"""

import pytest

from idp import companies, signals
from idp.companies import account_requests, invitations
from idp.extensions import db
from idp.models import AccessRequest, Company
from tests.factories import make_company, make_membership, make_user
from tests.integration.companies.helpers import access_requests, company_config, join, memberships, person

RETRY = "Something went wrong on our side. Please try again."


@pytest.fixture
def config_overrides(smtp):
    return company_config(smtp)


@pytest.fixture
def team(app):
    company = make_company("C-1", name="Durand SARL")
    admin_user, admin = person(app, "claire@example.com")
    make_membership(admin_user, company, is_admin=True)
    newcomer_user, newcomer = person(app, "new@example.com")
    assert join(newcomer, "C-1", "CODE-1234").status_code == 302
    [request] = access_requests(company)
    return company, admin, newcomer_user, request


def _approve(admin, company, request, role="order"):
    path = f"/admin/companies/{company.public_id}/requests/{request.public_id}"
    return admin.submit(f"{path}/approve", {"role": role, "branch": ""}, form_path=path)


def _stale_lookup(monkeypatch):
    """The lookup misses the membership, as a transaction that skipped the company lock would."""
    monkeypatch.setattr(companies, "existing_membership", lambda user, company: None)


def test_approving_someone_who_meanwhile_became_a_member_reuses_their_membership(team):
    company, admin, newcomer_user, request = team
    make_membership(newcomer_user, company, role="prices_only", status="disabled")
    response = _approve(admin, company, request)
    assert response.status_code == 302
    [granted] = [m for m in memberships(company) if m.user_id == newcomer_user.id]
    assert (granted.role, granted.status, granted.is_admin) == ("order", "active", False)


def test_a_second_membership_row_is_a_clean_error_not_a_500(team, monkeypatch):
    company, admin, newcomer_user, request = team
    make_membership(newcomer_user, company, role="prices_only")
    _stale_lookup(monkeypatch)
    response = _approve(admin, company, request)
    assert response.status_code == 409 and RETRY in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(AccessRequest, request.id).status == "pending"  # rolled back: it can be approved again
    assert [m.role for m in memberships(company) if m.user_id == newcomer_user.id] == ["prices_only"]


def test_an_account_request_skips_a_person_who_became_a_member_meanwhile(app, monkeypatch):
    company = make_company("C-10001", name="Durand SARL")
    hugo = make_user("hugo@durand.example")
    make_membership(hugo, company, role="prices_only")
    people = [{"given_name": "Hugo", "family_name": "Petit", "email": "hugo@durand.example", "role": "order"},
              {"given_name": "Claire", "family_name": "Durand", "email": "claire@durand.example", "role": "order"}]
    with app.test_request_context():
        request = account_requests.file(
            customer_number="C-10001", company_name="Durand SARL", address="1 rue de la Paix", city="Lyon",
            postal_code="69001", phone="+33 4 00 00 00 00", contact_given_name="Claire",
            contact_family_name="Durand", contact_email="claire@durand.example", people=people, locale="fr")
        _stale_lookup(monkeypatch)
        assert account_requests.approve(request, None) == 1
    states = {m.user.email: (m.role, m.is_admin) for m in memberships(company)}
    # Hugo keeps what he had; the key contact administers the company, which had no admin.
    assert states == {"hugo@durand.example": ("prices_only", False), "claire@durand.example": ("order", True)}


def test_accepting_an_invitation_against_a_second_row_is_an_invitation_error(app, monkeypatch):
    company = make_company("C-1", name="Durand SARL")
    ines = make_user("ines@example.com")
    make_membership(ines, company, role="prices_only", status="disabled")
    with app.test_request_context():
        invitation = invitations.invite(company, "ines@example.com", "order")
        db.session.commit()
        _stale_lookup(monkeypatch)
        with pytest.raises(invitations.InvitationError, match=RETRY):
            invitations.accept(invitation, ines)
    db.session.rollback()
    assert [m.status for m in memberships(company)] == ["disabled"]


def test_reactivation_tells_the_protocol(app):
    company = make_company("C-1")
    admin = make_user("claire@example.com")
    make_membership(admin, company, is_admin=True)
    member = make_membership(make_user("hugo@example.com"), company, status="disabled")
    changed = []
    with app.test_request_context(), signals.memberships_changed.connected_to(lambda user: changed.append(user.id)):
        companies.reactivate(member, admin)
    assert changed == [member.user_id]


def test_the_admins_of_a_deactivated_company_no_longer_reach_it(team):
    company, admin, _, request = team
    db.session.get(Company, company.id).active = False
    db.session.commit()
    base = f"/admin/companies/{company.public_id}"
    for path in ("/members", "/requests", f"/requests/{request.public_id}", "/invite"):
        assert admin.client.get(base + path).status_code == 404, path
    assert "You administer no company." in admin.client.get("/admin/").get_data(as_text=True)
