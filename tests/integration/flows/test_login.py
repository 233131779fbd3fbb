"""Password sign-in through the /login page."""

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, User
from idp.models.users import UserStatus
from tests.factories import PASSWORD, count_hash_verifications, make_user

WRONG = "Wrong email, username or password."


def events(*names):
    db.session.expire_all()
    return [e.event for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if not names or e.event in names]


@pytest.mark.parametrize("login", ["ana@example.com", "ANA@Example.com ", "ana", "ANA"], ids=str)
def test_sign_in_by_email_or_username(client, actions, login):
    make_user("ana@example.com", username="ana")
    response = actions.login(login, PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert b"ana@example.com" in client.get("/").data
    assert events("user.signed_in") == ["user.signed_in"]


@pytest.mark.parametrize(
    ("login", "password"),
    [("ana@example.com", "Wrong-Password-1"), ("nobody@example.com", PASSWORD), ("nobody", "x")],
    ids=["wrong-password", "unknown-email", "unknown-username"],
)
def test_failures_look_the_same(client, actions, login, password):
    make_user("ana@example.com", username="ana")
    response = actions.login(login, password)
    assert response.status_code == 401
    assert WRONG in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert events("user.sign_in_failed") == ["user.sign_in_failed"]


def test_a_user_without_password_cannot_sign_in(actions):
    make_user("new@example.com", password=None)
    assert actions.login("new@example.com", "").status_code == 400
    assert actions.login("new@example.com", PASSWORD).status_code == 401


@pytest.mark.parametrize(
    ("status", "text"),
    [(UserStatus.DISABLED, "This account has been disabled"), (UserStatus.PENDING, "not confirmed yet")],
    ids=["disabled", "unconfirmed"],
)
def test_account_state_is_told_only_to_who_knows_the_password(client, actions, status, text):
    make_user("ana@example.com", status=status)
    wrong = actions.login("ana@example.com", "Wrong-Password-1")
    assert wrong.status_code == 401 and WRONG in wrong.get_data(as_text=True)
    right = actions.login("ana@example.com", PASSWORD)
    assert right.status_code == 403 and text in right.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_session_id_changes_at_sign_in(client, actions):
    make_user("ana@example.com")
    client.get("/login")
    before = client.get_cookie("idp_session").value
    actions.login("ana@example.com", PASSWORD)
    after = client.get_cookie("idp_session").value
    assert before != after
    # The pre-sign-in id is worthless: a browser holding it is not signed in.
    other = client.application.test_client()
    other.set_cookie("idp_session", before)
    assert other.get("/").status_code == 302


def test_sign_out_ends_the_session(client, actions):
    make_user("ana@example.com")
    actions.login("ana@example.com", PASSWORD)
    cookie = client.get_cookie("idp_session").value
    assert client.get("/logout").status_code == 200  # a confirmation page, not a sign-out
    assert client.get("/").status_code == 200
    actions.logout()
    assert client.get("/").status_code == 302
    replay = client.application.test_client()
    replay.set_cookie("idp_session", cookie)
    assert replay.get("/").status_code == 302
    assert events("user.signed_out") == ["user.signed_out"]


def test_disabling_a_user_ends_their_session(app, client, actions):
    from idp.accounts import disable_user

    make_user("ana@example.com")
    actions.login("ana@example.com", PASSWORD)
    with app.test_request_context():
        disable_user("ana@example.com")
    assert client.get("/").status_code == 302


def test_hash_is_upgraded_at_sign_in_when_parameters_change(app, actions):
    from idp.accounts.passwords import Hasher

    user = make_user("ana@example.com")
    old_hash = user.password_hash
    stronger = app.config["IDP"].password_hashing.model_copy(update={"time_cost": 3})
    app.extensions["idp.hasher"] = Hasher.from_config(stronger)
    actions.login("ana@example.com", PASSWORD)
    db.session.expire_all()
    new_hash = db.session.get(User, user.id).password_hash
    assert new_hash != old_hash and ",t=3," in new_hash


def test_missing_csrf_token_is_refused_with_a_page(client):
    make_user("ana@example.com")
    response = client.post("/login", data={"login": "ana@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "messages"),
    [({}, ["Email or username: this field is required.", "Password: this field is required."]),
     ({"login": "", "password": "x"}, ["Email or username: this field is required."]),
     ({"login": "x" * 300, "password": "x"}, ["Email or username: at most 254 characters."]),
     ({"login": "a", "password": ""}, ["Password: this field is required."])],
    ids=["empty", "no-login", "login-too-long", "no-password"],
)
def test_incomplete_forms_get_a_clear_answer(actions, data, messages):
    response = actions.submit("/login", data)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert all(message in text for message in messages)
    assert "Wrong email, username or password." not in text


@pytest.mark.parametrize("config_overrides", [{"throttling": {"login_per_account": "3 per 15 minutes",
                                                              "login_per_ip": "100 per 15 minutes"}}])
def test_failed_attempts_lock_the_account_key_not_successes(client, actions):
    make_user("ana@example.com")
    make_user("bob@example.com")
    for _ in range(5):  # successes never count
        assert actions.login("bob@example.com", PASSWORD).status_code == 302
    for _ in range(3):
        assert actions.login("ana@example.com", "Wrong-Password-1").status_code == 401
    # Locked: even the right password gets the wrong-password answer (tests/integration/security).
    locked = actions.login("ana@example.com", PASSWORD)
    assert locked.status_code == 401 and WRONG in locked.get_data(as_text=True)
    assert events("user.signed_in") == ["user.signed_in"] * 5  # bob's, never ana's
    # An unknown login is throttled the same way, so the lock reveals nothing.
    for _ in range(3):
        actions.login("ghost@example.com", "Wrong-Password-1")
    assert events("user.locked_out") == ["user.locked_out"]
    assert actions.login("ghost@example.com", "Wrong-Password-1").status_code == 401
    assert events("user.locked_out") == ["user.locked_out"] * 2
    # Another account from the same address is unaffected.
    assert actions.login("bob@example.com", PASSWORD).status_code == 302


@pytest.mark.parametrize("config_overrides", [{"throttling": {"login_per_account": "100 per 15 minutes",
                                                              "login_per_ip": "4 per 15 minutes"}}])
def test_failed_attempts_are_limited_per_client_address(actions):
    make_user("ana@example.com")
    for number in range(4):
        assert actions.login(f"someone{number}@example.com", "Wrong-Password-1").status_code == 401
    refused = actions.login("ana@example.com", PASSWORD)
    assert refused.status_code == 401 and WRONG in refused.get_data(as_text=True)
    assert events("user.locked_out") == ["user.locked_out"]


def test_an_unknown_login_costs_one_hash_verification_like_a_known_one(app, actions):
    """Equal work, so equal time: the timing of a failure does not tell whether the account exists."""
    verified = count_hash_verifications(app)
    make_user("ana@example.com")
    actions.login("ana@example.com", "Wrong-Password-1")
    actions.login("nobody@example.com", "Wrong-Password-1")
    assert verified == [True, False]  # one real verification each; the unknown one against a dummy hash
