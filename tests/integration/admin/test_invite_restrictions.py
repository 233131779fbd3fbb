"""An invitation carries the role, a branch of the directory and the allowed addresses into the membership."""

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import Invitation, Membership
from tests.factories import make_company, make_membership
from tests.integration.companies.helpers import company_config, person
from tests.integration.flows.mailbox import link_in, mail_to


@pytest.fixture
def config_overrides(smtp):
    return company_config(smtp)


@pytest.fixture
def acme(app):
    company = make_company("C-1", name="Acme", branches="MTL;QC")
    claire_user, claire = person(app, "claire@example.com")
    make_membership(claire_user, company, is_admin=True)
    return company, claire


def test_the_invitation_carries_role_branch_and_addresses_into_the_membership(app, acme, smtp):
    company, claire = acme
    invite = f"/admin/companies/{company.public_id}/invite"
    form = claire.client.get(invite).get_data(as_text=True)
    assert '<option value="QC"' in form and 'name="allowed_ips"' in form  # the branch is a select
    response = claire.submit(invite, {"email": "bruno@example.com", "role": "prices_only", "branch": "QC",
                                      "allowed_ips": "2001:DB8::/32, 192.0.2.7"})
    assert response.status_code == 302
    assert db.session.scalars(select(Invitation.allowed_ips)).one() == "2001:db8::/32,192.0.2.7"

    bruno_user, bruno = person(app, "bruno@example.com")
    path = link_in(smtp, mail_to(smtp, "bruno@example.com")[-1], "/invitations/")
    assert bruno.submit(path, {}).status_code == 302
    db.session.expire_all()
    membership = db.session.scalars(select(Membership).where(Membership.user_id == bruno_user.id)).one()
    assert (membership.role, membership.branch, membership.allowed_ips, membership.is_active) == (
        "prices_only", "QC", "2001:db8::/32,192.0.2.7", True)


@pytest.mark.parametrize(("fields", "message"), [
    pytest.param({"branch": "Paris"}, "Choose one of the branches of Acme.", id="unknown-branch"),
    pytest.param({"allowed_ips": "192.0.2.0/24, intranet"}, "intranet is not an IP address", id="bad-address"),
])
def test_an_invitation_with_a_wrong_branch_or_address_is_refused(app, acme, fields, message):
    company, claire = acme
    invite = f"/admin/companies/{company.public_id}/invite"
    response = claire.submit(invite, {"email": "bruno@example.com", "role": "order", "branch": "", **fields})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert db.session.scalars(select(Invitation)).all() == []
