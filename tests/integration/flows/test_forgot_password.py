"""Forgotten password: /password/forgot → email → /password/reset/<token> → signed in."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import Link, OutboxMessage
from idp.models.base import utcnow
from idp.models.users import UserStatus
from tests.factories import PASSWORD, make_user
from tests.integration.flows.mailbox import deliver, events, lifecycle_config, link_in, mail_to, same_page

NEW = "Another-Good-Pass-42"
SENT = "If an account matches"


@pytest.fixture
def extra_config():
    return {}


@pytest.fixture
def config_overrides(smtp, extra_config):
    return lifecycle_config(smtp, **extra_config)


def ask_reset(actions, email, **extra):
    return actions.submit("/password/forgot", {"email": email, **extra})


def reset_link(smtp, address):
    messages = mail_to(smtp, address)
    assert messages, f"no mail to {address}"
    return link_in(smtp, messages[-1], "/password/reset/")


def test_forgot_reset_sign_in(client, actions, smtp):
    user = make_user("ana@example.com", username="ana", locale="en")
    response = ask_reset(actions, "ANA@example.com")
    assert response.status_code == 200 and SENT in response.get_data(as_text=True)
    message = mail_to(smtp, "ana@example.com")[-1]
    assert message["Subject"] == "Instructions to change your password"
    path = reset_link(smtp, "ana@example.com")

    # A mail scanner's GET changes nothing: the link still works afterwards.
    assert client.get(path).status_code == 200
    assert client.get(path).status_code == 200
    response = actions.submit(path, {"password": NEW, "password_confirm": NEW})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert b"ana@example.com" in client.get("/").data  # signed in

    actions.logout()
    assert actions.login("ana", PASSWORD).status_code == 401
    assert actions.login("ana", NEW).status_code == 302
    db.session.refresh(user)
    assert user.session_epoch == 1
    assert events("user.password_reset_requested", "user.password_changed", "user.password_reset") == [
        "user.password_reset_requested", "user.password_changed", "user.password_reset"]


def test_reset_ends_every_other_session(app, client, actions, smtp):
    make_user("ana@example.com")
    other = app.test_client()
    from tests.conftest import Actions

    assert Actions(other).login("ana@example.com", PASSWORD).status_code == 302
    assert other.get("/").status_code == 200
    ask_reset(actions, "ana@example.com")
    actions.submit(reset_link(smtp, "ana@example.com"), {"password": NEW, "password_confirm": NEW})
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302  # the other browser was signed out


def test_link_is_single_use(client, actions, smtp):
    make_user("ana@example.com")
    ask_reset(actions, "ana@example.com")
    path = reset_link(smtp, "ana@example.com")
    assert actions.submit(path, {"password": NEW, "password_confirm": NEW}).status_code == 302
    actions.logout()
    again = client.get(path)
    assert again.status_code == 410 and "expired or has already been used" in again.get_data(as_text=True)
    # A POST replayed with a fresh CSRF token changes nothing either.
    response = actions.submit(path, {"password": "Third-Good-Pass-77", "password_confirm": "Third-Good-Pass-77"},
                              form_path="/password/forgot")
    assert response.status_code == 410
    assert actions.login("ana@example.com", NEW).status_code == 302


def test_a_new_password_voids_older_links(client, actions, smtp):
    make_user("ana@example.com")
    ask_reset(actions, "ana@example.com")
    first = reset_link(smtp, "ana@example.com")
    ask_reset(actions, "ana@example.com")
    second = reset_link(smtp, "ana@example.com")
    assert first != second
    assert actions.submit(second, {"password": NEW, "password_confirm": NEW}).status_code == 302
    assert client.get(first).status_code == 410


def test_expired_link(client, actions, smtp):
    make_user("ana@example.com")
    ask_reset(actions, "ana@example.com")
    path = reset_link(smtp, "ana@example.com")
    link = db.session.scalars(select(Link).where(Link.purpose == "password_reset")).one()
    assert link.expires_at - utcnow() <= timedelta(hours=1)
    db.session.execute(update(Link).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert client.get(path).status_code == 410
    replay = actions.submit(path, {"password": NEW, "password_confirm": NEW}, form_path="/password/forgot")
    assert replay.status_code == 410


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("Short-1", "Short-1", "too short: it needs at least 8 characters"),
        ("no-upper-case-1", "no-upper-case-1", "needs an uppercase letter"),
        ("NO-LOWER-CASE-1", "NO-LOWER-CASE-1", "needs a lowercase letter"),
        ("No-Digits-Here", "No-Digits-Here", "needs a digit"),
        ("NoSpecials1234", "NoSpecials1234", "needs a special character"),
        ("Password1!", "Password1!", "too common"),
        (NEW, NEW + "x", "The two passwords are not the same."),
        ("", "", "New password: this field is required."),
    ],
    ids=["short", "no-upper", "no-lower", "no-digit", "no-special", "common", "mismatch", "empty"],
)
def test_policy_violations(client, actions, smtp, password, confirm, message):
    make_user("ana@example.com")
    ask_reset(actions, "ana@example.com")
    path = reset_link(smtp, "ana@example.com")
    response = actions.submit(path, {"password": password, "password_confirm": confirm})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert client.get(path).status_code == 200  # the link is still usable


def test_policy_messages_in_french(client, actions, smtp):
    make_user("ana@example.com")
    ask_reset(actions, "ana@example.com")
    path = reset_link(smtp, "ana@example.com")
    client.post("/language", data={"language": "fr", "csrf_token": actions.get_form(path)[1]})
    response = actions.submit(path, {"password": "abc", "password_confirm": "abc"})
    assert response.status_code == 400
    assert 'lang="fr"' in response.get_data(as_text=True)


@pytest.mark.parametrize("address", ["nobody@example.com", "disabled@example.com"], ids=["unknown", "disabled"])
def test_no_account_same_answer_no_mail(client, actions, smtp, address):
    make_user("disabled@example.com", status=UserStatus.DISABLED)
    known = make_user("ana@example.com")
    unknown_answer = ask_reset(actions, address)
    known_answer = ask_reset(actions, known.email)
    assert unknown_answer.status_code == known_answer.status_code == 200
    assert same_page(unknown_answer, address) == same_page(known_answer, known.email)
    assert sorted(unknown_answer.headers.keys()) == sorted(known_answer.headers.keys())
    deliver(smtp)
    assert smtp.to(address) == []
    assert len(smtp.to(known.email)) == 1


def test_rate_limited_per_address(client, actions, smtp):
    make_user("ana@example.com")
    answers = [ask_reset(actions, "ana@example.com") for _ in range(6)]
    # Throttled, the answer is the usual one (idp.security.throttling), but nothing more is sent.
    assert [a.status_code for a in answers] == [200] * 6
    assert same_page(answers[-1], "ana@example.com") == same_page(answers[0], "ana@example.com")
    assert db.session.scalar(select(db.func.count()).select_from(OutboxMessage)) == 5
    assert events("user.password_reset_throttled") == ["user.password_reset_throttled"]


def test_first_password_for_operator_created_account(app, client, actions, smtp):
    from idp import accounts

    with app.test_request_context():
        accounts.create_user(email="new@example.com", username="newbie", given_name="Nora", send_password_link=True)
    message = mail_to(smtp, "new@example.com")[-1]
    text = smtp.text(message)
    assert "newbie" in text and "Nora" in text
    assert "password:" not in text.lower().replace("choose your password", "")
    path = link_in(smtp, message, "/password/reset/")
    assert actions.submit(path, {"password": NEW, "password_confirm": NEW}).status_code == 302
    actions.logout()
    assert actions.login("newbie", NEW).status_code == 302


def test_a_failed_sign_in_takes_the_floor_whether_or_not_it_emails(client, actions, smtp, monkeypatch):
    """Emailing the setup link is padded like every other failure: timing does not tell the account exists."""
    from idp.flows import login

    waits = []
    monkeypatch.setattr(login.SteadyClock, "wait", lambda clock: waits.append(clock.floor))
    make_user("new@example.com", password=None)
    assert actions.login("new@example.com", "anything").status_code == 401
    assert actions.login("nobody@example.com", "anything").status_code == 401
    assert len(mail_to(smtp, "new@example.com")) == 1
    assert waits == [login.FAILURE_FLOOR_SECONDS] * 2


def test_signing_in_without_a_password_emails_the_setup_link(client, actions, smtp):
    make_user("new@example.com", password=None, username="newbie")
    response = actions.login("newbie", "anything")
    assert response.status_code == 401
    assert "Wrong email, username or password." in response.get_data(as_text=True)
    # Once per interval, however many attempts.
    actions.login("newbie", "anything else")
    messages = mail_to(smtp, "new@example.com")
    assert len(messages) == 1 and messages[0]["Subject"] == "Your account: choose your password"
    path = link_in(smtp, messages[0], "/password/reset/")
    assert actions.submit(path, {"password": NEW, "password_confirm": NEW}).status_code == 302


def test_reset_confirms_an_unconfirmed_address(client, actions, smtp):
    user = make_user("ana@example.com", status=UserStatus.PENDING, email_verified=False)
    ask_reset(actions, "ana@example.com")
    assert actions.submit(reset_link(smtp, "ana@example.com"),
                          {"password": NEW, "password_confirm": NEW}).status_code == 302
    db.session.refresh(user)
    assert user.status == UserStatus.ACTIVE and user.email_verified


def test_email_in_the_users_language(client, actions, smtp):
    make_user("ana@example.com", locale="fr")
    ask_reset(actions, "ana@example.com")  # asked from an English page
    message = mail_to(smtp, "ana@example.com")[-1]
    assert '<html lang="fr">' in smtp.html(message)


def test_through_authorize(client, actions, smtp):
    """A portal sends the person to /authorize; forgot → reset → back to the portal with a code."""
    from tests.integration.flows.mailbox import Portal

    make_user("ana@example.com")
    portal = Portal(client)
    login_page = portal.start()
    uid = Portal.interaction(login_page)
    assert f'href="/password/forgot?interaction={uid}"' in client.get(login_page).get_data(as_text=True)
    actions.submit("/password/forgot", {"email": "ana@example.com", "interaction": uid},
                   form_path=f"/password/forgot?interaction={uid}")
    response = actions.submit(reset_link(smtp, "ana@example.com"), {"password": NEW, "password_confirm": NEW})
    claims = portal.claims(portal.follow(response))
    assert claims["email"] == "ana@example.com" and claims["amr"] == ["pwd"]


def test_first_password_through_authorize(client, actions, smtp):
    """No password yet: the sign-in attempt emails the setup link, which leads back to the portal."""
    from tests.integration.flows.mailbox import Portal

    make_user("new@example.com", password=None)
    portal = Portal(client)
    login_page = portal.start()
    uid = Portal.interaction(login_page)
    assert actions.submit("/login", {"login": "new@example.com", "password": "guess", "interaction": uid},
                          form_path=login_page).status_code == 401
    path = link_in(smtp, mail_to(smtp, "new@example.com")[-1], "/password/reset/")
    response = actions.submit(path, {"password": NEW, "password_confirm": NEW})
    assert portal.claims(portal.follow(response))["email"] == "new@example.com"


UNLIMITED = {"throttling": {"forgot_password_per_account": "1000 per hour", "forgot_password_per_ip": "1000 per hour"}}


@pytest.mark.parametrize("extra_config", [UNLIMITED], ids=["unthrottled"])
def test_timing_does_not_tell_whether_an_address_is_known(client, actions, smtp):
    """Medians of interleaved requests for a known and an unknown address are within 10 %."""
    from statistics import median

    from idp.accounts.timing import RESPONSE_FLOOR_SECONDS
    from tests.integration.flows.mailbox import interleaved_durations

    make_user("ana@example.com")
    _, token = actions.get_form("/password/forgot")

    def ask(address):
        def call(_index):
            response = client.post("/password/forgot", data={"csrf_token": token, "email": address})
            assert response.status_code == 200

        return call

    known, unknown = interleaved_durations(ask("ana@example.com"), ask("nobody@example.com"))
    # Both paths do the same work and are padded to the same floor: the floor is what a visitor sees.
    assert min(known) >= RESPONSE_FLOOR_SECONDS and min(unknown) >= RESPONSE_FLOOR_SECONDS
    assert abs(median(known) - median(unknown)) <= 0.1 * min(median(known), median(unknown)), (known, unknown)
    assert db.session.scalar(select(db.func.count()).select_from(OutboxMessage)) == 30


def test_reset_revokes_refresh_tokens(client, actions, smtp):
    from tests.integration.flows.mailbox import Portal

    make_user("ana@example.com")
    portal = Portal(client)
    login_page = portal.start(scope="openid email offline_access")
    response = actions.submit("/login", {"login": "ana@example.com", "password": PASSWORD,
                                         "interaction": Portal.interaction(login_page)}, form_path=login_page)
    portal.claims(portal.follow(response))
    assert "refresh_token" in portal.tokens
    actions.logout()
    ask_reset(actions, "ana@example.com")
    actions.submit(reset_link(smtp, "ana@example.com"), {"password": NEW, "password_confirm": NEW})
    refused = portal.refresh()
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "make_path",
    [
        lambda confirm, reset: confirm.replace("/confirm/", "/password/reset/"),
        lambda confirm, reset: reset.replace("/password/reset/", "/confirm/"),
        lambda confirm, reset: reset.replace("/password/reset/", "/invitations/"),
        lambda confirm, reset: reset.replace("/password/reset/", "/account/email/confirm/"),
        lambda confirm, reset: "/password/reset/" + "A" * 43,
        lambda confirm, reset: "/password/reset/" + "x" * 500,
    ],
    ids=["confirm-token-as-reset", "reset-token-as-confirm", "reset-token-as-invitation",
         "reset-token-as-email-change", "made-up", "oversized"],
)
def test_foreign_links_are_refused(client, actions, smtp, make_path):
    from tests.integration.flows.mailbox import link_in

    make_user("ana@example.com")
    actions.submit("/register", {"email": "zoe@example.com", "email_confirm": "zoe@example.com", "password": NEW,
                                 "password_confirm": NEW, "given_name": "Zoé", "family_name": "Martin"})
    confirm = link_in(smtp, mail_to(smtp, "zoe@example.com")[-1], "/confirm/")
    ask_reset(actions, "ana@example.com")
    reset = reset_link(smtp, "ana@example.com")
    path = make_path(confirm, reset)
    assert client.get(path).status_code == 410
    assert actions.submit(path, {"password": NEW, "password_confirm": NEW, "given_name": "M", "family_name": "M"},
                          form_path="/password/forgot").status_code == 410
    # Both genuine links still work.
    assert client.get(confirm).status_code == 200 and client.get(reset).status_code == 200


def test_cli_created_account_gets_its_username_and_a_link(app, backend, tmp_path, client, actions, smtp):
    import yaml
    from click.testing import CliRunner

    from idp.cli import main
    from tests.conftest import base_config

    path = tmp_path / "idp.yaml"
    path.write_text(yaml.safe_dump(base_config(backend, tmp_path, **lifecycle_config(smtp))))
    result = CliRunner().invoke(main, ["--config", str(path), "users", "create", "--email", "op@example.com",
                                       "--username", "op-user", "--locale", "fr", "--send-password-link"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    message = smtp.wait_for(1)[-1]
    assert "op-user" in smtp.text(message) and '<html lang="fr">' in smtp.html(message)
    path = link_in(smtp, message, "/password/reset/")
    assert actions.submit(path, {"password": NEW, "password_confirm": NEW}).status_code == 302
    actions.logout()
    assert actions.login("op-user", NEW).status_code == 302
