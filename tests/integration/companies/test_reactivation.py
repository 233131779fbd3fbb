"""Every way back to an active membership ends with exactly what that way grants, never a lost admin flag.

Deactivation clears the admin flag (idp.companies.deactivate). Bruno was made an admin of
Durand SARL, then deactivated, either through idp.companies.deactivate or as a row deactivated
before deactivation cleared the flag ("legacy", still disabled with is_admin set): an invitation,
an access request approval and a reactivation by an admin give him back exactly the role and
branch they carry and no admin flag; an account request and joining with the member code again
leave his deactivated membership as it is.
"""

import pytest
from sqlalchemy import select

from idp import companies
from idp.companies import account_requests, invitations
from idp.extensions import db
from idp.models import AuditEvent, Membership, User
from idp.models.users import UserStatus
from tests.factories import make_company, make_membership, make_user
from tests.integration.companies.helpers import (
    access_requests,
    authorize,
    company_config,
    id_token,
    join,
    person,
    tokens,
    walk,
)
from tests.integration.flows.mailbox import link_in, mail_to

PRICES = "https://prices.example.com/callback"
PRICES_SECRET = "prices-secret-0123456789"
STARTS = ["deactivated", "legacy"]


@pytest.fixture
def config_overrides(smtp):
    return company_config(smtp, flows=["login", "set_password", "forgot_password", "invitation", "company_join",
                                       "company_choice", "tools", "account_request"])


@pytest.fixture
def durand(app):
    company = make_company("C-1", name="Durand SARL")
    claire_user, claire = person(app, "claire@example.com")
    make_membership(claire_user, company, is_admin=True)
    return company, claire_user, claire


def deactivated_admin(app, company, claire_user, user, start):
    """`user` was an admin of `company` with role order and branch MTL, and was deactivated."""
    if start == "legacy":
        return make_membership(user, company, role="order", branch="MTL", is_admin=True, status="disabled")
    membership = make_membership(user, company, role="order", branch="MTL", is_admin=True)
    with app.test_request_context():
        companies.deactivate(membership, claire_user)
    return membership


def state(user, company):
    db.session.expire_all()
    membership = db.session.scalars(select(Membership).where(Membership.user_id == user.id,
                                                             Membership.company_id == company.id)).one()
    return membership.status, membership.role, membership.branch, membership.is_admin


def members_page(company):
    return f"/admin/companies/{company.public_id}/members"


def member_action(company, user, action):
    return f"/admin/companies/{company.public_id}/members/{user.public_id}/{action}"


def test_deactivation_clears_the_admin_flag(app, durand):
    company, claire_user, _ = durand
    bruno = make_user("bruno@example.com")
    deactivated_admin(app, company, claire_user, bruno, "deactivated")
    assert state(bruno, company) == ("disabled", "order", "MTL", False)
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "membership.deactivated")).all()
    assert event.details["admin_revoked"] is True


@pytest.mark.parametrize("start", STARTS)
def test_an_invitation_gives_back_exactly_its_role_and_branch(app, durand, smtp, start):
    company, claire_user, claire = durand
    bruno_user, bruno = person(app, "bruno@example.com")
    deactivated_admin(app, company, claire_user, bruno_user, start)
    invite = f"/admin/companies/{company.public_id}/invite"
    response = claire.submit(invite, {"email": "bruno@example.com", "role": "prices_only", "branch": "QC"})
    assert response.status_code == 302

    path = link_in(smtp, mail_to(smtp, "bruno@example.com")[-1], "/invitations/")
    assert "Accept the invitation" in bruno.client.get(path).get_data(as_text=True)
    assert bruno.submit(path, {}).status_code == 302

    assert state(bruno_user, company) == ("active", "prices_only", "QC", False)
    assert bruno.client.get(members_page(company)).status_code == 404
    location = walk(bruno, authorize(bruno.client, client_id="prices", redirect_uri=PRICES))
    claims = id_token(bruno.client, tokens(bruno.client, location, client_id="prices", secret=PRICES_SECRET,
                                           redirect_uri=PRICES), audience="prices")
    assert (claims["company_role"], claims["company_admin"], claims["company_branch"]) == ("prices_only", "false",
                                                                                           "QC")


@pytest.mark.parametrize("start", STARTS)
def test_approving_an_access_request_gives_exactly_the_approved_role(app, durand, start):
    company, claire_user, claire = durand
    bruno_user, bruno = person(app, "bruno@example.com")
    assert join(bruno, "C-1", "CODE-1234").headers["Location"] == "/companies/requests"
    [request] = access_requests(company)
    # Meanwhile Bruno became an admin (another path) and was deactivated; his old request is still pending.
    deactivated_admin(app, company, claire_user, bruno_user, start)
    path = f"/admin/companies/{company.public_id}/requests/{request.public_id}"
    response = claire.submit(f"{path}/approve", {"role": "order_for_approval", "branch": "Lyon"}, form_path=path)
    assert response.status_code == 302
    assert state(bruno_user, company) == ("active", "order_for_approval", "Lyon", False)
    assert bruno.client.get(members_page(company)).status_code == 404


@pytest.mark.parametrize("start", STARTS)
def test_reactivation_by_an_admin_gives_back_the_role_without_admin(app, durand, start):
    company, claire_user, claire = durand
    bruno_user, bruno = person(app, "bruno@example.com")
    deactivated_admin(app, company, claire_user, bruno_user, start)
    response = claire.submit(member_action(company, bruno_user, "reactivate"), {}, form_path=members_page(company))
    assert response.status_code == 302
    assert state(bruno_user, company) == ("active", "order", "MTL", False)
    assert bruno.client.get(members_page(company)).status_code == 404


def test_a_deactivated_member_cannot_be_made_admin(app, durand):
    company, claire_user, claire = durand
    bruno = make_user("bruno@example.com")
    deactivated_admin(app, company, claire_user, bruno, "deactivated")
    response = claire.submit(member_action(company, bruno, "admin"), {"admin": "1"}, form_path=members_page(company))
    assert response.status_code == 302
    page = claire.client.get(members_page(company)).get_data(as_text=True)
    assert "Reactivate this member before making them an administrator." in page
    assert state(bruno, company) == ("disabled", "order", "MTL", False)


def _file_account_request(app, contact_email):
    people = [{"given_name": "Bruno", "family_name": "Petit", "email": "bruno@example.com", "role": "order"},
              {"given_name": "Hugo", "family_name": "Petit", "email": "hugo@example.com", "role": "prices_only"}]
    with app.test_request_context():
        return account_requests.file(
            customer_number="C-1", company_name="Durand SARL", address="1 rue de la Paix", city="Lyon",
            postal_code="69001", phone="+33 4 00 00 00 00", contact_given_name="Bruno",
            contact_family_name="Petit", contact_email=contact_email, people=people, locale="en")


def test_an_account_request_approved_by_an_operator_leaves_a_deactivated_member_as_he_is(app, durand):
    company, claire_user, _ = durand
    bruno = make_user("bruno@example.com")
    deactivated_admin(app, company, claire_user, bruno, "deactivated")
    request = _file_account_request(app, "bruno@example.com")
    _, olivia = person(app, "olivia@example.com", is_operator=True)
    path = f"/admin/operator/account-requests/{request.public_id}"
    assert olivia.submit(f"{path}/approve", {}, form_path=path).status_code == 302
    db.session.expire_all()
    assert request.status == "approved"
    # An admin's decision is not overruled by a form anyone can file; the new person gets what was asked.
    assert state(bruno, company) == ("disabled", "order", "MTL", False)
    assert state(User.find_by_email("hugo@example.com"), company) == ("active", "prices_only", None, False)


@pytest.mark.parametrize("config_overrides", [company_config(
    flows=["login", "set_password", "forgot_password", "company_join", "account_request"],
    companies={"auto_approve_account_requests": True})])
def test_an_account_request_approved_at_once_leaves_a_deactivated_key_contact_as_he_is(app, durand):
    company, claire_user, _ = durand
    bruno = make_user("bruno@example.com")
    deactivated_admin(app, company, claire_user, bruno, "deactivated")
    # The company has no active admin left: a new key contact would become one; Bruno does not.
    claire_user = db.session.get(User, claire_user.id)
    claire_user.status = UserStatus.DISABLED
    db.session.commit()
    request = _file_account_request(app, "bruno@example.com")
    db.session.expire_all()
    assert request.status == "approved"
    assert state(bruno, company) == ("disabled", "order", "MTL", False)
    assert state(User.find_by_email("hugo@example.com"), company) == ("active", "prices_only", None, False)


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("admins_left", [True, False], ids=["company_has_an_admin", "company_has_no_admin"])
def test_joining_again_with_the_member_code_changes_nothing(app, durand, start, admins_left):
    company, claire_user, _ = durand
    bruno_user, bruno = person(app, "bruno@example.com")
    deactivated_admin(app, company, claire_user, bruno_user, start)
    if not admins_left:
        db.session.delete(db.session.scalars(select(Membership).where(Membership.user_id == claire_user.id)).one())
        db.session.commit()
    response = join(bruno, "C-1", "CODE-1234")
    assert response.status_code == 409
    assert "Your access to Durand SARL was deactivated." in response.get_data(as_text=True)
    # Untouched: no request filed, no admin made (a legacy row keeps its inert flag).
    assert state(bruno_user, company) == ("disabled", "order", "MTL", start == "legacy")
    assert access_requests(company) == []


def test_a_late_invitation_demotes_no_admin(app, smtp):
    # Invited before he joined, Bruno became the company's first (and only) admin meanwhile.
    company = make_company("C-1", name="Durand SARL")
    bruno_user, bruno = person(app, "bruno@example.com")
    with app.test_request_context():
        invitations.invite(company, "bruno@example.com", "prices_only", branch="QC")
        db.session.commit()
    assert join(bruno, "C-1", "CODE-1234").headers["Location"] == "/tools"
    path = link_in(smtp, mail_to(smtp, "bruno@example.com")[-1], "/invitations/")
    assert bruno.submit(path, {}).status_code == 302
    assert state(bruno_user, company) == ("active", "prices_only", "QC", True)
