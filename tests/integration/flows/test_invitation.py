"""Invitations: invite (core API or `idp invite`) → email → /invitations/<token> → member, signed in."""

from datetime import timedelta

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select, update

from idp.cli import main
from idp.companies import invitations
from idp.extensions import db
from idp.models import Invitation, Membership, User
from idp.models.base import utcnow
from idp.models.users import UserStatus
from tests.conftest import Actions, IsolatedClient, base_config
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.flows.mailbox import events, lifecycle_config, link_in, mail_to

GOOD = "Invited-Pass-2026"
NEW_ACCOUNT = {"given_name": "Inès", "family_name": "Durand", "password": GOOD, "password_confirm": GOOD}


@pytest.fixture
def extra_config():
    return {}


@pytest.fixture
def config_overrides(smtp, extra_config):
    return lifecycle_config(smtp, **extra_config)


@pytest.fixture
def company(app):
    return make_company("ACME-1", name="Acme Tools")


def invite(app, company, email="ines@example.com", role="order", branch=None, actor=None):
    with app.test_request_context():
        invitation = invitations.invite(company, email, role, branch=branch, actor=actor, locale="en")
        db.session.commit()
    return invitation


def invitation_link(smtp, address="ines@example.com"):
    messages = mail_to(smtp, address)
    assert messages
    return link_in(smtp, messages[-1], "/invitations/")


def browser(app):
    app.test_client_class = IsolatedClient
    return Actions(app.test_client())


def membership_of(email, company):
    db.session.expire_all()
    user = User.find_by_email(email)
    return db.session.scalars(select(Membership).where(Membership.user_id == user.id,
                                                       Membership.company_id == company.id)).one_or_none()


def test_new_person_accepts_and_is_signed_in(app, client, actions, smtp, company):
    admin = make_user("boss@example.com", given_name="Bea", family_name="Boss")
    invite(app, company, branch="Lyon", actor=admin)
    message = mail_to(smtp, "ines@example.com")[-1]
    assert message["Subject"] == "Invitation to join Acme Tools"
    text = smtp.text(message)
    assert "Bea Boss invites you to join Acme Tools" in text and "Place an order" in text and "Lyon" in text
    path = invitation_link(smtp)

    page = client.get(path)  # a mail scanner's GET changes nothing
    assert page.status_code == 200 and "Create your account for ines@example.com" in page.get_data(as_text=True)
    assert User.find_by_email("ines@example.com") is None

    response = actions.submit(path, NEW_ACCOUNT)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert b"ines@example.com" in client.get("/").data
    user = User.find_by_email("ines@example.com")
    assert user.email_verified and user.status == UserStatus.ACTIVE and user.name == "Inès Durand"
    membership = membership_of("ines@example.com", company)
    assert membership.is_active and membership.role == "order" and membership.branch == "Lyon"
    assert not membership.is_admin
    assert events("invitation.sent", "invitation.accepted") == ["invitation.sent", "invitation.accepted"]

    actions.logout()
    assert actions.login("ines@example.com", GOOD).status_code == 302


def test_existing_account_signs_in_then_accepts(app, client, actions, smtp, company):
    make_user("ines@example.com")
    invite(app, company, role="prices_only")
    path = invitation_link(smtp)
    page = client.get(path)
    assert page.status_code == 200 and "Sign in to accept" in page.get_data(as_text=True)
    response = actions.submit("/login", {"login": "ines@example.com", "password": PASSWORD, "next": path},
                              form_path="/login?next=" + path)
    assert response.headers["Location"] == path
    page = client.get(path)
    assert "Accept the invitation" in page.get_data(as_text=True)
    assert membership_of("ines@example.com", company) is None
    response = actions.submit(path, {})
    assert response.status_code == 302
    membership = membership_of("ines@example.com", company)
    assert membership.is_active and membership.role == "prices_only"


def test_signed_in_as_someone_else_is_refused(app, client, actions, smtp, company):
    make_user("ines@example.com")
    make_user("mallory@example.com")
    invite(app, company)
    path = invitation_link(smtp)
    assert actions.login("mallory@example.com", PASSWORD).status_code == 302
    page = client.get(path)
    assert page.status_code == 403 and "This invitation was sent to ines@example.com" in page.get_data(as_text=True)
    assert actions.submit(path, {}, form_path="/account").status_code == 403
    assert membership_of("mallory@example.com", company) is None
    assert membership_of("ines@example.com", company) is None
    assert "invitation.refused" in events()
    # Still valid for the right person.
    browser(app).client.get(path)
    assert db.session.scalars(select(Invitation)).one().accepted_at is None


def test_signed_in_as_someone_else_cannot_create_the_invited_account(app, client, actions, smtp, company):
    make_user("mallory@example.com")
    invite(app, company)
    path = invitation_link(smtp)
    actions.login("mallory@example.com", PASSWORD)
    assert actions.submit(path, NEW_ACCOUNT, form_path="/account").status_code == 403
    assert User.find_by_email("ines@example.com") is None


def test_single_use(app, client, actions, smtp, company):
    invite(app, company)
    path = invitation_link(smtp)
    assert actions.submit(path, NEW_ACCOUNT).status_code == 302
    actions.logout()
    again = client.get(path)
    assert again.status_code == 410 and "Invitation no longer valid" in again.get_data(as_text=True)
    other = browser(app)
    assert other.submit(path, {**NEW_ACCOUNT, "given_name": "Mallory"}, form_path="/login").status_code == 410
    assert User.find_by_email("ines@example.com").given_name == "Inès"


def test_expired(app, client, actions, smtp, company):
    invitation = invite(app, company)
    assert timedelta(days=6, hours=23) < invitation.expires_at - utcnow() <= timedelta(days=7)
    path = invitation_link(smtp)
    db.session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert client.get(path).status_code == 410
    assert actions.submit(path, NEW_ACCOUNT, form_path="/login").status_code == 410
    assert User.find_by_email("ines@example.com") is None


@pytest.mark.parametrize("extra_config", [{"invitations": {"ttl_days": 2}}], ids=["2-days"])
def test_validity_is_configurable(app, company, smtp):
    invitation = invite(app, company)
    assert timedelta(days=1, hours=23) < invitation.expires_at - utcnow() <= timedelta(days=2)


def test_revoked(app, client, actions, smtp, company):
    invitation = invite(app, company)
    path = invitation_link(smtp)
    invitations.revoke(invitation)
    db.session.commit()
    assert client.get(path).status_code == 410
    assert "invitation.revoked" in events()


def test_resend_voids_the_older_link(app, client, actions, smtp, company):
    invitation = invite(app, company)
    first = invitation_link(smtp)
    with app.test_request_context():
        invitations.resend(invitation)
        db.session.commit()
    second = invitation_link(smtp)
    assert first != second
    assert client.get(first).status_code == 410
    assert actions.submit(second, NEW_ACCOUNT).status_code == 302


def test_inviting_again_replaces_the_pending_invitation(app, client, smtp, company):
    invite(app, company, role="order")
    first = invitation_link(smtp)
    invite(app, company, role="prices_only")
    assert client.get(first).status_code == 410
    assert [i.revoked_at is None for i in db.session.scalars(select(Invitation).order_by(Invitation.id))] == [
        False, True]


@pytest.mark.parametrize(
    ("email", "role", "message"),
    [("not-an-address", "order", "This email address is not valid"), ("x@example.com", "astronaut", "Unknown role"),
     ("member@example.com", "order", "already a member")],
    ids=["bad-email", "unknown-role", "already-member"],
)
def test_invite_refusals(app, company, smtp, email, role, message):
    make_membership(make_user("member@example.com"), company)
    with app.test_request_context(), pytest.raises(invitations.InvitationError, match=message):
        invitations.invite(company, email, role)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"password": "weak", "password_confirm": "weak"}, "too short"),
     ({"password_confirm": GOOD + "!"}, "The two passwords are not the same."),
     ({"family_name": ""}, "Family name: this field is required.")],
    ids=["weak", "mismatch", "missing-name"],
)
def test_new_account_bad_input(app, client, actions, smtp, company, changes, message):
    invite(app, company)
    path = invitation_link(smtp)
    response = actions.submit(path, {**NEW_ACCOUNT, **changes})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert User.find_by_email("ines@example.com") is None
    assert client.get(path).status_code == 200


def test_cli_invite(app, backend, tmp_path, smtp, company):
    document = base_config(backend, tmp_path, **lifecycle_config(smtp))
    path = tmp_path / "idp.yaml"
    path.write_text(yaml.safe_dump(document))
    result = CliRunner().invoke(main, ["--config", str(path), "invite", "--company", "ACME-1", "--role", "order",
                                       "--branch", "Nantes", "ines@example.com"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Invited ines@example.com to Acme Tools as order" in result.output
    message = smtp.wait_for(1)[-1]
    assert link_in(smtp, message, "/invitations/")
    assert db.session.scalars(select(Invitation)).one().branch == "Nantes"

    result = CliRunner().invoke(main, ["--config", str(path), "invite", "--company", "NOPE", "--role", "order",
                                       "x@example.com"])
    assert result.exit_code == 1 and "no company NOPE" in result.output


def test_accept_then_sign_in_through_authorize_with_the_company_claim(app, client, actions, smtp, company):
    from tests.integration.flows.mailbox import Portal

    invite(app, company, branch="Lyon")
    assert actions.submit(invitation_link(smtp), NEW_ACCOUNT).status_code == 302
    actions.logout()
    portal = Portal(client)
    login_page = portal.start(scope="openid email companies")
    response = actions.submit("/login", {"login": "ines@example.com", "password": GOOD,
                                         "interaction": Portal.interaction(login_page)}, form_path=login_page)
    claims = portal.claims(portal.follow(response))
    assert claims["company"] == {"id": "ACME-1", "name": "Acme Tools", "role": "order", "admin": False,
                                 "branch": "Lyon"}
    assert claims["company_id"] == "ACME-1" and claims["company_role"] == "order"


def test_accept_during_a_portal_sign_in(app, client, actions, smtp, company):
    """The invitation page opened with the portal's interaction: accepting resumes the portal's request."""
    from tests.integration.flows.mailbox import Portal

    invite(app, company)
    portal = Portal(client)
    uid = Portal.interaction(portal.start(scope="openid companies"))
    path = invitation_link(smtp) + f"?interaction={uid}"
    response = actions.submit(path, NEW_ACCOUNT)
    claims = portal.claims(portal.follow(response))
    assert claims["company"]["id"] == "ACME-1"


def test_existing_account_signs_in_then_accepts_during_a_portal_sign_in(app, client, actions, smtp, company):
    """Signing in from the invitation page keeps the portal's interaction: accepting resumes it."""
    import re
    from html import unescape
    from urllib.parse import parse_qs, urlsplit

    from tests.integration.flows.mailbox import Portal

    make_user("ines@example.com")
    invite(app, company)
    portal = Portal(client)
    uid = Portal.interaction(portal.start(scope="openid companies"))
    page = client.get(invitation_link(smtp) + f"?interaction={uid}").get_data(as_text=True)
    sign_in = unescape(re.search(r'href="(/login[^"]*)"', page).group(1))
    back = parse_qs(urlsplit(sign_in).query)["next"][0]
    response = actions.submit("/login", {"login": "ines@example.com", "password": PASSWORD, "next": back},
                              form_path=sign_in)
    assert response.headers["Location"] == back
    accept_page = client.get(back).get_data(as_text=True)
    carried = re.search(r'name="interaction" type="hidden" value="([^"]*)"', accept_page).group(1)
    assert carried == uid
    response = actions.submit(back, {"interaction": carried})
    claims = portal.claims(portal.follow(response))
    assert claims["company"]["id"] == "ACME-1"
