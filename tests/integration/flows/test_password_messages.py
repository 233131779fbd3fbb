"""A refused new password says which rule it broke: too common, or containing the person's name
or address (two messages), beside the password field of every form that sets one."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD
from tests.integration.web.markup import Page, all_flows_config, browser, reset_path, signed_in, squeeze

COMMON = "This password is too common: choose another one."
PERSONAL = "This password contains your name or your email address: choose another one."


@pytest.fixture
def config_overrides(smtp):
    return all_flows_config(smtp)


def _register(app, password):
    return browser(app).submit("/register", {
        "email": "zoe@example.com", "email_confirm": "zoe@example.com", "password": password,
        "password_confirm": password, "given_name": "Zoé", "family_name": "Martin"})


def _reset(app, password):
    path = reset_path(app)  # an account of make_user: given name Alex
    return browser(app).submit(path, {"password": password, "password_confirm": password})


def _account(app, password):
    actions = signed_in(app, email="zora.k@example.com")
    return actions.submit("/account/password", {"current_password": PASSWORD, "password": password,
                                                "password_confirm": password}, form_path="/account")


@pytest.mark.parametrize(
    ("post", "password", "shown", "not_shown"),
    [(_register, "Password1!", COMMON, PERSONAL),
     (_register, "Martin-Pass-2026!", PERSONAL, COMMON),
     (_reset, "Password1!", COMMON, PERSONAL),
     (_reset, "Alex-Good-Pass-77", PERSONAL, COMMON),
     (_account, "Password1!", COMMON, PERSONAL),
     (_account, "Zora.K-Pass-77", PERSONAL, COMMON)],
    ids=["register-common", "register-name", "reset-common", "reset-name", "account-common", "account-address"],
)
def test_the_message_says_which_rule(app, post, password, shown, not_shown):
    response = post(app, password)
    assert response.status_code == 400
    html = Page(response.get_data(as_text=True))
    field = html.by_id("password")
    assert field.get("aria-invalid") == "true"
    beside = html.by_id("password-error")
    assert beside.get("id") in field.get("aria-describedby").split()
    assert "password-hint" in field.get("aria-describedby").split()  # the policy in words, too
    assert shown in squeeze(beside.text) and not_shown not in response.get_data(as_text=True)
