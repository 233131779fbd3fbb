"""Issue 5, done when (1), from nothing: a stranger signs up, joins, is approved, and gets the token."""

import pytest

from tests.factories import make_company, make_membership
from tests.integration.companies.helpers import (
    COMPANY_FLOWS,
    authorize,
    browser,
    company_config,
    id_token,
    join,
    path_of,
    person,
    tokens,
    walk,
)
from tests.integration.flows.mailbox import deliver, link_in, mail_to


@pytest.fixture
def config_overrides(smtp):
    return company_config(smtp, flows=[*COMPANY_FLOWS, "register", "confirm_email"])



def test_from_nothing_to_a_token_through_sign_up_join_and_approval(app, smtp):
    """Done when (1), from nothing: sign-up and confirmation, the join, the admin's emailed decision."""
    company = make_company("C-10001", name="Durand SARL")
    admin_user, claire = person(app, "claire@example.com", given_name="Claire")
    make_membership(admin_user, company, is_admin=True)

    zoe = browser(app)
    at_login = authorize(zoe.client)
    uid = at_login.headers["Location"].split("interaction=")[1]
    signed_up = zoe.submit("/register", {
        "email": "zoe@example.com", "email_confirm": "zoe@example.com", "password": "Brand-New-Pass-31",
        "password_confirm": "Brand-New-Pass-31", "given_name": "Zoé", "family_name": "Lambert", "interaction": uid,
    }, form_path=f"/register?interaction={uid}")
    assert signed_up.status_code == 200
    deliver(smtp)
    confirm = link_in(smtp, mail_to(smtp, "zoe@example.com")[-1], "/confirm/")
    # Confirming signs the registering browser in and resumes the portal's request: no company yet.
    page = walk(zoe, zoe.submit(confirm, {}))
    assert page.status_code == 403 and "not linked to any company yet" in page.get_data(as_text=True)

    assert join(zoe, "C-10001", "CODE-1234").headers["Location"] == "/companies/requests"
    deliver(smtp)
    [ask] = mail_to(smtp, "claire@example.com")
    link = next(x for x in smtp.links(ask) if "/admin/companies/" in x)
    assert claire.submit(path_of(link) + "/approve", {"role": "order"}, form_path=path_of(link)).status_code == 302
    deliver(smtp)
    assert any("approved" in m["Subject"] for m in mail_to(smtp, "zoe@example.com"))

    location = walk(zoe, authorize(zoe.client))
    claims = id_token(zoe.client, tokens(zoe.client, location))
    assert claims["email"] == "zoe@example.com" and claims["email_verified"] is True
    assert claims["company"] == {"id": "C-10001", "name": "Durand SARL", "role": "order", "admin": False,
                                 "branch": None}
    assert (claims["company_id"], claims["company_role"], claims["company_admin"]) == ("C-10001", "order", "false")
