"""must_change_password: until the person sets their own password, every page sends them to that step.

Checked on every route of an application with every flow enabled, for a person who could reach
them all otherwise (a company admin who is also an operator). Only the step itself, signing out,
the protocol (whose pipeline runs the same step inside a portal's sign-in), the language switch,
health probes, static files and error pages stay reachable.
"""

from types import SimpleNamespace
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from idp.extensions import db
from idp.models import User
from tests.factories import PASSWORD, make_company, make_membership, make_user
from tests.integration.companies.helpers import browser
from tests.integration.web.helpers import ALL_FLOWS, CLIENTS, form_next, path_of, routes, rows_a_route_can_name

OWN = "My-Own-Pass-5150"
REACHABLE = {
    "set_password.set_password", "logout.logout", "i18n.switch_language", "health.healthz", "health.readyz",
    "static", "oidc.authorize", "oidc.resume", "oidc_api.openid_configuration", "oidc_api.jwks",
    "oidc_api.userinfo", "oidc_api.token", "oidc_api.introspect", "oidc_api.revoke",
}


@pytest.fixture
def config_overrides():
    return {"flows": ALL_FLOWS, "clients": CLIENTS}


@pytest.fixture
def person(app):
    """Signed in with a password an operator chose; admin of C-1 and an operator."""
    company = make_company("C-1")
    user = make_user("ana@example.com", locale="en", must_change_password=True, is_operator=True)
    make_membership(user, company, is_admin=True)
    other = make_user("bob@example.com", locale="en")
    make_membership(other, company)
    access_request, account_request, invitation = rows_a_route_can_name(app, company, user)
    actions = browser(app)
    response = actions.login("ana@example.com", PASSWORD)
    assert urlsplit(response.headers["Location"]).path == "/password/set"
    values = {"company_id": company.public_id, "user_id": other.public_id, "invitation_id": str(invitation.id),
              "request_id": access_request.public_id, "token": "x" * 43, "uid": "x" * 24, "filename": "idp.css",
              "key_id": "k" * 22, "factor_id": "f" * 22}
    return SimpleNamespace(actions=actions, user=user, values=values,
                           operator_values={**values, "request_id": account_request.public_id})


def _url(person, rule):
    values = person.operator_values if rule.endpoint.startswith("admin_operator.") else person.values
    return path_of(rule, {argument: quote(values[argument], safe="") for argument in rule.arguments})


def _call(person, method, url):
    client = person.actions.client
    if method == "GET":
        return client.get(url)
    _, token = person.actions.get_form("/password/set")
    return client.post(url, data={"csrf_token": token})


def _sent_to_the_step(response):
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/password/set"


def _gated_routes(app):
    return [(method, rule) for method, rule in routes(app) if rule.endpoint not in REACHABLE]


def test_every_page_but_the_allowed_ones_is_gated(app, person):
    gated = _gated_routes(app)
    assert len(gated) > 40, "the application's pages are missing"
    for method, rule in gated:
        url = _url(person, rule)
        response = _call(person, method, url)
        assert _sent_to_the_step(response), (method, url, response.status_code, response.headers.get("Location"))
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        # A GET comes back to the page afterwards; a POST's page is gone (a GET of it would be refused).
        assert query.get("next") == ([url] if method == "GET" else None), (method, url, query)
    db.session.expire_all()
    assert db.session.get(User, person.user.id).must_change_password


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/password/set", 200),
    ("GET", "/logout", 200),
    ("GET", "/healthz", 200),
    ("GET", "/readyz", 200),
    ("GET", "/static/idp.css", 200),
    ("GET", "/jwks", 200),
    ("GET", "/.well-known/openid-configuration", 200),
    ("GET", "/no-such-page", 404),
    ("DELETE", "/tools", 405),
], ids=["the-step", "sign-out", "healthz", "readyz", "static", "jwks", "discovery", "404", "405"])
def test_what_stays_reachable(person, method, path, status):
    response = person.actions.client.open(path, method=method)
    assert response.status_code == status
    response.close()


def test_the_language_switch_stays_reachable(person):
    response = person.actions.submit("/language", {"language": "fr", "next": "/password/set"},
                                     form_path="/password/set")
    assert response.status_code == 302 and response.headers["Location"] == "/password/set"


def test_signing_out_stays_reachable(person):
    assert person.actions.logout().status_code == 200
    assert person.actions.client.get("/tools").headers["Location"].startswith("/login")


def test_a_portal_sign_in_goes_through_the_step_with_its_interaction(person):
    response = person.actions.client.get("/authorize?response_type=code&client_id=web&scope=openid"
                                         "&redirect_uri=https%3A%2F%2Fweb.example.com%2Fcb&state=s&nonce=n")
    assert _sent_to_the_step(response)
    assert "interaction" in parse_qs(urlsplit(response.headers["Location"]).query)


@pytest.mark.parametrize("path", ["/tools", "/account", "/companies/join", "/admin/", "/admin/operator/users?q=bob"],
                         ids=["tools", "account", "join", "admin", "operator"])
def test_after_setting_the_password_the_page_opens(person, path):
    response = person.actions.client.get(path)
    assert _sent_to_the_step(response)
    page, token = person.actions.get_form(response.headers["Location"])
    done = person.actions.client.post("/password/set", data={
        "csrf_token": token, "password": OWN, "password_confirm": OWN, "next": form_next(page.get_data(as_text=True))})
    assert done.status_code == 302 and done.headers["Location"] == path
    assert person.actions.client.get(path).status_code == 200
