"""Operators (`idp operators add`) and their pages: users, companies, the audit log; disabling revokes tokens."""

import pytest
import yaml

from idp.extensions import db
from idp.models import User
from tests.conftest import base_config
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.companies.helpers import (
    SHOP_SECRET,
    authorize,
    browser,
    company_config,
    run_cli,
    tokens,
    walk,
)
from tests.integration.oidc.conftest import basic


@pytest.fixture
def config_overrides(smtp):
    return company_config(smtp)


def test_idp_operators_add(app, backend, tmp_path):
    make_user("olivia@example.com")
    path = tmp_path / "idp.yaml"
    path.write_text(yaml.safe_dump(base_config(backend, tmp_path)))
    result = run_cli(["--config", str(path), "operators", "add", "Olivia@example.com"])
    assert result.exit_code == 0 and "olivia@example.com is an operator." in result.output
    db.session.expire_all()
    assert User.find_by_email("olivia@example.com").is_operator
    unknown = run_cli(["--config", str(path), "operators", "add", "nobody@example.com"])
    assert unknown.exit_code == 1 and "no account for nobody@example.com" in unknown.output


def refresh(client, body):
    return client.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                       headers=basic("shop", SHOP_SECRET))


def test_an_operator_disables_a_user_and_their_refresh_tokens_stop(app, smtp):
    company = make_company("C-1", name="Alpha")
    user = make_user("ana@example.com")
    make_membership(user, company, role="order")
    ana = browser(app)
    assert "code=" in walk(ana, authorize(ana.client), login="ana@example.com")

    make_user("olivia@example.com", is_operator=True)
    olivia = browser(app)
    assert olivia.login("olivia@example.com", PASSWORD).status_code == 302
    found = olivia.client.get("/admin/operator/users?q=ana").get_data(as_text=True)
    assert "ana@example.com" in found
    disable = f"/admin/operator/users/{user.public_id}/disable"
    # The row's button asks first; nothing changes until the confirmation page's own button.
    question = olivia.client.get(disable)
    assert question.status_code == 200 and "Disable the account of" in question.get_data(as_text=True)
    unconfirmed = olivia.submit(disable, {}, form_path="/admin/operator/users?q=ana")
    assert unconfirmed.status_code == 200
    db.session.expire_all()
    assert db.session.get(User, user.id).status == "active"
    response = olivia.submit(disable, {"confirm": "yes"}, form_path=disable)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.id).status == "disabled"
    assert ana.client.get("/tools").status_code == 302  # signed out
    assert browser(app).login("ana@example.com", PASSWORD).status_code == 403
    audit = olivia.client.get("/admin/operator/audit?event=user.disabled").get_data(as_text=True)
    assert "user.disabled" in audit and "olivia@example.com" in audit and "127.0.0.1" in audit


def test_deactivation_revokes_refresh_tokens(app, smtp):
    company = make_company("C-1", name="Alpha")
    user = make_user("ana@example.com")
    make_membership(user, company, role="order")
    ana = browser(app)
    body = tokens(ana.client, walk(ana, authorize(ana.client), login="ana@example.com"))
    rotated = refresh(ana.client, body)
    assert rotated.status_code == 200
    body = rotated.get_json()
    make_user("olivia@example.com", is_operator=True)
    olivia = browser(app)
    olivia.login("olivia@example.com", PASSWORD)
    olivia.submit(f"/admin/operator/users/{user.public_id}/disable", {"confirm": "yes"},
                  form_path="/admin/operator/users?q=ana")
    response = refresh(ana.client, body)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_operator_pages_list_companies_and_audit(app):
    make_company("C-1", name="Alpha")
    make_company("C-2", name="Beta")
    make_user("olivia@example.com", is_operator=True)
    olivia = browser(app)
    olivia.login("olivia@example.com", PASSWORD)
    page = olivia.client.get("/admin/operator/companies?q=alp").get_data(as_text=True)
    assert "Alpha" in page and "Beta" not in page
    assert "Operator" in olivia.client.get("/admin/operator/").get_data(as_text=True)
    assert "user.signed_in" in olivia.client.get("/admin/operator/audit").get_data(as_text=True)


def test_a_role_change_ends_the_portals_refresh_tokens_and_rechecks_access(app, smtp):
    """A role the portal does not admit never yields a token for it, not even by refresh."""
    company = make_company("C-1", name="Alpha")
    admin_user = make_user("claire@example.com")
    make_membership(admin_user, company, role="order", is_admin=True)
    user = make_user("ana@example.com")
    make_membership(user, company, role="order")
    ana = browser(app)
    body = tokens(ana.client, walk(ana, authorize(ana.client), login="ana@example.com"))
    rotated = refresh(ana.client, body)
    assert rotated.status_code == 200

    claire = browser(app)
    claire.login("claire@example.com", PASSWORD)
    members = f"/admin/companies/{company.public_id}/members"
    changed = claire.submit(f"{members}/{user.public_id}/role", {"role": "prices_only", "branch": ""},
                            form_path=members)
    assert changed.status_code == 302
    # The current refresh token, valid a moment ago, is refused...
    response = refresh(ana.client, rotated.get_json())
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    # ...and a new sign-in to the shop is refused by the portal-access step.
    page = walk(ana, authorize(ana.client))
    assert page.status_code == 403 and "No access to this portal" in page.get_data(as_text=True)
