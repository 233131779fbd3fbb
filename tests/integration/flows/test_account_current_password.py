"""Every page of the account flow that asks for the current password does so under the sign-in throttles."""

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, User
from tests.conftest import Actions, IsolatedClient
from tests.factories import PASSWORD, make_user
from tests.integration.flows.mailbox import LIFECYCLE_FLOWS, events, lifecycle_config, mail_to

NOT_CORRECT = "Your current password is not correct."
BAD = "Wrong-Pass-1234"
NEW = "Changed-Pass-8080"

PAGES = [
    pytest.param("/account/email", {"email": "ana.new@example.com"}, id="email"),
    pytest.param("/account/password", {"password": NEW, "password_confirm": NEW}, id="password"),
]


@pytest.fixture
def config_overrides(smtp):
    return lifecycle_config(smtp, throttling={"login_per_account": "3 per 15 minutes",
                                              "login_per_ip": "100 per 15 minutes"})


@pytest.fixture
def ana(app, actions):
    user = make_user("ana@example.com", locale="en")
    assert actions.login("ana@example.com", PASSWORD).status_code == 302
    return user


def post(actions, path, fields, current):
    return actions.submit(path, {**fields, "current_password": current}, form_path="/account")


def unchanged(user):
    db.session.expire_all()
    fresh = db.session.get(User, user.id)
    return fresh.email == "ana@example.com" and fresh.password_hash == user.password_hash


@pytest.mark.parametrize(("path", "fields"), PAGES)
def test_wrong_current_passwords_are_throttled_and_audited(app, actions, smtp, ana, path, fields):
    for _ in range(3):
        refused = post(actions, path, fields, BAD)
        assert refused.status_code == 400 and NOT_CORRECT in refused.get_data(as_text=True)
    # The limit is reached: the right password is refused with the very same answer.
    throttled = post(actions, path, fields, PASSWORD)
    assert throttled.status_code == 400 and NOT_CORRECT in throttled.get_data(as_text=True)
    assert unchanged(ana)
    purpose = "email_change" if path == "/account/email" else "password_change"
    failures = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "user.password_check_failed")).all()
    assert [(e.user_id, e.details) for e in failures] == [(ana.id, {"purpose": purpose})] * 3
    assert events("user.locked_out") == ["user.locked_out"]
    # No email to the new address; one to the owner, about the lockout.
    [mail] = mail_to(smtp, "ana@example.com")
    assert "/password/reset/" in smtp.text(mail)
    assert mail_to(smtp, "ana.new@example.com") == []


@pytest.mark.parametrize(("path", "fields"), PAGES)
def test_the_account_pages_and_sign_in_share_one_count(app, actions, ana, path, fields):
    """A session left open is no way around the sign-in limit, and the other way round."""
    post(actions, path, fields, BAD)
    app.test_client_class = IsolatedClient
    elsewhere = Actions(app.test_client())
    for _ in range(2):
        assert elsewhere.login("ana@example.com", BAD).status_code == 401
    assert elsewhere.login("ana@example.com", PASSWORD).status_code == 401
    assert post(actions, path, fields, PASSWORD).status_code == 400
    assert unchanged(ana)


@pytest.mark.parametrize("config_overrides", [{"flows": LIFECYCLE_FLOWS, "throttling": {
    "login_per_account": "100 per 15 minutes", "login_per_ip": "3 per 15 minutes"}}])
@pytest.mark.parametrize(("path", "fields"), PAGES)
def test_the_per_ip_throttle_applies_too(app, actions, path, fields):
    ana = make_user("ana@example.com", locale="en")
    assert actions.login("ana@example.com", PASSWORD).status_code == 302
    for number in range(3):
        actions.login(f"someone{number}@example.com", BAD)
    assert post(actions, path, fields, PASSWORD).status_code == 400
    assert unchanged(ana)
    assert events("user.locked_out") == ["user.locked_out"]


@pytest.mark.parametrize(("path", "fields"), PAGES)
def test_the_right_password_still_works_below_the_limit(app, actions, ana, path, fields):
    post(actions, path, fields, BAD)
    assert post(actions, path, fields, PASSWORD).status_code == 302
