"""The rendered HTML of a page, read with the standard library's parser: elements, their attributes,
their text, the fieldsets around them; and the pages of every form of the flows, for the tests of
forms (tests/integration/web/test_form_errors.py, test_page_markup.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from idp.extensions import db
from tests.conftest import Actions, IsolatedClient, smtp_mail_config
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.flows.mailbox import link_in, mail_to
from tests.smtp import SmtpSink

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
TYPED = {"text", "email", "password", "tel", "search", "url"}
ALL_FLOWS = ["login", "set_password", "forgot_password", "confirm_email", "register", "invitation", "account",
             "company_join", "company_choice", "tools", "account_request", "mfa", "api_keys"]


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str | None]
    ancestors: list[Element]  # the elements around it, outermost first
    text: str = ""
    legend: str = ""  # a fieldset's legend

    def get(self, name: str) -> str | None:
        return self.attrs.get(name)

    @property
    def fieldsets(self) -> list[Element]:
        return [e for e in self.ancestors if e.tag == "fieldset"]

    def inside(self, other: Element) -> bool:
        return any(e is other for e in self.ancestors)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


class Page(HTMLParser):
    """Every element of the page in document order, with the text inside it."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs), list(self._open))
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            element = self._open.pop()
            if element.tag == "legend" and element.fieldsets:
                element.fieldsets[-1].legend = element.text.strip()
            if element.tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        return [e for e in self.elements if (tag is None or e.tag == tag)
                and all(e.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def by_id(self, element_id: str) -> Element | None:
        found = [e for e in self.elements if e.get("id") == element_id]
        assert len(found) <= 1, f"id {element_id!r} is used {len(found)} times"
        return found[0] if found else None

    def input_named(self, name: str) -> Element:
        found = [e for e in self.elements if e.tag in ("input", "select", "textarea") and e.get("name") == name
                 and e.get("type") != "hidden"]
        assert found, f"no field named {name!r}"
        return found[0]

    @property
    def title(self) -> str:
        return " ".join(self.find_all("title")[0].text.split())

    def typed_inputs(self) -> list[Element]:
        """The inputs a person types into (not the hidden ones, radios, checkboxes)."""
        return [e for e in self.elements if e.tag == "input" and (e.get("type") or "text") in TYPED]


def squeeze(text: str) -> str:
    return " ".join(text.split())


def all_flows_config(smtp: SmtpSink) -> dict[str, Any]:
    return {"mail": smtp_mail_config(smtp), "flows": ALL_FLOWS, "api_keys": {"self_service": True}}


def browser(app: Any) -> Actions:
    app.test_client_class = IsolatedClient
    return Actions(app.test_client())


def signed_in(app: Any, **fields: Any) -> Actions:
    user = make_user(fields.pop("email", None), locale="en", **fields)
    actions = browser(app)
    assert actions.login(user.email, PASSWORD).status_code == 302
    return actions


def reset_path(app: Any) -> str:
    from idp.accounts import links
    from idp.flows.forgot_password import PURPOSE

    user = make_user()
    raw = links.issue(PURPOSE, user.id, timedelta(hours=1))
    db.session.commit()
    return f"/password/reset/{raw}"


def invitation_path(app: Any, smtp: SmtpSink, email: str = "ines@example.com") -> str:
    from idp.companies import invitations

    company = make_company(name="Acme Tools")
    with app.test_request_context():
        invitations.invite(company, email, "order", locale="en")
        db.session.commit()
    return link_in(smtp, mail_to(smtp, email)[-1], "/invitations/")


def _second_factor_page(app: Any, page: str) -> tuple[Actions, str]:
    """The pages of second factors and API keys, for a member with an authenticator app."""
    from tests.integration.flows.mfa_helpers import add_totp, code_at, post_code

    user = make_user(locale="en")
    make_membership(user, make_company())
    make_membership(user, make_company())  # two: the keys page then asks which company
    actions = browser(app)
    assert actions.login(user.email, PASSWORD).status_code == 302
    if page in ("mfa-totp", "api-keys"):
        return actions, {"mfa-totp": "/account/mfa/totp", "api-keys": "/account/api-keys"}[page]
    secret = add_totp(user)
    if page == "mfa-step":
        from idp.security import mfa

        with app.test_request_context():
            mfa.issue_recovery_codes(user, notify=False)
            db.session.commit()
        return actions, "/mfa?next=/account/mfa"
    assert post_code(actions.client, "/mfa?next=/account/mfa", code=code_at(secret)).status_code == 302
    if page == "mfa-remove":
        from idp.security import mfa

        return actions, f"/account/mfa/{mfa.factors_of(user)[0].public_id}/remove"
    return actions, "/account/mfa"


def open_page(app: Any, smtp: SmtpSink, page: str) -> tuple[Actions, str]:
    """A browser on the page of `page` (a name of FORM_PAGES), and the page's path."""
    if page.startswith("mfa-") or page == "api-keys":
        return _second_factor_page(app, page)
    if page in ("account", "join", "set-password"):
        fields = {"must_change_password": True} if page == "set-password" else {}
        actions = signed_in(app, **fields)
        return actions, {"account": "/account", "join": "/companies/join", "set-password": "/password/set"}[page]
    actions = browser(app)
    if page == "reset":
        return actions, reset_path(app)
    if page == "invitation":
        return actions, invitation_path(app, smtp)
    return actions, {"login": "/login", "register": "/register", "forgot": "/password/forgot",
                     "resend": "/confirm/resend", "account-request": "/companies/account-request?people=3"}[page]
