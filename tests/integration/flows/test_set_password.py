"""The set_password step: an account whose password an operator chose sets its own at first sign-in."""

import pytest

from idp import accounts
from idp.extensions import db
from idp.models import User
from tests.factories import PASSWORD, make_user
from tests.integration.flows.mailbox import Portal, events, lifecycle_config

OWN = "My-Own-Pass-5150"


@pytest.fixture
def config_overrides(smtp):
    return lifecycle_config(smtp)


def test_step_through_authorize(app, client, actions):
    with app.test_request_context():
        accounts.create_user(email="admin@example.com", username="admin", password=PASSWORD,
                             must_change_password=True)
    portal = Portal(client)
    login_page = portal.start()
    uid = Portal.interaction(login_page)
    response = actions.submit("/login", {"login": "admin", "password": PASSWORD, "interaction": uid},
                              form_path=login_page)
    step = portal.follow(response)
    assert step == f"/password/set?interaction={uid}"
    page = client.get(step)
    assert "Choose your own password" in page.get_data(as_text=True)

    # The given password cannot be kept.
    same = actions.submit("/password/set", {"password": PASSWORD, "password_confirm": PASSWORD,
                                            "interaction": uid}, form_path=step)
    assert same.status_code == 400 and "different from the one you were given" in same.get_data(as_text=True)

    response = actions.submit("/password/set", {"password": OWN, "password_confirm": OWN, "interaction": uid},
                              form_path=step)
    claims = portal.claims(portal.follow(response))
    assert claims["amr"] == ["pwd"]
    assert events("user.first_password_set") == ["user.first_password_set"]

    actions.logout()
    assert actions.login("admin", PASSWORD).status_code == 401
    assert actions.login("admin", OWN).headers["Location"] == "/"  # asked no more


def test_without_a_portal_the_sign_in_leads_to_the_step(app, client, actions):
    make_user("admin@example.com", must_change_password=True)
    response = actions.login("admin@example.com", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"].startswith("/password/set")
    response = actions.submit("/password/set", {"password": OWN, "password_confirm": OWN},
                              form_path=response.headers["Location"])
    assert response.status_code == 302 and response.headers["Location"] == "/"
    db.session.expire_all()
    assert not User.find_by_email("admin@example.com").must_change_password


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [("short", "short", "too short"), (OWN, OWN + "x", "The two passwords are not the same."),
     ("", "", "New password: this field is required.")],
    ids=["weak", "mismatch", "empty"],
)
def test_refusals(client, actions, password, confirm, message):
    make_user("admin@example.com", must_change_password=True)
    actions.login("admin@example.com", PASSWORD)
    response = actions.submit("/password/set", {"password": password, "password_confirm": confirm})
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_needs_a_session(client):
    response = client.get("/password/set")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
