"""Operators reset a person's second factors (their pages, with a confirmation); company admins cannot."""

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, MfaFactor
from idp.security import mfa
from tests.conftest import smtp_mail_config
from tests.factories import make_company, make_membership
from tests.integration.companies.helpers import events, person
from tests.integration.flows.mailbox import mail_to
from tests.integration.flows.mfa_helpers import add_totp, mfa_config


@pytest.fixture
def config_overrides(smtp):
    return mfa_config(mail=smtp_mail_config(smtp))


def factor_names(user):
    db.session.expire_all()
    return [f.name for f in db.session.scalars(select(MfaFactor).where(MfaFactor.user_id == user.id))]


def test_an_operator_resets_a_persons_factors_after_confirming(app, smtp):
    ana, _ana_browser = person(app, "ana@example.com")
    add_totp(ana, "Phone")
    add_totp(ana, "Tablet")
    mfa.issue_recovery_codes(ana, notify=False)
    db.session.commit()
    bob, _bob_browser = person(app, "bob@example.com")
    olivia, me = person(app, "olivia@example.com", is_operator=True)

    listing = me.client.get("/admin/operator/users?q=example.com").get_data(as_text=True)
    reset = f"/admin/operator/users/{ana.public_id}/reset-mfa"
    assert f'action="{reset}"' in listing and "Reset two-step verification" in listing
    # Only people with something to reset get the action.
    assert f"/admin/operator/users/{bob.public_id}/reset-mfa" not in listing

    question = me.client.get(reset)
    text = question.get_data(as_text=True)
    assert question.status_code == 200 and "Reset the two-step verification of" in text
    unconfirmed = me.submit(reset, {}, form_path="/admin/operator/users?q=ana")
    assert unconfirmed.status_code == 200 and factor_names(ana) == ["Phone", "Tablet"]

    done = me.submit(reset, {"confirm": "yes"}, form_path=reset)
    assert done.status_code == 302 and done.headers["Location"] == "/admin/operator/users?q=ana@example.com"
    page = me.client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Two-step verification of ana@example.com was reset: 2 factors removed." in page
    assert factor_names(ana) == [] and mfa.recovery_codes_left(ana) == 0
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "mfa.reset")).all()
    assert (event.user_id, event.actor_id) == (ana.id, olivia.id)
    audit_page = me.client.get("/admin/operator/audit?event=mfa.reset").get_data(as_text=True)
    assert "An operator removed every second factor of a person" in audit_page
    [message] = mail_to(smtp, "ana@example.com")
    assert message["Subject"] == "Two-step verification was reset on your account"
    body = message.get_body(("plain",)).get_content()
    assert "removed every second factor and recovery code" in body and "If you did not ask for this" in body


def test_a_reset_in_french_for_a_french_account(app, smtp):
    ana, _browser = person(app, "ana@example.com")
    ana.locale = "fr"
    add_totp(ana)
    _olivia, me = person(app, "olivia@example.com", is_operator=True)
    reset = f"/admin/operator/users/{ana.public_id}/reset-mfa"
    assert me.submit(reset, {"confirm": "yes"}, form_path=reset).status_code == 302
    [message] = mail_to(smtp, "ana@example.com")
    # The catalogues are merged at the end of the issue: until then the English text is sent.
    assert message["Subject"] in ("Two-step verification was reset on your account",
                                  "La validation en deux étapes de votre compte a été réinitialisée")


def test_a_company_admin_cannot_reset_factors(app):
    company = make_company("C-1", name="Alpha")
    ana, _ana_browser = person(app, "ana@example.com")
    make_membership(ana, company, role="order")
    add_totp(ana, "Phone")
    claire, me = person(app, "claire@example.com")
    make_membership(claire, company, role="order", is_admin=True)
    reset = f"/admin/operator/users/{ana.public_id}/reset-mfa"
    assert me.client.get(reset).status_code == 404
    members = me.client.get(f"/admin/companies/{company.public_id}/members").get_data(as_text=True)
    assert "reset-mfa" not in members and "Reset two-step verification" not in members
    assert me.submit(reset, {"confirm": "yes"}, form_path="/account").status_code == 404
    assert factor_names(ana) == ["Phone"] and "mfa.reset" not in events()


def test_an_unknown_person_is_not_found(app):
    _olivia, me = person(app, "olivia@example.com", is_operator=True)
    assert me.client.get("/admin/operator/users/nobody/reset-mfa").status_code == 404
