"""A person signs in through the real page in Chromium."""

from tests.factories import PASSWORD


def test_sign_in_through_the_page(live_server, page):
    created = live_server.idp("users", "create", "--email", "chloe@example.com", "--username", "chloe",
                              "--given-name", "Chloé", "--password-stdin", input=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    page.goto(live_server.url + "/")
    assert page.url.endswith("/login")
    page.fill("#login", "chloe")
    page.fill("#password", "wrong password")
    page.click("button.primary")
    assert page.locator("[role=alert]").inner_text() == "Wrong email, username or password."

    page.fill("#login", "chloe")
    page.fill("#password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(live_server.url + "/")
    assert "chloe@example.com" in page.content()

    # The language switch on the page, then signing out through the confirmation form.
    page.select_option("#language-choice", "fr")
    page.click(".language button")
    assert page.locator("html").get_attribute("lang") == "fr"
    page.goto(live_server.url + "/logout")
    page.click("button.primary")
    assert "Vous êtes déconnecté" in page.content()
    page.goto(live_server.url + "/")
    assert page.url.endswith("/login")
