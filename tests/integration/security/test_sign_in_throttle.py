"""The sign-in throttles: one count per account however it is typed, the wrong-password answer while
throttled, and one email to the owner per lockout window (real SMTP)."""

from __future__ import annotations

import pytest
from limits import parse

from idp.extensions import db, limiter
from idp.models import User
from idp.models.users import UserStatus
from idp.security.throttling import LOGIN_ACCOUNT, ONCE_KEY, sign_in_account_key
from idp.store import get_store
from tests.conftest import Actions, IsolatedClient
from tests.factories import PASSWORD, count_hash_verifications, make_user
from tests.integration.flows.mailbox import events, lifecycle_config, link_in, mail_to, same_page

WRONG = "Wrong email, username or password."
BAD = "Wrong-Password-1"
NEW = "Changed-Pass-8080"


@pytest.fixture
def config_overrides(smtp):
    return lifecycle_config(smtp, throttling={"login_per_account": "3 per 15 minutes",
                                              "login_per_ip": "100 per 15 minutes"})


def browser(app, peer="127.0.0.1"):
    app.test_client_class = IsolatedClient
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = peer
    return Actions(client)


def end_of_window(app, user):
    """What the end of the account's 15 minutes does: its count and its once-per-window marks expire."""
    key = sign_in_account_key(user, "")
    rate = app.config["IDP"].throttling.login_per_account
    limiter.limiter.clear(parse(rate), app.config["RATELIMIT_KEY_PREFIX"], key, LOGIN_ACCOUNT)
    get_store().delete(f"{ONCE_KEY}mail:{LOGIN_ACCOUNT}:{key}")


@pytest.mark.parametrize(
    ("typed", "then"),
    [(["ana@example.com", "ana", "ANA@Example.com "], "ana"),
     (["ana", "ANA", "ana"], "ana@example.com")],
    ids=["email-then-username", "username-then-email"],
)
def test_one_count_per_account_whatever_it_is_typed_as(app, actions, typed, then):
    make_user("ana@example.com", username="ana")
    for login in typed:
        assert actions.login(login, BAD).status_code == 401
    refused = actions.login(then, PASSWORD)
    assert refused.status_code == 401 and WRONG in refused.get_data(as_text=True)
    assert events("user.signed_in", "user.locked_out") == ["user.locked_out"]


def test_unknown_logins_are_counted_per_typed_value(app, actions):
    for _ in range(3):
        actions.login("ghost@example.com", BAD)
    actions.login("Ghost@Example.com", BAD)  # the same typed value: throttled
    actions.login("ghost", BAD)  # another one: counted on its own
    assert events("user.sign_in_failed", "user.locked_out") == ["user.sign_in_failed"] * 3 + [
        "user.locked_out", "user.sign_in_failed"]


@pytest.mark.parametrize("who", ["known", "unknown"])
@pytest.mark.parametrize("config_overrides", [
    pytest.param({"throttling": {"login_per_account": "3 per 15 minutes", "login_per_ip": "100 per 15 minutes"}},
                 id="account-throttle"),
    pytest.param({"throttling": {"login_per_account": "100 per 15 minutes", "login_per_ip": "3 per 15 minutes"}},
                 id="ip-throttle"),
])
def test_a_throttled_sign_in_is_answered_as_a_wrong_password(app, actions, who):
    """OWASP Authentication Cheat Sheet: the same status, page and message, even for the right password."""
    make_user("ana@example.com")
    login = "ana@example.com" if who == "known" else "ghost@example.com"
    wrong = actions.login(login, BAD)
    for _ in range(2):
        actions.login(login, BAD)
    throttled = actions.login(login, PASSWORD)
    assert events("user.locked_out") == ["user.locked_out"]
    assert throttled.status_code == wrong.status_code == 401
    assert same_page(throttled, login) == same_page(wrong, login)
    assert WRONG in throttled.get_data(as_text=True)
    assert sorted(throttled.headers.keys()) == sorted(wrong.headers.keys())
    assert "Retry-After" not in throttled.headers
    assert actions.client.get("/").status_code == 302


def test_a_throttled_attempt_costs_one_hash_like_a_wrong_one(app, actions):
    """The same work, so the same time: a hash verification on every attempt, throttled or not."""
    verified = count_hash_verifications(app)
    make_user("ana@example.com")
    for _ in range(3):
        actions.login("ana@example.com", BAD)
    assert verified == [True] * 3
    actions.login("ana@example.com", PASSWORD)
    assert verified == [True] * 3 + [False]  # throttled: verified against the dummy hash, never the account's


def test_the_owner_gets_one_email_per_lockout_window_and_its_link_works(app, smtp):
    make_user("ana@example.com", username="ana", locale="fr")
    attacker = browser(app, "203.0.113.5")
    for login in ("ana@example.com", "ana", "ana@example.com"):
        attacker.login(login, BAD, headers={"Accept-Language": "en"})
    [mail] = mail_to(smtp, "ana@example.com")
    assert '<html lang="fr">' in smtp.html(mail)  # the account's language, not the guesser's
    assert "ana@example.com" in smtp.text(mail)
    # More attempts in the same window, right password included, from elsewhere too: no more mail.
    attacker.login("ana", PASSWORD)
    browser(app, "198.51.100.7").login("ana@example.com", BAD)
    assert len(mail_to(smtp, "ana@example.com")) == 1
    assert events("user.lockout_notified") == ["user.lockout_notified"]

    # The next window: the owner may sign in again; a new lockout, a new email.
    end_of_window(app, User.find_by_email("ana@example.com"))
    for _ in range(3):
        attacker.login("ana", BAD)
    _first, second = mail_to(smtp, "ana@example.com")

    # The link is a single-use password reset link: it sets a new password and signs the owner in.
    owner = browser(app, "198.51.100.20")
    path = link_in(smtp, second, "/password/reset/")
    assert owner.client.get(path).status_code == 200
    reset = owner.submit(path, {"password": NEW, "password_confirm": NEW})
    assert reset.status_code == 302 and owner.client.get("/").status_code == 200
    assert owner.client.get(path).status_code == 410
    end_of_window(app, User.find_by_email("ana@example.com"))
    assert browser(app).login("ana@example.com", NEW).status_code == 302


@pytest.mark.parametrize("status", [UserStatus.ACTIVE, UserStatus.DISABLED], ids=["unknown", "disabled"])
def test_no_email_without_an_owner_to_tell(app, smtp, actions, status):
    if status == UserStatus.DISABLED:
        make_user("ana@example.com", status=status)
        login = "ana@example.com"
    else:
        login = "ghost@example.com"
    for _ in range(4):
        assert actions.login(login, BAD).status_code == 401
    db.session.commit()
    assert mail_to(smtp, login) == []
    assert events("user.lockout_notified") == []
