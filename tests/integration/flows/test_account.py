"""The account page: change password, change email (confirmed at the new address), language."""

from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import User
from tests.conftest import Actions, IsolatedClient
from tests.factories import PASSWORD, make_user
from tests.integration.flows.mailbox import events, lifecycle_config, link_in, mail_to

NEW = "Changed-Pass-8080"


@pytest.fixture
def config_overrides(smtp):
    return lifecycle_config(smtp)


@pytest.fixture
def ana(app, actions):
    user = make_user("ana@example.com", locale="en")
    assert actions.login("ana@example.com", PASSWORD).status_code == 302
    return user


def change_password(actions, current, new, confirm=None):
    return actions.submit("/account/password", {"current_password": current, "password": new,
                                                "password_confirm": new if confirm is None else confirm},
                          form_path="/account")


def test_needs_sign_in(client):
    response = client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/account")


@pytest.mark.parametrize("path", ["/account/password", "/account/email", "/account/language"])
def test_a_post_while_signed_out_ends_on_a_page_after_sign_in(client, actions, path):
    """Sign-in ends with a GET of its `next`: it must not be an address that only takes POST."""
    make_user("ana@example.com", locale="en")
    _, token = actions.get_form("/login")
    sign_in = client.post(path, data={"csrf_token": token}).headers["Location"]
    assert sign_in.startswith("/login?next=")
    back = urlsplit(sign_in).query.removeprefix("next=")
    response = actions.submit("/login", {"login": "ana@example.com", "password": PASSWORD, "next": unquote(back)},
                              form_path=sign_in)
    assert response.status_code == 302
    assert client.get(response.headers["Location"]).status_code == 200


def test_page_shows_the_account(client, ana):
    text = client.get("/account").get_data(as_text=True)
    assert "ana@example.com" in text and "Change my password" in text and "Change my email address" in text
    assert 'href="/account"' in text  # the top bar links to it


def test_change_password(app, client, actions, ana):
    other = Actions(app.test_client())
    app.test_client_class = IsolatedClient
    assert other.login("ana@example.com", PASSWORD).status_code == 302
    response = change_password(actions, PASSWORD, NEW)
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert "Your password has been changed." in client.get("/account").get_data(as_text=True)
    assert other.client.get("/").status_code == 302  # the other session ended
    actions.logout()
    assert actions.login("ana@example.com", PASSWORD).status_code == 401
    assert actions.login("ana@example.com", NEW).status_code == 302


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [("Wrong-Pass-1234", NEW, None, "Your current password is not correct."),
     (PASSWORD, "short", None, "too short"),
     (PASSWORD, NEW, NEW + "x", "The two passwords are not the same."),
     ("", NEW, None, "Current password: this field is required.")],
    ids=["wrong-current", "weak", "mismatch", "missing-current"],
)
def test_change_password_refusals(client, actions, ana, current, new, confirm, message):
    response = change_password(actions, current, new, confirm)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    actions.logout()
    assert actions.login("ana@example.com", PASSWORD).status_code == 302


def test_change_email(app, client, actions, smtp, ana):
    response = actions.submit("/account/email", {"email": "Ana.New@Example.com", "current_password": PASSWORD},
                              form_path="/account")
    assert response.status_code == 302
    # The address as typed, its domain lower-cased: mail goes exactly there.
    assert "We have sent a link to Ana.New@example.com" in client.get("/account").get_data(as_text=True)
    db.session.refresh(ana)
    assert ana.email == "ana@example.com"  # not before confirmation
    message = mail_to(smtp, "Ana.New@example.com")[-1]
    assert message["Subject"] == "Confirm your new email address"
    path = link_in(smtp, message, "/account/email/confirm/")
    assert client.get(path).status_code == 200  # a scanner's GET changes nothing
    db.session.refresh(ana)
    assert ana.email == "ana@example.com"
    response = actions.submit(path, {})
    assert response.status_code == 200 and "Ana.New@example.com" in response.get_data(as_text=True)
    db.session.refresh(ana)
    assert ana.email == "Ana.New@example.com" and ana.email_verified
    told = mail_to(smtp, "ana@example.com")
    assert told[-1]["Subject"] == "Your email address has been changed"
    assert "Ana.New@example.com" in smtp.text(told[-1])
    assert client.get(path).status_code == 410  # single use
    actions.logout()
    assert actions.login("ana.new@example.com", PASSWORD).status_code == 302
    assert events("user.email_change_requested", "user.email_changed") == [
        "user.email_change_requested", "user.email_changed"]


def test_change_to_a_taken_address_looks_the_same(client, actions, smtp, ana):
    make_user("taken@example.com")
    response = actions.submit("/account/email", {"email": "taken@example.com", "current_password": PASSWORD},
                              form_path="/account")
    assert response.status_code == 302
    assert "We have sent a link to taken@example.com" in client.get("/account").get_data(as_text=True)
    assert mail_to(smtp, "taken@example.com") == []
    db.session.refresh(ana)
    assert ana.email == "ana@example.com"


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [("new@example.com", "Wrong-Pass-1234", "Your current password is not correct."),
     ("not-an-address", PASSWORD, "This email address is not valid."),
     ("ana@example.com", PASSWORD, "This is already your email address.")],
    ids=["wrong-password", "bad-address", "same-address"],
)
def test_change_email_refusals(client, actions, smtp, ana, email, password, message):
    response = actions.submit("/account/email", {"email": email, "current_password": password},
                              form_path="/account")
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_language(client, actions, ana):
    response = actions.submit("/account/language", {"language": "fr"}, form_path="/account")
    assert response.status_code == 302
    assert db.session.scalars(select(User)).one().locale == "fr"
    assert '<html lang="fr">' in client.get("/account").get_data(as_text=True)
