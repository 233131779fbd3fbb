"""A person's own second factors (/account/mfa): enroll, rename, remove, recovery codes, step-up, emails."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from sqlalchemy import select
from wtforms.validators import Length

from idp.extensions import db
from idp.flows.mfa.manage import KeyForm, RemoveForm, RenameForm, TotpForm
from idp.models import MfaFactor
from idp.security import mfa
from tests.conftest import csrf_from, smtp_mail_config
from tests.factories import PASSWORD
from tests.integration.companies.helpers import CATALOGUE, authorize, events, person, walk
from tests.integration.flows.mailbox import mail_to
from tests.integration.flows.mfa_helpers import ORIGIN, RP_ID, add_totp, code_at, mfa_config, post_code
from tests.integration.web.markup import Page
from tests.webauthn_authenticator import InvalidStateError, SoftAuthenticator

RECOVERY_CODE_RE = re.compile(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>")


@pytest.fixture
def required_for():
    return []


@pytest.fixture
def config_overrides(smtp, required_for):
    return mfa_config(required_for, mail=smtp_mail_config(smtp))


def factors_of(user):
    db.session.expire_all()
    return list(db.session.scalars(select(MfaFactor).where(MfaFactor.user_id == user.id).order_by(MfaFactor.id)))


def totp_page(me, query=""):
    """The enrollment page: its CSRF token and the authenticator built from its otpauth:// URI."""
    page = me.client.get("/account/mfa/totp" + query)
    assert page.status_code == 200, page.status_code
    text = page.get_data(as_text=True)
    uri = html.unescape(re.search(r'id="otpauth-uri">([^<]+)<', text).group(1))
    assert uri.startswith("otpauth://totp/")
    return csrf_from(text), uri, pyotp.parse_uri(uri)


def enroll_totp(me, name="Phone", interaction=""):
    token, _uri, app_totp = totp_page(me, f"?interaction={interaction}" if interaction else "")
    return me.client.post("/account/mfa/totp", data={"csrf_token": token, "code": app_totp.now(), "name": name,
                                                     "interaction": interaction})


def codes_in(response):
    return RECOVERY_CODE_RE.findall(response.get_data(as_text=True))


def subjects(smtp, address):
    return [message["Subject"] for message in mail_to(smtp, address)]


def test_the_account_page_links_to_two_step_verification(app):
    _ana, me = person(app, "ana@example.com")
    page = me.client.get("/account").get_data(as_text=True)
    assert 'href="/account/mfa"' in page and "Two-step verification" in page


def test_enroll_an_authenticator_app_from_the_uri_of_the_page(app, smtp):
    ana, me = person(app, "ana@example.com")
    assert "You have not set up a second factor yet." in me.client.get("/account/mfa").get_data(as_text=True)
    token, uri, app_totp = totp_page(me)
    query = parse_qs(urlsplit(uri).query)
    assert query["issuer"] == ["Portail"] and "ana%40example.com" in uri
    assert " ".join(re.findall(".{1,4}", query["secret"][0])) in me.client.get("/account/mfa/totp").get_data(
        as_text=True)  # the grouped secret, for typing
    response = me.client.post("/account/mfa/totp", data={"csrf_token": token, "code": app_totp.now(),
                                                          "name": "Work phone"})
    # A first factor comes with its recovery codes, shown on this page only.
    assert response.status_code == 200
    codes = codes_in(response)
    assert len(codes) == 10 and len(set(codes)) == 10
    text = response.get_data(as_text=True)
    assert 'href="/account/mfa"' in text and "They are shown only now." in text
    [factor] = factors_of(ana)
    assert (factor.kind, factor.name) == ("totp", "Work phone")
    listing = me.client.get("/account/mfa").get_data(as_text=True)
    assert "Work phone" in listing and "Authenticator app" in listing
    assert "You have 10 unused recovery codes." in listing
    assert not any(code in listing for code in codes)
    assert events("mfa.factor_added", "mfa.recovery_codes_issued") == ["mfa.factor_added", "mfa.recovery_codes_issued"]
    [message] = mail_to(smtp, "ana@example.com")
    assert message["Subject"] == "A second factor was added to your account"
    body = message.get_body(("plain",)).get_content()
    assert "“Work phone” was added" in body and "an authenticator app" in body and "UTC" in body
    assert "If it was not you" in body and "http://127.0.0.1:5000/account" in body


def test_the_email_escapes_the_name_typed(app, smtp):
    _ana, me = person(app, "ana@example.com")
    assert enroll_totp(me, "<b>Phone</b>").status_code == 200
    [message] = mail_to(smtp, "ana@example.com")
    assert "“&lt;b&gt;Phone&lt;/b&gt;”" in smtp.html(message)
    assert "“<b>Phone</b>”" in message.get_body(("plain",)).get_content()
    assert "&lt;b&gt;Phone&lt;/b&gt;" in me.client.get("/account/mfa").get_data(as_text=True)


def test_a_wrong_code_is_refused_and_the_same_seed_is_kept(app):
    ana, me = person(app, "ana@example.com")
    token, uri, app_totp = totp_page(me)
    wrong = f"{(int(app_totp.now()) + 1) % 10**6:06d}"
    response = me.client.post("/account/mfa/totp", data={"csrf_token": token, "code": wrong, "name": "Phone"})
    assert response.status_code == 400
    assert "This code is not correct." in response.get_data(as_text=True)
    assert html.unescape(re.search(r'id="otpauth-uri">([^<]+)<', response.get_data(as_text=True)).group(1)) == uri
    assert factors_of(ana) == []
    assert events("user.mfa_failed") == ["user.mfa_failed"]
    _token, again, _totp = totp_page(me)
    assert again == uri
    assert enroll_totp(me).status_code == 200 and len(factors_of(ana)) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"code": "", "name": "Phone"}, "Code: this field is required."),
        ({"code": "123456", "name": ""}, "Name of this factor: this field is required."),
        ({"code": "123456", "name": "x" * 101}, "Name of this factor: at most 100 characters."),
        ({"code": "123456", "name": "Pho\nne"}, "Name of this factor: line breaks, tabs and other control"),
    ],
    ids=["no-code", "no-name", "long-name", "control-character"],
)
def test_bad_enrollment_forms_are_refused(app, data, message):
    ana, me = person(app, "ana@example.com")
    token, _uri, _totp = totp_page(me)
    response = me.client.post("/account/mfa/totp", data={"csrf_token": token, **data})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert factors_of(ana) == []


def test_rename_a_factor(app, smtp):
    ana, me = person(app, "ana@example.com")
    enroll_totp(me, "Phone")
    [factor] = factors_of(ana)
    page = me.client.get("/account/mfa").get_data(as_text=True)
    response = me.client.post(f"/account/mfa/{factor.public_id}/rename",
                              data={"csrf_token": csrf_from(page), "name": "  Old phone "})
    assert response.status_code == 302 and response.headers["Location"] == "/account/mfa"
    listing = me.client.get("/account/mfa").get_data(as_text=True)
    assert "“Phone” is now called “Old phone”." in listing
    assert factors_of(ana)[0].name == "Old phone"
    assert "mfa.factor_renamed" in events()
    refused = me.client.post(f"/account/mfa/{factor.public_id}/rename", data={"csrf_token": csrf_from(page),
                                                                             "name": ""})
    assert refused.status_code == 400 and "New name: this field is required." in refused.get_data(as_text=True)
    no_csrf = me.client.post(f"/account/mfa/{factor.public_id}/rename", data={"name": "Other"})
    assert no_csrf.status_code == 400 and factors_of(ana)[0].name == "Old phone"


def test_unknown_and_other_peoples_factors_are_not_found(app):
    _ana, me = person(app, "ana@example.com")
    bob, _bob_browser = person(app, "bob@example.com")
    add_totp(bob, "Bob's phone")
    [bobs] = factors_of(bob)
    token = csrf_from(me.client.get("/account/mfa").get_data(as_text=True))
    for factor_id in (bobs.public_id, "nope", "x" * 300):
        assert me.client.post(f"/account/mfa/{factor_id}/rename",
                              data={"csrf_token": token, "name": "Mine"}).status_code == 404
        assert me.client.get(f"/account/mfa/{factor_id}/remove").status_code == 404
        assert me.client.post(f"/account/mfa/{factor_id}/remove",
                              data={"csrf_token": token, "password": PASSWORD}).status_code == 404
    assert factors_of(bob)[0].name == "Bob's phone"


def test_removal_asks_for_the_right_password(app, smtp):
    ana, me = person(app, "ana@example.com")
    enroll_totp(me, "Phone")
    [factor] = factors_of(ana)
    path = f"/account/mfa/{factor.public_id}/remove"
    question = me.client.get(path)
    text = question.get_data(as_text=True)
    assert question.status_code == 200 and "Remove “Phone”?" in text and "Current password" in text
    assert "It is your last second factor" in text
    wrong = me.client.post(path, data={"csrf_token": csrf_from(text), "password": "not-the-password"})
    assert wrong.status_code == 400 and "Your current password is not correct." in wrong.get_data(as_text=True)
    assert len(factors_of(ana)) == 1
    assert "user.password_check_failed" in events()
    done = me.client.post(path, data={"csrf_token": csrf_from(text), "password": PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/account/mfa"
    assert factors_of(ana) == []
    assert "two-step verification is now off" in me.client.get("/account/mfa").get_data(as_text=True).lower()
    assert mfa.recovery_codes_left(ana) == 0  # they stood in for a factor
    assert "mfa.factor_removed" in events()
    assert "A second factor was removed from your account" in subjects(smtp, "ana@example.com")


@pytest.mark.parametrize("required_for", [["operators"]])
def test_the_last_factor_of_a_covered_person_cannot_be_removed(app, smtp, required_for):
    olivia, me = person(app, "olivia@example.com", is_operator=True)
    enroll_totp(me, "Phone")
    [factor] = factors_of(olivia)
    path = f"/account/mfa/{factor.public_id}/remove"
    question = me.client.get(path).get_data(as_text=True)
    assert "your organisation requires two-step verification for your account: it cannot be removed" in question
    assert 'name="password"' not in question
    refused = me.client.post(path, data={"csrf_token": csrf_from(question), "password": PASSWORD})
    assert refused.status_code == 409 and "cannot be removed" in refused.get_data(as_text=True)
    assert len(factors_of(olivia)) == 1
    # With another factor, this one may go.
    add_totp(olivia, "Second phone")
    allowed = me.client.post(path, data={"csrf_token": csrf_from(question), "password": PASSWORD})
    assert allowed.status_code == 302 and [f.name for f in factors_of(olivia)] == ["Second phone"]

    ana, ana_browser = person(app, "ana@example.com")  # not an operator: not covered
    enroll_totp(ana_browser)
    [own] = factors_of(ana)
    page = ana_browser.client.get(f"/account/mfa/{own.public_id}/remove").get_data(as_text=True)
    removed = ana_browser.client.post(f"/account/mfa/{own.public_id}/remove",
                                      data={"csrf_token": csrf_from(page), "password": PASSWORD})
    assert removed.status_code == 302 and factors_of(ana) == []


def test_recovery_codes_are_shown_once_and_renewed(app, smtp):
    ana, me = person(app, "ana@example.com")
    first = codes_in(enroll_totp(me))
    question = me.client.get("/account/mfa/recovery-codes")
    text = question.get_data(as_text=True)
    assert question.status_code == 200 and "Get new recovery codes?" in text and not codes_in(question)
    assert "New codes replace your 10 unused codes" in text
    renewed = me.client.post("/account/mfa/recovery-codes", data={"csrf_token": csrf_from(text)})
    second = codes_in(renewed)
    assert renewed.status_code == 200 and len(second) == 10 and not set(first) & set(second)
    assert "The previous ones no longer work." in renewed.get_data(as_text=True)
    assert not codes_in(me.client.get("/account/mfa"))
    with app.test_request_context():
        assert not mfa.use_recovery_code(ana, first[0])
        assert mfa.use_recovery_code(ana, second[0])
        db.session.commit()
    assert "You have 9 unused recovery codes." in me.client.get("/account/mfa").get_data(as_text=True)
    assert subjects(smtp, "ana@example.com") == [
        "A second factor was added to your account", "New recovery codes for your account",
        "A recovery code was used on your account"]
    used = mail_to(smtp, "ana@example.com")[-1].get_body(("plain",)).get_content()
    assert "You have 9 unused codes left." in used


def test_renewing_codes_without_a_factor_is_refused(app):
    ana, me = person(app, "ana@example.com")
    response = me.client.get("/account/mfa/recovery-codes")
    assert response.status_code == 302
    assert "Add an authenticator app or a security key first." in me.client.get("/account/mfa").get_data(
        as_text=True)
    assert mfa.recovery_codes_left(ana) == 0


def test_a_password_alone_cannot_change_the_factors(app):
    """A session that has not proved the factor it has steps up first: a stolen password is not enough."""
    ana, me = person(app, "ana@example.com")
    secret = add_totp(ana, "Phone")
    [factor] = factors_of(ana)
    page = me.client.get("/account/mfa")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "first confirm that it is you" in text
    assert 'data-webauthn="create"' not in text
    token = csrf_from(text)
    for response in (
        me.client.get("/account/mfa/totp"),
        me.client.post("/account/mfa/totp", data={"csrf_token": token, "code": "123456", "name": "Thief"}),
        me.client.post("/account/mfa/webauthn", data={"csrf_token": token, "credential": "{}", "name": "Thief"}),
        me.client.post(f"/account/mfa/{factor.public_id}/rename", data={"csrf_token": token, "name": "Thief"}),
        me.client.get(f"/account/mfa/{factor.public_id}/remove"),
        me.client.post("/account/mfa/recovery-codes", data={"csrf_token": token}),
    ):
        assert response.status_code == 302 and response.headers["Location"].startswith("/mfa?next=")
    options = me.client.post("/account/mfa/webauthn/options", headers={"X-CSRFToken": token})
    assert options.status_code == 403 and options.get_json()["error"] == "step_up_required"
    assert [f.name for f in factors_of(ana)] == ["Phone"]

    # Once the factor is proved, the same session may add another.
    proved = post_code(me.client, "/mfa?next=/account/mfa/totp", code=code_at(secret))
    assert proved.status_code == 302 and proved.headers["Location"] == "/account/mfa/totp"
    response = enroll_totp(me, "Tablet")
    assert response.status_code == 302 and response.headers["Location"] == "/account/mfa"  # no new codes
    assert "Your authenticator app “Tablet” was added." in me.client.get("/account/mfa").get_data(as_text=True)
    assert [f.name for f in factors_of(ana)] == ["Phone", "Tablet"]


def register_key(me, authenticator, name="Blue key", **create):
    page = me.client.get("/account/mfa").get_data(as_text=True)
    token = csrf_from(page)
    options = me.client.post("/account/mfa/webauthn/options", headers={"X-CSRFToken": token})
    assert options.status_code == 200, options.get_data(as_text=True)
    answer = authenticator.create(options.get_json(), **create)
    return me.client.post("/account/mfa/webauthn", data={"csrf_token": token, "credential": json.dumps(answer),
                                                         "name": name})


def test_register_a_passkey_then_a_security_key(app, smtp):
    ana, me = person(app, "ana@example.com")
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    first = register_key(me, authenticator, "Laptop")
    assert first.status_code == 200 and len(codes_in(first)) == 10
    # The same authenticator is asked not to make a second credential (excludeCredentials).
    with pytest.raises(InvalidStateError):
        register_key(me, authenticator, "Again")
    second = register_key(me, SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN), "Blue key", discoverable=False)
    assert second.status_code == 302 and second.headers["Location"] == "/account/mfa"
    listing = me.client.get("/account/mfa").get_data(as_text=True)
    assert "Your security key “Blue key” was added." in listing
    assert [(f.name, f.kind, f.discoverable) for f in factors_of(ana)] == [
        ("Laptop", "webauthn", True), ("Blue key", "webauthn", False)]
    rows = {name: re.search(rf"<th scope=\"row\">{name}</th>\s*<td[^>]*>([^<]+)<", listing).group(1)
            for name in ("Laptop", "Blue key")}
    assert rows == {"Laptop": "Passkey", "Blue key": "Security key or passkey"}
    assert subjects(smtp, "ana@example.com") == ["A second factor was added to your account"] * 2


def test_a_registration_that_does_not_verify_is_refused(app):
    ana, me = person(app, "ana@example.com")
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin="http://evil.example.com")
    response = register_key(me, authenticator)
    assert response.status_code == 400
    assert "Your security key could not be registered." in response.get_data(as_text=True)
    assert factors_of(ana) == []
    token = csrf_from(me.client.get("/account/mfa").get_data(as_text=True))
    garbage = me.client.post("/account/mfa/webauthn", data={"csrf_token": token, "credential": "not json",
                                                            "name": "Key"})
    assert garbage.status_code == 400 and factors_of(ana) == []


def test_pages_need_a_signed_in_person(app, client):
    for path in ("/account/mfa", "/account/mfa/totp", "/account/mfa/recovery-codes", "/account/mfa/abc/remove"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    assert client.post("/account/mfa/webauthn/options").status_code in (400, 401)


@pytest.mark.parametrize("required_for", [["operators"]])
def test_enrollment_inside_a_sign_in_resumes_it(app, smtp, required_for):
    olivia, me = person(app, "olivia@example.com", is_operator=True)
    me.logout()
    stopped = walk(me, authorize(me.client, client_id="catalogue", redirect_uri=CATALOGUE),
                   login="olivia@example.com")
    assert stopped.status_code == 200 and "Set up two-step verification" in stopped.get_data(as_text=True)
    uid = re.search(r"/account/mfa/totp\?interaction=([\w-]+)", stopped.get_data(as_text=True)).group(1)
    response = enroll_totp(me, "Phone", interaction=uid)
    assert response.status_code == 200 and len(codes_in(response)) == 10
    text = response.get_data(as_text=True)
    assert "continue signing in" in text
    resume = html.unescape(re.search(r'href="([^"]+)" id="recovery-codes-continue"', text).group(1))
    assert resume != "/account/mfa"
    callback = walk(me, me.client.get(resume))
    assert isinstance(callback, str) and callback.startswith(CATALOGUE) and "code=" in callback
    assert [f.name for f in factors_of(olivia)] == ["Phone"]


def test_every_typed_field_has_the_maxlength_of_its_validator(app):
    """As tests/integration/web/test_form_errors.py checks the other flows' forms, for these pages."""
    ana, me = person(app, "ana@example.com")
    enroll_totp(me)
    [factor] = factors_of(ana)
    pages = {"/account/mfa/totp": [TotpForm], "/account/mfa": [KeyForm, RenameForm],
             f"/account/mfa/{factor.public_id}/remove": [RemoveForm]}
    for path, forms in pages.items():
        page = Page(me.client.get(path).get_data(as_text=True))
        with app.test_request_context():
            for form_class in forms:
                form = form_class(meta={"csrf": False}, formdata=None)
                for field in form:
                    bounds = [v.max for v in field.validators if isinstance(v, Length) and v.max != -1]
                    if bounds and field.type != "HiddenField":
                        element = page.by_id(field.id) or page.input_named(field.name)
                        assert element.get("maxlength") == str(bounds[0]), (path, field.name)
        assert [e.get("name") for e in page.typed_inputs() if e.get("maxlength") is None] == []
