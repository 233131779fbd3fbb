"""Addresses keep the local part as typed: mail goes there exactly; the lower-cased form is only a key.

Case folding made "Jürgen.Straße@…" "jürgen.strasse@…": the invitation, and every email after
it, went to another mailbox, and "Juergen.Straße" was taken for the account of
"juergen.strasse". Each test goes through the real pages and the real SMTP sink.
"""

import os
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from idp import accounts
from idp.extensions import db
from idp.models import Invitation, User
from idp.models.migrate import alembic_config
from tests.conftest import PG_URL, RUN_ID
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.companies.helpers import browser, memberships
from tests.integration.flows.mailbox import deliver, events, lifecycle_config, link_in

JURGEN = "Jürgen.Straße@example.com"
GOOD = "Invited-Pass-2026"


@pytest.fixture
def config_overrides(smtp):
    return lifecycle_config(smtp, flows=["login", "set_password", "forgot_password", "confirm_email", "register",
                                         "invitation", "account", "company_join", "tools"])


@pytest.fixture
def admin(app):
    company = make_company("C-1", name="Acme")
    user = make_user("admin@example.com", locale="en")
    make_membership(user, company, is_admin=True)
    actions = browser(app)
    assert actions.login("admin@example.com", PASSWORD).status_code == 302
    actions.company, actions.user_id = company, user.id
    return actions


def invite(admin, email):
    path = f"/admin/companies/{admin.company.public_id}/invite"
    return admin.submit(path, {"email": email, "role": "order"})


def test_the_invitation_goes_to_the_address_as_typed(app, smtp, admin):
    assert invite(admin, JURGEN).status_code == 302
    [message] = [m for m in deliver(smtp) if "/invitations/" in smtp.text(m)]
    assert smtp.recipients[smtp.messages.index(message)] == [JURGEN]  # the envelope, as sent
    assert str(message["To"]) == JURGEN
    assert db.session.scalars(sa.select(Invitation)).one().email == JURGEN

    jurgen = browser(app)
    response = jurgen.submit(link_in(smtp, message, "/invitations/"), {
        "given_name": "Jürgen", "family_name": "Straße", "password": GOOD, "password_confirm": GOOD})
    assert response.status_code == 302
    user = User.find_by_email(JURGEN)
    assert user.email == JURGEN and user.email_key == "jürgen.straße@example.com"


def test_an_address_that_folds_alike_is_another_persons(app, smtp, admin):
    """"Juergen.Straße" is not the member "juergen.strasse", whom case folding took him for."""
    other = make_user("juergen.strasse@example.com")
    make_membership(other, admin.company)
    response = invite(admin, "Juergen.Straße@example.com")
    assert response.status_code == 302
    assert [m["To"] for m in deliver(smtp) if "/invitations/" in smtp.text(m)] == ["Juergen.Straße@example.com"]


def test_one_account_per_address_whatever_its_case(app, client, actions, smtp):
    with app.test_request_context():
        accounts.create_user(email="Ana.Lopez@example.com", password=PASSWORD)
        with pytest.raises(accounts.AccountError):
            accounts.create_user(email="ana.lopez@EXAMPLE.COM", password=PASSWORD)
    assert actions.login("ANA.LOPEZ@example.com", PASSWORD).status_code == 302
    assert User.find_by_email("ana.lopez@example.com").email == "Ana.Lopez@example.com"


def test_the_database_refuses_a_second_account_in_another_case(app):
    make_user("Ana@example.com")
    db.session.add(User(email="ANA@example.com", given_name="A", family_name="B"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_mail_goes_to_the_accounts_address_not_to_what_was_typed(app, actions, smtp):
    make_user("Ana.Lopez@example.com", locale="en")
    response = actions.submit("/password/forgot", {"email": "ANA.LOPEZ@EXAMPLE.COM"})
    assert response.status_code == 200
    deliver(smtp)
    assert smtp.recipients == [["Ana.Lopez@example.com"]]


def test_the_invited_account_accepts_in_any_case(app, smtp, admin):
    ana = browser(app)
    user = make_user("Ana@example.com", locale="en")
    assert ana.login("Ana@example.com", PASSWORD).status_code == 302
    assert invite(admin, "ana@example.com").status_code == 302
    [message] = [m for m in deliver(smtp) if "/invitations/" in smtp.text(m)]
    path = link_in(smtp, message, "/invitations/")
    page = ana.client.get(path)
    assert page.status_code == 200
    assert ana.submit(path, {}).status_code == 302
    assert [m.user_id for m in memberships(admin.company)] == [admin.user_id, user.id]


@pytest.mark.parametrize("config_overrides", [{"flows": ["login"], "throttling": {"login_per_account": "2 per hour"}}])
def test_failed_sign_ins_count_for_the_account_whatever_the_case(app, actions):
    make_user("ana@example.com")
    assert actions.login("ana@example.com", "wrong").status_code == 401
    assert actions.login("ANA@Example.com", "wrong").status_code == 401
    # Locked under its one key: even the right password, typed in a third case, is refused.
    assert actions.login("Ana@EXAMPLE.com", PASSWORD).status_code == 401
    assert events("user.locked_out") == ["user.locked_out"]


def _on_server(statement):
    engine = sa.create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(statement))
    engine.dispose()


def _fresh_database(backend, tmp_path):
    """An empty database beside the test's own, to migrate from an older revision."""
    if backend.name.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'fresh.sqlite3'}", None
    name = f"idp_test_{RUN_ID}_{os.getpid()}_migration"
    _on_server(f'CREATE DATABASE "{name}"')
    return (make_url(PG_URL).set(database=name).render_as_string(hide_password=False),
            lambda: _on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_the_migration_gives_existing_accounts_their_key(backend, tmp_path):
    url, drop = _fresh_database(backend, tmp_path)
    engine = sa.create_engine(url)
    users = sa.table("users", *(sa.column(name) for name in (
        "public_id", "email", "email_verified", "given_name", "family_name", "must_change_password", "status",
        "is_operator", "session_epoch", "created_at", "updated_at")))
    now = datetime.now(UTC)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "c0a1e5b7d2f4")
            connection.execute(users.insert(), [
                {"public_id": f"p{number}", "email": email, "email_verified": True, "given_name": "", "family_name": "",
                 "must_change_password": False, "status": "active", "is_operator": False, "session_epoch": 0,
                 "created_at": now, "updated_at": now}
                for number, email in enumerate(["ana@example.com", "jürgen.strasse@example.com"])])
            command.upgrade(config, "e5b8a2c4f9d1")
            keys = connection.execute(sa.text("SELECT email, email_key FROM users ORDER BY public_id")).all()
        assert [tuple(row) for row in keys] == [("ana@example.com", "ana@example.com"),
                                                ("jürgen.strasse@example.com", "jürgen.strasse@example.com")]
    finally:
        engine.dispose()
        if drop is not None:
            drop()


def test_changing_only_the_case_of_ones_own_address(app, actions, smtp):
    """The account the new address names is the person's own: the link is sent, not withheld."""
    user = make_user("ana.lopez@example.com", locale="en")
    assert actions.login("ana.lopez@example.com", PASSWORD).status_code == 302
    response = actions.submit("/account/email", {"email": "Ana.Lopez@example.com", "current_password": PASSWORD},
                              form_path="/account")
    assert response.status_code == 302
    [message] = [m for m in deliver(smtp) if "/account/email/confirm/" in smtp.text(m)]
    assert smtp.recipients[smtp.messages.index(message)] == ["Ana.Lopez@example.com"]
    path = link_in(smtp, message, "/account/email/confirm/")
    assert actions.submit(path, {}).status_code == 200
    db.session.expire_all()
    assert db.session.get(User, user.id).email == "Ana.Lopez@example.com"
