"""The newcomer's first hour: forgot by username, the language across sign-in, emails in the
recipient's language, the account-request links, "send again" filled in, the notices after a
confirmation or a new password, the hint after a failed sign-in, identifiers typed in any case."""

import hmac
import re

import pytest
from sqlalchemy import select

from idp import accounts
from idp.companies import invitations
from idp.extensions import db
from idp.models import AccountRequest, User
from idp.web.i18n import pick_language
from tests.conftest import Actions, IsolatedClient
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.flows.mailbox import PORTAL, lifecycle_config, link_in, mail_to, same_page

FLOWS = ["login", "set_password", "forgot_password", "confirm_email", "register", "invitation", "account",
         "company_join", "company_choice", "tools", "account_request"]
NEW = "Another-Good-Pass-42"
HINT = "If you have not chosen a password yet, check your mailbox"
LANG_RE = re.compile(r'<html lang="(\w+)"')


@pytest.fixture
def extra_config():
    return {}


@pytest.fixture
def config_overrides(smtp, extra_config):
    return {**lifecycle_config(smtp, flows=FLOWS, clients=[PORTAL]), **extra_config}


def browser(app, accept_language=None):
    """A browser of its own (its own cookies), optionally sending an Accept-Language header."""
    app.test_client_class = IsolatedClient
    client = app.test_client()
    if accept_language:
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = accept_language
    return Actions(client)


def language_of(response):
    match = LANG_RE.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:200]
    return match.group(1)


def page_after(actions, response, limit=4):
    """Follow the provider's redirects to the page they end on."""
    for _ in range(limit):
        if response.status_code not in (302, 303):
            return response
        response = actions.client.get(response.headers["Location"])
    raise AssertionError("too many redirects")


# Item 5 of the issue: the forgotten-password page takes a username, as the sign-in page does.


def test_forgot_password_by_username_sends_the_link(app, smtp):
    make_user("ana@example.com", username="ana", locale="en")
    ana = browser(app)
    page = ana.client.get("/password/forgot").get_data(as_text=True)
    assert "Email or username" in page and 'name="email"' in page and 'autocomplete="username"' in page
    response = ana.submit("/password/forgot", {"email": " Ana "})
    assert response.status_code == 200 and "If an account matches Ana," in response.get_data(as_text=True)
    assert "The link is valid for 1 hour." in response.get_data(as_text=True)
    path = link_in(smtp, mail_to(smtp, "ana@example.com")[-1], "/password/reset/")
    assert ana.submit(path, {"password": NEW, "password_confirm": NEW}).status_code == 302
    ana.logout()
    assert ana.login("ana", NEW).status_code == 302


@pytest.mark.parametrize("typed", ["nobody", "disabled-user", "nobody@example.com"],
                         ids=["unknown-username", "disabled-account", "unknown-address"])
def test_forgot_password_answers_alike_whatever_the_username(app, smtp, typed):
    make_user("ana@example.com", username="ana")
    make_user("off@example.com", username="disabled-user", status="disabled")
    known = browser(app).submit("/password/forgot", {"email": "ana"})
    other = browser(app).submit("/password/forgot", {"email": typed})
    assert known.status_code == other.status_code == 200
    assert same_page(known, "ana") == same_page(other, typed)
    assert sorted(known.headers.keys()) == sorted(other.headers.keys())
    mail_to(smtp, "ana@example.com")
    assert [m["To"] for m in smtp.messages] == ["ana@example.com"]


def test_forgot_password_by_username_waits_for_the_floor(app, smtp, monkeypatch):
    from idp.accounts.timing import RESPONSE_FLOOR_SECONDS
    from idp.flows import forgot_password

    waits = []
    monkeypatch.setattr(forgot_password.SteadyClock, "wait", lambda clock: waits.append(clock.floor))
    make_user("ana@example.com", username="ana")
    assert browser(app).submit("/password/forgot", {"email": "ana"}).status_code == 200
    assert browser(app).submit("/password/forgot", {"email": "nobody"}).status_code == 200
    assert waits == [RESPONSE_FLOOR_SECONDS] * 2


# Item 6: one precedence for the language, and emails in the recipient's language.


@pytest.mark.parametrize(
    ("ui_locales", "chosen", "account", "accept", "expected"),
    [
        ("fr", "en", "en", [("en", 1.0)], "fr"),
        (None, "en", "fr", [("fr", 1.0)], "en"),
        (None, None, "fr", [("en", 1.0)], "fr"),
        (None, None, None, [("fr-CA", 1.0)], "fr"),
        (None, None, None, [("de", 1.0)], "en"),
        ("de", "xx", "yy", [], "en"),
    ],
    ids=["ui_locales-first", "choice-over-account", "account-over-browser", "browser", "default", "unknowns-ignored"],
)
def test_language_precedence(ui_locales, chosen, account, accept, expected):
    assert pick_language(ui_locales, chosen, account, accept, ["fr", "en"], "en") == expected


def test_an_explicit_choice_outlives_signing_in_to_a_french_account(app, smtp):
    user = make_user("ana@example.com", locale="fr")
    ana = browser(app, accept_language="en")
    assert language_of(ana.client.get("/login")) == "en"
    ana.submit("/language", {"language": "en", "next": "/login"}, form_path="/login")
    response = ana.login("ana@example.com", PASSWORD)
    assert language_of(page_after(ana, response)) == "en"
    db.session.refresh(user)
    assert user.locale == "en"  # offered to the account: its emails follow
    ana.logout()
    browser(app).submit("/password/forgot", {"email": "ana@example.com"})
    assert '<html lang="en">' in smtp.html(mail_to(smtp, "ana@example.com")[-1])


def test_without_a_choice_the_account_language_wins_over_the_browser(app):
    user = make_user("ana@example.com", locale="fr")
    ana = browser(app, accept_language="en")
    assert language_of(ana.client.get("/login")) == "en"
    assert language_of(page_after(ana, ana.login("ana@example.com", PASSWORD))) == "fr"
    db.session.refresh(user)
    assert user.locale == "fr"  # nothing chosen, nothing changed


def test_the_switch_outranks_the_ui_locales_of_the_page_it_returns_to(app):
    visitor = browser(app, accept_language="en")
    assert language_of(visitor.client.get("/login?ui_locales=fr")) == "fr"
    response = visitor.submit("/language", {"language": "en", "next": "/login?ui_locales=fr&next=%2Ftools"},
                              form_path="/login?ui_locales=fr")
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=%2Ftools"
    assert language_of(visitor.client.get(response.headers["Location"])) == "en"


def test_a_registration_stores_the_language_chosen(app, smtp):
    visitor = browser(app, accept_language="en")
    visitor.submit("/language", {"language": "fr", "next": "/register"}, form_path="/register")
    visitor.submit("/register", {"email": "zoe@example.com", "email_confirm": "zoe@example.com", "password": NEW,
                                 "password_confirm": NEW, "given_name": "Zoé", "family_name": "Martin"})
    assert User.find_by_email("zoe@example.com").locale == "fr"
    assert '<html lang="fr">' in smtp.html(mail_to(smtp, "zoe@example.com")[-1])


@pytest.mark.parametrize(("account_locale", "inviter_page", "expected"),
                         [("en", "fr", "en"), ("fr", "en", "fr"), (None, "fr", "fr"), ("absent", "fr", "fr"),
                          ("absent", "en", "en")],
                         ids=["english-account-french-admin", "french-account-english-admin",
                              "account-without-locale", "new-address-french-admin", "new-address-english-admin"])
def test_an_invitation_is_written_in_the_recipients_language(app, smtp, account_locale, inviter_page, expected):
    company = make_company("ACME-1", name="Acme Tools")
    admin = make_user("admin@example.com", locale=inviter_page)
    make_membership(admin, company, is_admin=True)
    if account_locale != "absent":
        make_user("ines@example.com", locale=account_locale)
    with app.test_request_context():
        # What the admin page passes: the language the inviter's page is in.
        invitations.invite(company, "ines@example.com", "order", actor=admin, locale=inviter_page)
        db.session.commit()
    message = mail_to(smtp, "ines@example.com")[-1]
    assert f'<html lang="{expected}">' in smtp.html(message)
    assert ("Invitation to join Acme Tools" if expected == "en" else "Invitation à rejoindre Acme Tools") == \
        message["Subject"]


# Item 9: the account-request form is linked from the sign-in page and the list of tools.


def test_the_account_request_form_is_linked_from_sign_in_and_tools(app):
    visitor = browser(app)
    link = '<a href="/companies/account-request">Request accounts for your company</a>'
    assert link in visitor.client.get("/login").get_data(as_text=True)
    assert visitor.client.get("/companies/account-request").status_code == 200
    make_user("ana@example.com")
    visitor.login("ana@example.com", PASSWORD)
    assert link in visitor.client.get("/tools").get_data(as_text=True)


@pytest.mark.parametrize("extra_config", [{"flows": [f for f in FLOWS if f != "account_request"]}],
                         ids=["flow-off"])
def test_no_link_to_the_account_request_form_when_its_flow_is_off(app):
    assert "/companies/account-request" not in browser(app).client.get("/login").get_data(as_text=True)


# Item 10: "send the email again" opens with the address just registered.


@pytest.mark.parametrize("existing", [None, "active"], ids=["new-address", "taken-address"])
def test_send_again_carries_the_address_just_registered(app, smtp, existing):
    if existing:
        make_user("zoe@example.com")
    visitor = browser(app)
    sent = visitor.submit("/register", {"email": "zoe@example.com", "email_confirm": "zoe@example.com",
                                        "password": NEW, "password_confirm": NEW, "given_name": "Zoé",
                                        "family_name": "Martin"})
    text = sent.get_data(as_text=True)
    resend = re.search(r'href="(/confirm/resend[^"]*)"', text).group(1)
    assert "zoe" not in resend.lower()  # never in the address bar, the history or a Referer
    assert email_field(visitor.client.get(resend)) == 'value="zoe@example.com"'
    # Another browser has nothing to fill in.
    assert email_field(browser(app).client.get(resend)) == 'value=""'


def email_field(response):
    """The value attribute of the form's `email` input."""
    [tag] = [t for t in re.findall(r"<input[^>]*>", response.get_data(as_text=True)) if 'name="email"' in t]
    return re.search(r'value="[^"]*"', tag).group(0)


# Item 11: a word after confirming an address, resetting a password or choosing a first one.


def test_confirming_in_the_same_browser_says_so_once(app, smtp):
    visitor = browser(app)
    visitor.submit("/register", {"email": "zoe@example.com", "email_confirm": "zoe@example.com", "password": NEW,
                                 "password_confirm": NEW, "given_name": "Zoé", "family_name": "Martin"})
    path = link_in(smtp, mail_to(smtp, "zoe@example.com")[-1], "/confirm/")
    page = page_after(visitor, visitor.submit(path, {})).get_data(as_text=True)
    assert "My tools" in page and "Your email address zoe@example.com is confirmed." in page
    assert "is confirmed" not in visitor.client.get("/tools").get_data(as_text=True)


@pytest.mark.parametrize(("password", "notice"), [(PASSWORD, "Your password was changed."),
                                                  (None, "Your password is set.")],
                         ids=["reset", "first-password"])
def test_a_new_password_is_told_once(app, smtp, password, notice):
    make_user("ana@example.com", password=password)
    visitor = browser(app)
    visitor.submit("/password/forgot", {"email": "ana@example.com"})
    path = link_in(smtp, mail_to(smtp, "ana@example.com")[-1], "/password/reset/")
    page = page_after(visitor, visitor.submit(path, {"password": NEW, "password_confirm": NEW}))
    assert notice in page.get_data(as_text=True)
    assert notice not in visitor.client.get("/tools").get_data(as_text=True)


def test_a_first_password_at_the_set_password_step_is_told(app):
    with app.test_request_context():
        accounts.create_user(email="op@example.com", password=PASSWORD, must_change_password=True)
    visitor = browser(app)
    step = visitor.login("op@example.com", PASSWORD).headers["Location"]
    response = visitor.submit("/password/set", {"password": NEW, "password_confirm": NEW}, form_path=step)
    assert "Your password is set." in page_after(visitor, response).get_data(as_text=True)


# Item 12: after a failed sign-in, a hint about the setup email for everyone alike.


@pytest.mark.parametrize("login", ["nobody@example.com", "new@example.com", "ana@example.com"],
                         ids=["unknown-address", "no-password-yet", "wrong-password"])
def test_a_failed_sign_in_hints_at_the_setup_email_for_everyone(app, smtp, login):
    make_user("ana@example.com")
    make_user("new@example.com", password=None)
    reference = browser(app).login("nobody@example.com", "Not-The-Password-1")
    response = browser(app).login(login, "Not-The-Password-1")
    assert response.status_code == reference.status_code == 401
    assert HINT in response.get_data(as_text=True)
    assert same_page(response, login) == same_page(reference, "nobody@example.com")
    assert sorted(response.headers.keys()) == sorted(reference.headers.keys())
    # Only the account without a password gets the email the hint speaks of.
    assert bool(mail_to(smtp, "new@example.com")) == (login == "new@example.com")


def test_no_hint_on_an_incomplete_form(app):
    response = browser(app).submit("/login", {"login": "ana@example.com"})
    assert response.status_code == 400 and HINT not in response.get_data(as_text=True)


# Item 14: company identifiers and member codes as people type them.


@pytest.mark.parametrize(("identifier", "code"), [
    (" c-10001 ", " durand-7731 "), ("C-10001", "Durand-7731"), ("  C-10001", "DURAND-7731   "),
], ids=["small-letters-and-spaces", "mixed-case-code", "spaces"])
def test_joining_ignores_case_and_surrounding_spaces(app, identifier, code):
    company = make_company("C-10001", name="Électricité Durand", member_code="DURAND-7731")
    make_user("ana@example.com")
    ana = browser(app)
    ana.login("ana@example.com", PASSWORD)
    response = ana.submit("/companies/join", {"company_id": identifier, "member_code": code})
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    assert [m.company_id for m in User.find_by_email("ana@example.com").memberships] == [company.id]


@pytest.mark.parametrize(("identifier", "code"), [("c-10001", "durand-7732"), ("c-1000", "durand-7731"),
                                                  ("c-10001", "durand 7731")],
                         ids=["wrong-code", "wrong-identifier", "inner-space"])
def test_a_wrong_identifier_or_code_is_still_refused(app, identifier, code):
    make_company("C-10001", member_code="DURAND-7731")
    make_user("ana@example.com")
    ana = browser(app)
    ana.login("ana@example.com", PASSWORD)
    response = ana.submit("/companies/join", {"company_id": identifier, "member_code": code})
    assert response.status_code == 400
    assert "This company identifier and member code do not match." in response.get_data(as_text=True)


def test_the_member_code_is_compared_in_constant_time(app, monkeypatch):
    from idp.models import companies as company_models

    compared = []
    real = hmac.compare_digest

    def spy(expected, typed):
        compared.append((expected, typed))
        return real(expected, typed)

    monkeypatch.setattr(company_models.hmac, "compare_digest", spy)
    company = make_company("C-10001", member_code="DURAND-7731")
    assert company.check_member_code(" durand-7731 ")
    assert compared and all(expected == company.member_code_hash for expected, _typed in compared)


def test_two_identifiers_differing_only_by_case_need_the_exact_one(app):
    from idp import companies

    upper = make_company("AB-1")
    lower = make_company("ab-1")
    with app.test_request_context():
        assert companies.find_company("AB-1").id == upper.id
        assert companies.find_company("ab-1").id == lower.id
        assert companies.find_company("Ab-1") is None


@pytest.mark.parametrize("extra_config", [{"companies": {"identifier_kind": "pattern",
                                                         "identifier_pattern": r"C-\d{5}"}}], ids=["pattern"])
def test_a_pattern_identifier_typed_in_small_letters_is_found(app):
    from idp import companies

    company = make_company("C-10001")
    with app.test_request_context():
        assert companies.find_company(" c-10001 ").id == company.id


def test_the_account_request_form_ignores_the_case_of_the_customer_number(app):
    make_company("C-10001", name="Durand SARL")
    data = {"customer_number": " c-10001 ", "company_name": "Durand SARL", "address": "1 rue de la Paix",
            "city": "Lyon", "postal_code": "69001", "phone": "+33 4 00 00 00 00", "contact_given_name": "Claire",
            "contact_family_name": "Durand", "contact_email": "claire@durand.example",
            "people-0-given_name": "Hugo", "people-0-family_name": "Petit", "people-0-email": "hugo@durand.example",
            "people-0-role": "order", "terms": "y"}
    response = browser(app).submit("/companies/account-request", data)
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    assert [r.customer_number for r in db.session.scalars(select(AccountRequest))] == ["C-10001"]
