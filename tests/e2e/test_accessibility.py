"""Every page, in French and in English, without an axe-core violation.

axe-core (Deque's, from npm: tests/e2e/axe/, `npm ci` by `make test`) is added to each page of
Debian's Chromium by Playwright before the page's own scripts, and runs its default rule set
(WCAG 2.x A and AA, and the best practices) on every state a person meets: forms before and after
a refused submission, the pages behind emailed links, a portal's sign-in steps, the company
admins' and the operators' pages, the error pages. One live server (on SQLite: the pages do not
depend on the backend) serves both languages; each language gets people of its own, so that what
one run changes (a request filed, an email changed) is the other's to do again.

The pages are audited in groups (sign-in, sign-up, account, second factors, company admin, operator), one test per
group and language, so that xdist spreads them over its workers. A group makes what its pages need
(the access request a company admin reviews, the account request an operator reviews) and changes
nothing another group needs: the groups run in any order, on any worker, and each worker starts
(once, for the session) a server of its own.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from idp.models import AccessRequest, AccountRequest, Company, User
from tests.conftest import Backend, build_app, smtp_mail_config
from tests.e2e.oidc_support import start_provider
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.smtp import SmtpSink

pytestmark = pytest.mark.e2e

AXE_JS = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
LANGUAGES = ["fr", "en"]
ACCEPT = {"fr": "fr-FR", "en": "en-GB"}
CALLBACK = "http://127.0.0.1:9/callback"
FLOWS = ["login", "set_password", "forgot_password", "confirm_email", "register", "invitation", "account", "consent",
         "company_join", "company_choice", "tools", "account_request", "mfa"]
CLIENTS = [
    {"client_id": "portal", "name": {"en": "Web shop", "fr": "Boutique en ligne"}, "secret": "portal-secret-0123456789",
     "redirect_uris": [CALLBACK], "require_consent": True, "launch_url": "https://shop.example.com/"},
    # Admits only a role nobody in the test has: its sign-in ends on the "no access" page.
    {"client_id": "approvals", "name": {"en": "Approvals", "fr": "Validations"}, "secret": "approvals-secret-012345",
     "redirect_uris": [CALLBACK], "roles": ["order_for_approval"]},
]
COMPANY = "C-10001"
MEMBER_CODE = "DURAND-7731"

# resultTypes: only violations are listed node by node (faster); the rules that passed are counted,
# so that a page where axe did not really run cannot pass.
RUN_AXE = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return {
    passed: results.passes.length,
    violations: results.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 4).map(n => n.target.join(" ")),
    })),
  };
}"""


@dataclass
class Site:
    """The live server, its mail, and the application (same database) the test reads from."""

    url: str
    mail: SmtpSink
    app: Any

    def link(self, address: str, path: str, timeout: float = 20) -> str:
        """The first link to `path` in the newest message to `address`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in reversed(self.mail.to(address)):
                for link in SmtpSink.links(message):
                    if link.startswith(self.url + path):
                        return link
            time.sleep(0.1)
        raise AssertionError(f"no mail to {address} with a link to {path}")

    def scalar(self, statement: Any) -> Any:
        """One value read from the server's database (what the browser made: a request's id)."""
        from idp.extensions import db

        with self.app.app_context():
            value = db.session.scalars(statement).first()
            db.session.remove()
        assert value is not None, str(statement)
        return value


def _people(language: str) -> dict[str, str]:
    names = ("ada", "claire", "hugo", "olivia", "mia", "paul", "sam", "tom")
    return {name: f"{name}-{language}@example.com" for name in names}


# Session, not module: xdist may give a worker this module's tests between other modules' tests, and a
# module fixture would then be torn down and started again. Each worker builds its own, once.
@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from idp.extensions import db

    directory = tmp_path_factory.mktemp("accessibility")
    # The pages are the same on every backend: a database of its own, on SQLite with the memory store.
    backend = Backend("sqlite+memory", f"sqlite:///{directory / 'idp.sqlite3'}", None)
    mail = SmtpSink()
    mail.start()
    server = start_provider(backend, directory, flows=FLOWS, clients=CLIENTS,
                            mail={**smtp_mail_config(mail), "worker": True})
    app = build_app(backend, directory / "reader", flows=FLOWS, clients=CLIENTS)
    try:
        with app.app_context():
            durand = make_company(COMPANY, MEMBER_CODE, name="Électricité Durand SARL", city="Lyon")
            martin = make_company("C-10002", "MARTIN-4420", name="Garage Martin & Fils", city="Nantes")
            for language in LANGUAGES:
                people = _people(language)
                ada = make_user(people["ada"], given_name="Ada", family_name="Lovelace")
                make_membership(ada, durand, "order")
                make_membership(ada, martin, "prices_only")
                claire = make_user(people["claire"], given_name="Claire", family_name="Durand")
                make_membership(claire, durand, "order", is_admin=True)
                make_user(people["hugo"], given_name="Hugo", family_name="Petit")
                make_user(people["olivia"], given_name="Olivia", family_name="Support", is_operator=True)
                make_user(people["mia"], given_name="Mia", family_name="Nouvelle", must_change_password=True)
                # Signs in wrongly and forgets his password (the account group changes Ada's address).
                make_user(people["paul"], given_name="Paul", family_name="Bernard")
                # Second factors: Sam enrolls an authenticator app, Tom is sent to enrollment by a portal.
                make_membership(make_user(people["sam"], given_name="Sam", family_name="Leroy"), durand, "order")
                make_membership(make_user(people["tom"], given_name="Tom", family_name="Faure"), durand, "order")
            db.session.remove()
        yield Site(server.url, mail, app)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        server.stop()
        mail.stop()


@dataclass
class Audit:
    """Runs axe on each page state and keeps every violation, so one run lists them all."""

    site: Site
    browser: Any
    language: str
    violations: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)

    def person(self) -> Any:
        """A new browser (its own cookies) speaking the test's language, with axe in every page."""
        context = self.browser.new_context(locale=ACCEPT[self.language])
        context.add_init_script(path=str(AXE_JS))
        context.route(CALLBACK + "**", lambda route: route.fulfill(status=200, body="portal"))
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        return page

    def check(self, page: Any, state: str, status: int | None = None) -> None:
        page.wait_for_load_state("load")
        assert page.locator("html").get_attribute("lang") == self.language, (state, page.url)
        self.states.append(state)
        results = page.evaluate(RUN_AXE)
        assert results["passed"] >= 10, (state, results)
        for violation in results["violations"]:
            self.violations.append(f"{state} ({page.url.removeprefix(self.site.url)}): {violation['id']} "
                                   f"[{violation['impact']}] {violation['help']}: {', '.join(violation['nodes'])}")

    def visit(self, page: Any, path: str, state: str, status: int = 200) -> Any:
        response = page.goto(self.site.url + path)
        assert response is not None and response.status == status, (state, path, response and response.status)
        self.check(page, state)
        return response

    def submit(self, page: Any, state: str, values: dict[str, str], form: str | None = None) -> None:
        """Fill a form's fields by name, send it with its submit button, check the page it answers.

        The form is the first in the page's main part that posts and holds the first field named.
        """
        if form is None:
            form = "main form[method=post]" + (f":has([name='{next(iter(values))}'])" if values else "")
        target = page.locator(form).first
        for name, value in values.items():
            target.locator(f"[name='{name}']").fill(value)
        with page.expect_navigation():
            target.locator("button[type=submit], button:not([type])").last.click()
        self.check(page, state)

    def sign_in(self, page: Any, login: str, state: str | None = None) -> None:
        page.goto(self.site.url + "/login")
        self.submit(page, state or "signed-in", {"login": login, "password": PASSWORD})

    def assert_no_violation(self) -> None:
        assert self.violations == [], "\n".join(self.violations)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def _authorize_url(site: Site, client_id: str, scope: str = "openid profile companies", **extra: str) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return site.url + "/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "scope": scope,
        "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
        "code_challenge_method": "S256", **extra})


@pytest.fixture
def audit(site: Site, browser: Any, request: pytest.FixtureRequest) -> Iterator[Audit]:
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} is missing (`make test` installs it): cd tests/e2e/axe && npm ci")
    checker = Audit(site, browser, request.node.callspec.params["language"])
    yield checker
    checker.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_sign_in_pages(audit: Audit, site: Site, language: str) -> None:
    """Signed out: sign-in (alone and for a portal), the error pages, a forgotten password."""
    people = _people(language)
    anonymous = audit.person()
    audit.visit(anonymous, "/login", "login")
    anonymous.goto(_authorize_url(site, "portal"))
    assert "/login?interaction=" in anonymous.url, anonymous.url
    audit.check(anonymous, "login-for-a-portal")
    audit.submit(anonymous, "login-wrong-password", {"login": people["paul"], "password": "not the password"})
    audit.visit(anonymous, "/no-such-page", "error-404", status=404)
    audit.visit(anonymous, "/consent", "error-400", status=400)
    audit.visit(anonymous, "/password/forgot", "forgot-password")
    audit.submit(anonymous, "forgot-password-sent", {"email": people["paul"]})
    reset = site.link(people["paul"], "/password/reset/")
    audit.visit(anonymous, reset.removeprefix(site.url), "reset-password")
    audit.submit(anonymous, "reset-password-refused", {"password": "short", "password_confirm": "other"})
    audit.visit(anonymous, "/password/reset/" + "x" * 43, "reset-password-spent-link", status=410)
    audit.assert_no_violation()


@pytest.mark.parametrize("language", LANGUAGES)
def test_sign_up_pages(audit: Audit, site: Site, language: str) -> None:
    """Sign-up and its emailed link, the confirmation sent again, a first password at sign-in."""
    people = _people(language)
    anonymous = audit.person()
    audit.visit(anonymous, "/confirm/resend", "confirm-resend")
    audit.submit(anonymous, "confirm-resend-sent", {"email": f"nobody-{language}@example.com"})
    audit.visit(anonymous, "/confirm/" + "x" * 43, "confirm-spent-link", status=410)

    newcomer = audit.person()
    audit.visit(newcomer, "/register", "register")
    audit.submit(newcomer, "register-refused", {
        "email": f"zoe-{language}@example.com", "email_confirm": f"zoe-{language}@example.org",
        "password": "weak", "password_confirm": "weaker", "given_name": "", "family_name": "Martin"})
    audit.submit(newcomer, "register-sent", {
        "email": f"zoe-{language}@example.com", "email_confirm": f"zoe-{language}@example.com",
        "password": "Chromium-Sign-Up-42", "password_confirm": "Chromium-Sign-Up-42", "given_name": "Zoé",
        "family_name": "Martin"})
    confirm = site.link(f"zoe-{language}@example.com", "/confirm/")
    elsewhere = audit.person()  # the link opened in another browser: it asks to sign in afterwards
    audit.visit(elsewhere, confirm.removeprefix(site.url), "confirm-email")
    audit.submit(elsewhere, "confirm-email-done", {})

    # A first password at sign-in.
    mia = audit.person()
    audit.sign_in(mia, people["mia"], "set-password")
    audit.submit(mia, "set-password-refused", {"password": "short", "password_confirm": "other"})
    audit.assert_no_violation()


@pytest.mark.parametrize("language", LANGUAGES)
def test_account_pages(audit: Audit, site: Site, language: str) -> None:
    """A member of two companies: home, tools, account, a portal's company picker and consent, sign-out."""
    people = _people(language)
    ada = audit.person()
    audit.sign_in(ada, people["ada"], "home-signed-in")
    audit.visit(ada, "/tools", "tools")
    audit.visit(ada, "/account", "account")
    audit.submit(ada, "account-password-refused", {"current_password": "wrong", "password": "short",
                                                   "password_confirm": "other"},
                 form="form[action$='/account/password']")
    audit.submit(ada, "account-email-refused", {"email": "not an address", "current_password": "wrong"})
    audit.submit(ada, "account-email-sent", {"email": f"ada-new-{language}@example.com",
                                             "current_password": PASSWORD})
    change = site.link(f"ada-new-{language}@example.com", "/account/email/confirm/")
    audit.visit(ada, change.removeprefix(site.url), "account-email-confirm")
    ada.goto(_authorize_url(site, "portal", prompt="select_account"))  # /tools chose a company already
    assert "/companies/choose?" in ada.url, ada.url
    audit.check(ada, "company-picker")
    ada.locator("main form[method=post] [name='company_id']").last.check()
    with ada.expect_navigation(url="**/consent?**"):
        ada.locator("main form[method=post] button[type=submit]").last.click()
    audit.check(ada, "consent")
    audit.visit(ada, "/companies/join", "company-join")
    audit.visit(ada, "/logout", "logout-confirm")
    audit.submit(ada, "logout-done", {})
    audit.assert_no_violation()


@pytest.mark.parametrize("language", LANGUAGES)
def test_company_admin_pages(audit: Audit, site: Site, language: str) -> None:
    """Someone without a company asks to join one; its admin reviews the request, invites; a closed portal."""
    people = _people(language)
    # Joining a company files the access request the admin reviews below.
    hugo = audit.person()
    audit.sign_in(hugo, people["hugo"], "signed-in-without-company")
    audit.visit(hugo, "/companies/join", "company-join-empty")
    audit.submit(hugo, "company-join-refused", {"company_id": COMPANY, "member_code": "WRONG-CODE"})
    audit.submit(hugo, "company-join-requested", {"company_id": COMPANY, "member_code": MEMBER_CODE})
    audit.visit(hugo, "/companies/requests", "company-requests")

    # A company admin: members, requests, one request, invitations; a portal that admits nobody here.
    claire = audit.person()
    audit.sign_in(claire, people["claire"])
    company = site.scalar(select(Company.public_id).where(Company.external_id == COMPANY))
    audit.visit(claire, "/admin/", "admin-index")
    audit.visit(claire, f"/admin/companies/{company}/members", "admin-members")
    audit.visit(claire, f"/admin/companies/{company}/requests", "admin-requests")
    hugo_request = site.scalar(select(AccessRequest.public_id).join(User, User.id == AccessRequest.user_id)
                               .where(User.email == people["hugo"]))
    audit.visit(claire, f"/admin/companies/{company}/requests/{hugo_request}", "admin-request")
    audit.visit(claire, f"/admin/companies/{company}/invite", "admin-invite")
    audit.submit(claire, "admin-invite-refused", {"email": "not an address"})
    audit.submit(claire, "admin-invite-sent", {"email": f"ines-{language}@example.com"})
    invitation = site.link(f"ines-{language}@example.com", "/invitations/")
    invited = audit.person()
    audit.visit(invited, invitation.removeprefix(site.url), "invitation")
    audit.submit(invited, "invitation-refused", {"given_name": "Inès", "family_name": "", "password": "short",
                                                 "password_confirm": "other"})
    claire.goto(_authorize_url(site, "approvals"))
    assert "/companies/no-access?" in claire.url, claire.url
    audit.check(claire, "portal-no-access")
    audit.assert_no_violation()


@pytest.mark.parametrize("language", LANGUAGES)
def test_operator_pages(audit: Audit, site: Site, language: str) -> None:
    """A company asks for an account (signed out); an operator's pages, that request among them."""
    people = _people(language)
    # The account request the operator reviews below.
    anonymous = audit.person()
    audit.visit(anonymous, "/companies/account-request", "account-request")
    audit.submit(anonymous, "account-request-refused", {})
    audit.visit(anonymous, "/companies/account-request", "account-request-again")
    anonymous.locator("[name='people-0-role']").first.check()
    anonymous.locator("[name='terms']").check()
    audit.submit(anonymous, "account-request-sent", {
        "customer_number": COMPANY, "company_name": "Électricité Durand SARL", "address": "1 rue de la Paix",
        "city": "Lyon", "postal_code": "69001", "phone": "+33 4 00 00 00 00", "contact_given_name": "Jean",
        "contact_family_name": "Durand", "contact_email": f"jean-{language}@example.com",
        "people-0-given_name": "Luc", "people-0-family_name": "Durand",
        "people-0-email": f"luc-{language}@example.com"})

    olivia = audit.person()
    audit.sign_in(olivia, people["olivia"])
    audit.visit(olivia, "/admin/operator/", "operator-index")
    audit.visit(olivia, "/admin/operator/companies", "operator-companies")
    audit.visit(olivia, "/admin/operator/users", "operator-users")
    audit.visit(olivia, "/admin/operator/users?" + urlencode({"q": "ada"}), "operator-users-search")
    audit.visit(olivia, "/admin/operator/account-requests", "operator-account-requests")
    filed = site.scalar(select(AccountRequest.public_id)
                        .where(AccountRequest.contact_email == f"jean-{language}@example.com"))
    audit.visit(olivia, f"/admin/operator/account-requests/{filed}", "operator-account-request")
    audit.visit(olivia, "/admin/operator/audit", "operator-audit")
    audit.assert_no_violation()


@pytest.mark.parametrize("language", LANGUAGES)
def test_second_factor_pages(audit: Audit, site: Site, language: str) -> None:
    """An authenticator app enrolled and used, recovery codes, removal; a portal that asks for a factor."""
    import pyotp

    people = _people(language)
    sam = audit.person()
    audit.sign_in(sam, people["sam"])
    audit.visit(sam, "/account/mfa", "mfa-factors-none")
    audit.visit(sam, "/account/mfa/totp", "mfa-totp")
    audit.submit(sam, "mfa-totp-refused", {"code": "000000"})
    secret = pyotp.parse_uri(sam.locator("#otpauth-uri").inner_text()).secret
    audit.submit(sam, "mfa-recovery-codes", {"code": pyotp.TOTP(secret).now()})
    audit.visit(sam, "/account/mfa", "mfa-factors")
    audit.visit(sam, "/account/mfa/recovery-codes", "mfa-recovery-codes-confirm")
    sam.goto(site.url + "/account/mfa")
    with sam.expect_navigation():
        sam.locator("main form[action*='/remove'] button").first.click()
    audit.check(sam, "mfa-remove-confirm")
    audit.submit(sam, "mfa-remove-refused", {"password": "wrong"})

    again = audit.person()
    again.goto(_authorize_url(site, "portal", acr_values="urn:portail:acr:mfa"))
    audit.check(again, "login-with-passkey")
    audit.submit(again, "mfa-step", {"login": people["sam"], "password": PASSWORD})
    audit.submit(again, "mfa-step-refused", {"code": "000000"})

    tom = audit.person()
    tom.goto(_authorize_url(site, "portal", acr_values="urn:portail:acr:mfa"))
    audit.submit(tom, "mfa-enroll", {"login": people["tom"], "password": PASSWORD})
    audit.assert_no_violation()
