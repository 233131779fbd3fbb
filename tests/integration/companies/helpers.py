"""Helpers for the company tests: configuration, people in their own browsers, joining through the pages."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select

from idp.extensions import db
from idp.models import AccessRequest, AuditEvent, Membership
from tests.conftest import Actions, IsolatedClient, csrf_from, smtp_mail_config
from tests.factories import PASSWORD, make_user
from tests.integration.oidc.conftest import basic, query, verify_jwt
from tests.smtp import SmtpSink

ISSUER = "http://127.0.0.1:5000"
COMPANY_FLOWS = ["login", "set_password", "forgot_password", "invitation", "company_join", "company_choice", "tools"]
PORTALS = [
    {"client_id": "shop", "name": {"en": "Web shop", "fr": "Boutique en ligne"}, "secret": "shop-secret-0123456789",
     "redirect_uris": ["https://shop.example.com/callback"], "launch_url": "https://shop.example.com/",
     "roles": ["order", "order_for_approval"]},
    {"client_id": "catalogue", "name": {"en": "Catalogue", "fr": "Catalogue"}, "secret": "catalogue-secret-0123456",
     "redirect_uris": ["https://catalogue.example.com/callback"], "launch_url": "https://catalogue.example.com/"},
    {"client_id": "prices", "name": {"en": "Price list", "fr": "Tarifs"}, "secret": "prices-secret-0123456789",
     "redirect_uris": ["https://prices.example.com/callback"], "launch_url": "https://prices.example.com/",
     "roles": ["prices_only"]},
]


def company_config(smtp: SmtpSink | None = None, **overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"flows": COMPANY_FLOWS, "clients": PORTALS}
    if smtp is not None:
        document["mail"] = smtp_mail_config(smtp)
    document.update(overrides)
    return document


def browser(app: Any) -> Actions:
    """Another person's browser: its own cookies."""
    app.test_client_class = IsolatedClient
    return Actions(app.test_client())


def person(app: Any, email: str, **fields: Any) -> tuple[Any, Actions]:
    """A user with an account, signed in in their own browser."""
    user = make_user(email, locale="en", **fields)
    actions = browser(app)
    assert actions.login(email, PASSWORD).status_code == 302
    return user, actions


def join(actions: Actions, company_id: str, member_code: str) -> Any:
    return actions.submit("/companies/join", {"company_id": company_id, "member_code": member_code})


def memberships(company: Any) -> list[Membership]:
    db.session.expire_all()
    return list(db.session.scalars(select(Membership).where(Membership.company_id == company.id)
                                   .order_by(Membership.id)))


def access_requests(company: Any) -> list[AccessRequest]:
    db.session.expire_all()
    return list(db.session.scalars(select(AccessRequest).where(AccessRequest.company_id == company.id)
                                   .order_by(AccessRequest.id)))


def events(*names: str) -> list[str]:
    db.session.expire_all()
    return [e.event for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if not names or e.event in names]


def path_of(link: str) -> str:
    assert link.startswith(ISSUER), link
    return link[len(ISSUER):]


def at_once(calls: list[Any]) -> list[Any]:
    """Run the calls in threads released together; returns their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)
    errors = []

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as exc:  # reported below, with the failing thread's error
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


# Signing in to a portal through /authorize and /token.

SHOP_SECRET = "shop-secret-0123456789"
SHOP = "https://shop.example.com/callback"
CATALOGUE = "https://catalogue.example.com/callback"
SCOPE = "openid profile email companies"


def authorize(client, client_id="shop", redirect_uri=SHOP, **extra):
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": SCOPE,
              "state": "st-1", "nonce": "n-1", **extra}
    return client.get("/authorize?" + urlencode(params))


def walk(actions, response, login=None, choose=None, limit=10):
    """Follow the provider's redirects, signing in and picking `choose` (a company name) on the way.

    Returns the client's redirect URL, or the provider's page (a response) where it stopped.
    """
    client = actions.client
    for _ in range(limit):
        if response.status_code not in (302, 303):
            return response
        location = response.headers["Location"]
        parts = urlsplit(location)
        if not location.startswith("/") and not location.startswith("http://localhost/"):
            return location
        path = parts.path + ("?" + parts.query if parts.query else "")
        if parts.path == "/login":
            assert login is not None, "sign-in was asked for"
            response = actions.submit("/login", {"login": login, "password": PASSWORD,
                                                 "interaction": query(location)["interaction"]}, form_path=path)
            login = None
            continue
        if parts.path == "/companies/choose":
            page = client.get(path)
            if page.status_code in (302, 303):  # chosen without a page
                response = page
                continue
            if choose is None:
                return page
            html = page.get_data(as_text=True)
            response = client.post(path, data={"csrf_token": csrf_from(html), "company_id": _value_for(html, choose),
                                               "interaction": query(location)["interaction"]})
            continue
        response = client.get(path)
    raise AssertionError("too many redirects")


def _value_for(html, name):
    """The radio value of the company named `name` on the picker page."""
    for chunk in html.split("<label class=\"choice\">")[1:]:
        if name in chunk:
            return chunk.split('value="')[1].split('"')[0]
    raise AssertionError(f"{name} is not offered")


def tokens(client, location, client_id="shop", secret=SHOP_SECRET, redirect_uri=SHOP):
    result = query(location)
    assert "code" in result, location
    response = client.post("/token", data={"grant_type": "authorization_code", "code": result["code"],
                                           "redirect_uri": redirect_uri}, headers=basic(client_id, secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def id_token(client, body, audience="shop"):
    return verify_jwt(client, body["id_token"], audience=audience)


def run_cli(args: list[str]) -> Any:
    """Run the `idp` command, then close the connection pool of the application it built.

    The command's application is not the test's and nobody disposes its engine: left to the
    garbage collector, its open connections would warn (ResourceWarning) in some later test.
    """
    from click.testing import CliRunner
    from flask import current_app

    from idp.cli import main

    result = CliRunner().invoke(main, args)
    mine = current_app._get_current_object()
    for owner, engines in list(db._app_engines.items()):  # Flask-SQLAlchemy keeps one engine per app
        if owner is not mine:
            for engine in engines.values():
                engine.dispose()
    return result
