"""HEAD answers as GET does, without a body (RFC 9110 9.3.2): probes and `curl -I` see the real status."""

import pytest

from tests.factories import PASSWORD, make_user

FLOWS = ["login", "set_password", "forgot_password", "confirm_email", "register", "invitation", "account", "consent",
         "company_join", "company_choice", "tools", "account_request"]


def pages(app):
    """Every page that takes GET and no path argument."""
    return sorted(rule.rule for rule in app.url_map.iter_rules()
                  if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith("/static"))


@pytest.mark.parametrize("config_overrides", [{"flows": FLOWS}])
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_head_answers_as_get_without_a_body(app, client, actions, signed_in):
    if signed_in:
        make_user("ada@example.com")
        assert actions.login("ada@example.com", PASSWORD).status_code == 302
    assert "/login" in pages(app) and "/register" in pages(app)
    for path in pages(app):
        get, head = client.get(path), client.head(path)
        assert (head.status_code, head.get_data()) == (get.status_code, b""), path


def test_the_favicon_is_served_and_linked(client):
    with client.get("/static/favicon.svg") as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml" and b"<svg" in icon.get_data()
    assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in client.get("/login").get_data(
        as_text=True)
