"""Form errors as people meet them: each beside its field and named by it, a summary above the form
that links to the fields and takes the focus, "Error:" in the title; `maxlength` from the validators."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from flask_babel import force_locale
from flask_babel import gettext as babel_gettext
from wtforms.validators import Length

import idp.flows
from idp.flows.account import EmailForm, PasswordForm
from idp.flows.account_request import AccountRequestForm
from idp.flows.api_keys import OwnKeyForm
from idp.flows.company_join import JoinForm
from idp.flows.confirm_email import ResendForm
from idp.flows.forgot_password import ForgotForm
from idp.flows.invitation import NewAccountForm
from idp.flows.mfa.manage import KeyForm, RemoveForm, RenameForm, TotpForm
from idp.flows.mfa.signin import CodeForm
from idp.flows.register import RegisterForm
from idp.flows.set_password import SetPasswordForm
from idp.web.forms import Form, LoginForm, NewPasswordForm, labelled_fields
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.companies.helpers import authorize, company_config, walk
from tests.integration.web.markup import Page, all_flows_config, open_page, squeeze

GOOD = "Brand-New-Pass-31"


@pytest.fixture
def config_overrides(smtp):
    return all_flows_config(smtp)


# The page of each form of the flows; the people of an account request come three times (?people=3).
FORM_PAGES = {
    "login": [LoginForm],
    "register": [RegisterForm],
    "forgot": [ForgotForm],
    "resend": [ResendForm],
    "reset": [NewPasswordForm],
    "set-password": [SetPasswordForm],
    "account": [PasswordForm, EmailForm],
    "join": [JoinForm],
    "account-request": [AccountRequestForm],
    "invitation": [NewAccountForm],
    "mfa-totp": [TotpForm],
    "mfa-step": [CodeForm],
    "mfa-manage": [KeyForm, RenameForm],
    "mfa-remove": [RemoveForm],
    "api-keys": [OwnKeyForm],
}


def bounded_fields(form_class):
    """(name, id, max) of every field of the form a person types into and whose length is bounded."""
    extra = {"people": [{}] * 3} if form_class is AccountRequestForm else {}
    form = form_class(meta={"csrf": False}, formdata=None, **extra)
    for field, _label in labelled_fields(form):
        for validator in field.validators:
            if isinstance(validator, Length) and validator.max != -1:
                yield field.name, field.id, validator.max


@pytest.mark.parametrize("page", list(FORM_PAGES))
def test_every_bounded_field_has_the_maxlength_of_its_validator(app, smtp, page):
    actions, path = open_page(app, smtp, page)
    html = Page(actions.client.get(path).get_data(as_text=True))
    checked = 0
    with app.test_request_context():
        for form_class in FORM_PAGES[page]:
            for name, field_id, maximum in bounded_fields(form_class):
                element = html.by_id(field_id) or html.input_named(name)
                if element.get("type") == "radio" or element.tag == "select":  # picked, not typed: nothing to bound
                    continue
                assert element.get("maxlength") == str(maximum), (name, element.attrs)
                checked += 1
    assert checked >= 1
    # And no typed input of the page is without a bound.
    assert [e.get("name") for e in html.typed_inputs() if e.get("maxlength") is None] == []


def test_every_form_with_typed_fields_has_its_page_checked(app):
    """A new form of the flows joins FORM_PAGES, or this fails."""
    for module in pkgutil.iter_modules(idp.flows.__path__):
        importlib.import_module(f"idp.flows.{module.name}")

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    checked = {form for forms in FORM_PAGES.values() for form in forms}
    with app.test_request_context():
        unchecked = [cls.__name__ for cls in subclasses(Form)
                     if cls.__module__.startswith(("idp.flows", "idp.web")) and cls not in checked
                     and any(_typed(cls, name) for name, _id, _max in bounded_fields(cls))]
    assert unchecked == []


def _typed(form_class, name):
    # Choices are picked from a list (the company pickers): radios or a select, never typed.
    return not (form_class.__name__ in ("ChoiceForm", "SwitchForm") and name == "company_id")


def account_request(**changes):
    data = {"customer_number": "C-10001", "company_name": "Durand SARL", "address": "1 rue de la Paix",
            "city": "Lyon", "postal_code": "69001", "phone": "+33 4 00 00 00 00", "contact_given_name": "Claire",
            "contact_family_name": "Durand", "contact_email": "claire@durand.example",
            "people-0-given_name": "Claire", "people-0-family_name": "Durand",
            "people-0-email": "claire@durand.example", "people-0-role": "order",
            "people-1-given_name": "Hugo", "people-1-family_name": "Petit",
            "people-1-email": "hugo@durand.example", "people-1-role": "prices_only", "terms": "y"}
    data.update(changes)
    return data


def _post(app, smtp, page, data):
    actions, path = open_page(app, smtp, page)
    target = {"account": "/account/email", "account-request": "/companies/account-request"}.get(page, path)
    return actions.submit(target, data, form_path=path)


LONG = {
    "register-given-name": ("register", {"given_name": "x" * 101}, "Given name: at most 100 characters."),
    "register-family-name": ("register", {"family_name": "x" * 101}, "Family name: at most 100 characters."),
    "login": ("login", {"login": "x" * 255, "password": "x"}, "Email or username: at most 254 characters."),
    "email-change": ("account", {"email": "a" * 250 + "@example.com", "current_password": PASSWORD},
                     "New email address: at most 254 characters."),
    "join": ("join", {"company_id": "x" * 65, "member_code": "c"}, "Company identifier: at most 64 characters."),
    "join-code": ("join", {"company_id": "C-1", "member_code": "c" * 129}, "Member code: at most 128 characters."),
    "account-request-contact": ("account-request", account_request(contact_given_name="x" * 101),
                                "First name: at most 100 characters."),
    "account-request-person": ("account-request", account_request(**{"people-1-given_name": "x" * 101}),
                               "First name (User 2): at most 100 characters."),
    "account-request-postal-code": ("account-request", account_request(postal_code="1" * 21),
                                    "Postal code: at most 20 characters."),
    "invitation": ("invitation", {"given_name": "x" * 101, "family_name": "Martin", "password": GOOD,
                                  "password_confirm": GOOD}, "Given name: at most 100 characters."),
}


@pytest.mark.parametrize(("page", "data", "message"), list(LONG.values()), ids=list(LONG))
def test_a_value_too_long_is_named_with_its_limit(app, smtp, page, data, message):
    response = _post(app, smtp, page, data)
    assert response.status_code == 400
    html = Page(response.get_data(as_text=True))
    (summary,) = [e for e in html.elements if "error-summary" in e.classes]
    assert message in [squeeze(a.text) for a in html.find_all("a") if a.inside(summary)]
    assert message in [squeeze(p.text).removeprefix("Error: ") for p in html.elements if "field-error" in p.classes]
    assert "Fill in every field" not in response.get_data(as_text=True)


BAD = {
    "login-empty": ("login", {}),
    "register": ("register", {"email": "not-an-address", "email_confirm": "x", "password": "short",
                              "password_confirm": "other", "given_name": "", "family_name": "Martin"}),
    "account-request": ("account-request", account_request(**{"people-0-role": "emperor", "people-1-email": "nope",
                                                              "city": "", "terms": ""})),
    "email-change": ("account", {"email": "", "current_password": ""}),
    "forgot": ("forgot", {}),
    "resend": ("resend", {"email": ""}),
    "reset": ("reset", {"password": "short", "password_confirm": "short"}),
    "join": ("join", {"company_id": ""}),
    "invitation": ("invitation", {"given_name": "", "password": GOOD, "password_confirm": GOOD + "x"}),
}


@pytest.mark.parametrize(("page", "data"), list(BAD.values()), ids=list(BAD))
def test_each_error_sits_beside_its_field_and_the_summary_links_to_it(app, smtp, page, data):
    response = _post(app, smtp, page, data)
    assert response.status_code == 400
    html = Page(response.get_data(as_text=True))

    invalid = [e for e in html.elements if e.get("aria-invalid") == "true"]
    assert invalid
    messages = {}
    for element in invalid:
        described = (element.get("aria-describedby") or "").split()
        message = html.by_id(f"{element.get('id')}-error") or html.by_id(described[-1] if described else "")
        assert message is not None and message.get("id") in described, element.attrs
        assert "field-error" in message.classes and squeeze(message.text).startswith("Error: ")
        messages[element.get("id")] = squeeze(message.text).removeprefix("Error: ")
    # Every message beside a field belongs to a field that names it.
    described_ids = {i for e in html.elements for i in (e.get("aria-describedby") or "").split()}
    assert {p.get("id") for p in html.elements if "field-error" in p.classes} <= described_ids

    summaries = [e for e in html.elements if "error-summary" in e.classes]
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary.get("tabindex") == "-1" and "autofocus" in summary.attrs
    assert [e for e in html.elements if "autofocus" in e.attrs] == [summary]  # the focus goes to it, only
    assert len(html.find_all(role="alert")) == 1
    targets = {a.get("href")[1:]: squeeze(a.text) for a in html.find_all("a") if a.inside(summary)}
    assert all(target and not target.startswith("#") for target in targets)
    # Each field in error is linked from the summary with its own message; a group of radio
    # buttons by its first button.
    for field_id, message in messages.items():
        if field_id in targets:
            assert targets[field_id] in message
    invalid_groups = {e.get("name") for e in invalid}
    linked_groups = {html.by_id(target).get("name") for target in targets}
    assert invalid_groups == linked_groups
    for target in targets:
        element = html.by_id(target)
        assert element is not None and element.tag in ("input", "select", "textarea")
        assert element.get("aria-invalid") == "true"


@pytest.mark.parametrize(("language", "title"), [("en", "Sign in"), ("fr", "Se connecter")])
def test_the_title_says_error_when_the_page_shows_errors(app, client, actions, language, title):
    headers = {"Accept-Language": language}
    page = Page(client.get("/login", headers=headers).get_data(as_text=True))
    assert page.title.startswith(title) and page.find_all("html")[0].get("lang") == language
    with app.test_request_context(), force_locale(language):
        prefix = babel_gettext("Error:")
    refused = Page(actions.submit("/login", {"login": ""}, headers=headers).get_data(as_text=True))
    assert refused.title.startswith(f"{prefix} {title}")
    # A wrong password is an error too (no field of its own: the summary says it, unlinked).
    make_company()
    wrong = Page(actions.submit("/login", {"login": "nobody@example.com", "password": "x"},
                                headers=headers).get_data(as_text=True))
    assert wrong.title.startswith(f"{prefix} {title}")
    assert [e for e in wrong.elements if e.get("aria-invalid")] == []


def test_no_error_no_summary_and_the_first_field_has_the_focus(client):
    html = Page(client.get("/register").get_data(as_text=True))
    assert not [e for e in html.elements if "error-summary" in e.classes]
    assert [e.get("id") for e in html.elements if "autofocus" in e.attrs] == ["email"]
    assert not [e for e in html.elements if e.get("aria-invalid")]
    assert html.find_all(role="alert") == []


def test_an_error_of_no_field_is_in_the_summary_without_a_link(app, smtp):
    actions, _ = open_page(app, smtp, "join")
    make_company("C-10001")
    response = actions.submit("/companies/join", {"company_id": "C-10001", "member_code": "WRONG"})
    html = Page(response.get_data(as_text=True))
    (summary,) = [e for e in html.elements if "error-summary" in e.classes]
    assert "This company identifier and member code do not match." in squeeze(summary.text)
    # Which of the two is wrong is not told: neither field is marked.
    assert [e for e in html.elements if e.get("aria-invalid")] == []


@pytest.mark.parametrize("config_overrides", [company_config()])
def test_a_refused_company_choice_marks_the_question(app, client, actions):
    user = make_user("ana@example.com", locale="en")
    for number in (1, 2):
        make_membership(user, make_company(f"C-{number}", name=f"Company {number}"))
    page = Page(walk(actions, authorize(client), login="ana@example.com").get_data(as_text=True))
    uid = page.find_all("input", name="interaction")[0].get("value")
    response = actions.submit("/companies/choose", {"company_id": "not-mine", "interaction": uid},
                              form_path=f"/companies/choose?interaction={uid}")
    assert response.status_code == 400
    html = Page(response.get_data(as_text=True))
    assert html.title.startswith("Error: Choose a company")
    (summary,) = [e for e in html.elements if "error-summary" in e.classes]
    assert [(a.get("href"), squeeze(a.text)) for a in html.find_all("a") if a.inside(summary)] == [
        ("#company_id", "Choose one of your companies.")]
    radios = html.find_all("input", type="radio", name="company_id")
    assert len(radios) == 2 and radios[0].get("id") == "company_id"
    assert all(r.get("aria-invalid") == "true" and r.get("aria-describedby") == "company_id-error" for r in radios)
    assert squeeze(html.by_id("company_id-error").text) == "Error: Choose one of your companies."
