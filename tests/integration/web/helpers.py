"""What the whole-application tests share: every flow enabled, a few clients, path values."""

from __future__ import annotations

import pkgutil
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import idp.flows

# Every flow the package has, discovered: a new flow's routes are tested without an edit.
ALL_FLOWS = ["login", *sorted(name for _, name, _ in pkgutil.iter_modules(idp.flows.__path__) if name != "login")]
CLIENTS = [
    {"client_id": "web", "secret": "web-secret-0123456789abcdef", "redirect_uris": ["https://web.example.com/cb"],
     "post_logout_redirect_uris": ["https://web.example.com/"], "launch_url": "https://web.example.com/",
     "grant_types": ["authorization_code", "refresh_token"]},
    {"client_id": "mobile", "redirect_uris": ["com.example.app:/callback", "http://127.0.0.1/callback"]},
    {"client_id": "third", "secret": "third-secret-0123456789abc", "redirect_uris": ["https://third.example.com/cb"],
     "require_consent": True},
    {"client_id": "api", "secret": "api-secret-0123456789abcdef", "grant_types": ["client_credentials"]},
]

HOST = "127.0.0.1:5000"  # the tests' issuer
TEST_CLIENT_HOST = "localhost"  # where Werkzeug's test client sends requests, hence its absolute redirects

ARGUMENT = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>")


def path_of(rule: Any, values: dict[str, str]) -> str:
    """The rule's path with each argument replaced by its (already percent-encoded) value."""
    return ARGUMENT.sub(lambda match: values[match.group(1)], rule.rule)


def routes(app: Any) -> list[tuple[str, Any]]:
    """(method, rule) for every route of the application."""
    return [(method, rule) for rule in app.url_map.iter_rules()
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def _hidden(html: str, pattern: str) -> str:
    match = re.search(pattern, html)
    assert match, "no such next field in the page"
    return match.group(1).replace("&amp;", "&")


def form_next(html: str) -> str:
    """The `next` the page's own form (sign-in, set-password) carries."""
    return _hidden(html, r'<input id="next" name="next" type="hidden" value="([^"]*)"')


def language_next(html: str) -> str:
    """The `next` of the language form every page has."""
    return _hidden(html, r'<input type="hidden" name="next" value="([^"]*)"')


def on_this_host(location: str) -> bool:
    """Where a browser goes for this Location (WHATWG URL: tabs and newlines removed, leading
    controls and spaces stripped, a backslash is a slash in http URLs)."""
    cleaned = re.sub(r"[\t\n\r]", "", location).lstrip("".join(map(chr, range(0x21)))).replace("\\", "/")
    target = urlsplit(urljoin(f"http://{HOST}/login", cleaned))
    return target.scheme == "http" and target.netloc in (HOST, TEST_CLIENT_HOST)


def rows_a_route_can_name(app: Any, company: Any, actor: Any) -> tuple[Any, Any, Any]:
    """A pending access request to `company`, an account request and an invitation sent by
    `actor`: one row of each kind a route's path can name (its ids fill the route walks)."""
    from idp.companies import invitations
    from idp.extensions import db
    from idp.models import AccessRequest, AccountRequest
    from idp.models.base import utcnow
    from tests.factories import make_user

    requester = make_user("requester@example.com", locale="en")
    access_request = AccessRequest(user_id=requester.id, company_id=company.id)
    account_request = AccountRequest(customer_number="C-1", company_name="Example & Co", contact_given_name="A",
                                     contact_family_name="B", contact_email="a@example.com", people=[],
                                     terms_accepted_at=utcnow())
    db.session.add_all([access_request, account_request])
    db.session.commit()
    with app.test_request_context():
        invitation = invitations.invite(company, "invitee@example.com", "order", actor=actor)
        db.session.commit()
    return access_request, account_request, invitation
