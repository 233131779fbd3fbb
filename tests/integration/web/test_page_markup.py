"""What every page gives assistive technology and browsers: a skip link, the language of each
language's name, autocomplete on the fields, the account request's role questions as fieldsets,
control borders and a focus ring with enough contrast."""

from __future__ import annotations

import re

import pytest

from tests.integration.web.markup import Page, all_flows_config, browser, open_page, signed_in, squeeze


@pytest.fixture
def config_overrides(smtp):
    return all_flows_config(smtp)


FOCUSABLE = ("a", "button", "input", "select", "textarea")


def _focusable(element):
    if element.tag == "a":
        return element.get("href") is not None
    return element.tag in FOCUSABLE and element.get("type") != "hidden"


@pytest.mark.parametrize(("language", "text"), [("en", "Skip to content"), ("fr", None)])
def test_the_skip_link_is_the_first_stop_and_leads_to_the_content(app, client, language, text):
    for path in ("/login", "/register", "/companies/account-request"):
        html = Page(client.get(path, headers={"Accept-Language": language}).get_data(as_text=True))
        first = next(e for e in html.elements if _focusable(e))
        assert "skip-link" in first.classes and first.get("href") == "#content"
        if text:
            assert squeeze(first.text) == text
        main = html.by_id("content")
        assert main is not None and main.tag == "main" and main.get("tabindex") == "-1"


@pytest.mark.parametrize("language", ["en", "fr"])
def test_each_language_is_named_in_its_own_language(app, language):
    actions = signed_in(app)
    for path in ("/login", "/account"):
        html = Page(actions.client.get(path, query_string={"ui_locales": language}).get_data(as_text=True))
        assert html.find_all("html")[0].get("lang") == language
        options = html.find_all("option")
        named = {(o.get("value"), o.get("lang"), squeeze(o.text)) for o in options if o.get("value") in ("en", "fr")}
        assert {("en", "en", "English"), ("fr", "fr", "Français")} <= named
        assert all(o.get("lang") == o.get("value") for o in options if o.get("value") in ("en", "fr"))


PEOPLE = {f"people-{i}-{name}": "off" for i in range(3) for name in ("given_name", "family_name", "email")}
AUTOCOMPLETE = {
    "login": {"login": "username", "password": "current-password"},
    "register": {"email": "email", "email_confirm": "email", "password": "new-password",
                 "password_confirm": "new-password", "given_name": "given-name", "family_name": "family-name"},
    "forgot": {"email": "username"},
    "resend": {"email": "email"},
    "reset": {"password": "new-password", "password_confirm": "new-password"},
    "set-password": {"password": "new-password", "password_confirm": "new-password"},
    "join": {"company_id": "off", "member_code": "off"},
    "invitation": {"given_name": "given-name", "family_name": "family-name", "password": "new-password",
                   "password_confirm": "new-password"},
    "account-request": {"customer_number": "off", "company_name": "organization", "address": "street-address",
                        "city": "address-level2", "postal_code": "postal-code", "phone": "tel",
                        "contact_given_name": "given-name", "contact_family_name": "family-name",
                        "contact_email": "email", **PEOPLE},
}


@pytest.mark.parametrize("page", list(AUTOCOMPLETE))
def test_every_typed_field_says_what_it_holds(app, smtp, page):
    actions, path = open_page(app, smtp, page)
    html = Page(actions.client.get(path).get_data(as_text=True))
    assert {e.get("name"): e.get("autocomplete") for e in html.typed_inputs()} == AUTOCOMPLETE[page]


def test_the_account_page_fields_say_what_they_hold(app):
    html = Page(signed_in(app).client.get("/account").get_data(as_text=True))
    assert [(e.get("id"), e.get("autocomplete")) for e in html.typed_inputs()] == [
        ("current_password", "current-password"), ("password", "new-password"),
        ("password_confirm", "new-password"), ("new_email", "email"),
        ("email_current_password", "current-password")]
    ids = [e.get("id") for e in html.elements if e.get("id")]
    assert len(ids) == len(set(ids))  # three forms on one page, and each id once


def test_each_persons_role_is_a_question_of_its_own(app):
    html = Page(browser(app).client.get("/companies/account-request?people=2").get_data(as_text=True))
    for number in (1, 2):
        radios = html.find_all("input", type="radio", name=f"people-{number - 1}-role")
        assert len(radios) == 3
        for radio in radios:
            # Inside the person's block, in a group of its own whose legend names the person.
            assert [f.legend for f in radio.fieldsets] == [f"User {number}", f"User {number} is authorized to:"]
        assert len({id(r.fieldsets[-1]) for r in radios}) == 1


def _contrast(first: str, second: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_controls_and_focus_stand_out_from_the_page(client):
    """WCAG 1.4.11: the edge of a field or button, and the focus ring, at 3:1 against white and the page."""
    with client.get("/static/idp.css") as response:
        css = response.get_data(as_text=True)
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", css))
    for name in ("field-line", "focus"):
        assert _contrast(colours[name], "#ffffff") >= 3 and _contrast(colours[name], colours["bg"]) >= 3, name
    field_rule = next(line for line in css.splitlines() if line.startswith("input[type=text]"))
    assert "border: 1px solid var(--field-line)" in field_rule
    button_rule = next(line for line in css.splitlines() if line.startswith("button {"))
    assert "var(--field-line)" in button_rule
    focus = r"a:focus-visible, button:focus-visible, input:focus-visible[^{]*\{ outline: 3px solid var\(--focus\)"
    assert re.search(focus, css)
    assert re.search(r"\.skip-link:focus \{ top:", css)
