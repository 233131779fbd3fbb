"""The browser of the data-scale benchmark: the Flask test client signing in and asking for codes."""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask.testing import FlaskClient

SHOP = "https://shop.example.com/callback"
CSRF = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


class Browser(FlaskClient):
    """Each request in a fresh app context, as in production (no SQL session shared between requests)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        context = self.application.app_context()
        context.push()
        try:
            return super().open(*args, **kwargs)
        finally:
            context.pop()


def csrf(html: str) -> str:
    match = CSRF.search(html)
    if match is None:
        raise RuntimeError("no CSRF token in the page")
    return match.group(1)


def signed_in(app: Any, login: str, password: str) -> Any:
    app.test_client_class = Browser
    client = app.test_client()
    token = csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"csrf_token": token, "login": login, "password": password})
    if response.status_code != 302:
        raise RuntimeError(f"sign-in of {login} failed: {response.status_code}")
    return client


def _authorize(client: Any) -> Any:
    params = {"response_type": "code", "client_id": "shop", "redirect_uri": SHOP,
              "scope": "openid profile email companies offline_access", "state": secrets.token_hex(4),
              "nonce": secrets.token_hex(4), "prompt": "select_account"}
    return client.get("/authorize?" + urlencode(params))


def _path(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


def authorize_code(client: Any, choose: str | None) -> str:
    """A sign-in to the shop in this (signed-in) browser, picking the first company whose name holds
    `choose` when asked; the code."""
    response = _authorize(client)
    for _ in range(10):
        location = response.headers.get("Location", "")
        if location.startswith(SHOP):
            return parse_qs(urlsplit(location).query)["code"][0]
        if response.status_code not in (302, 303):
            raise RuntimeError(f"stopped at {response.status_code}: {response.get_data(as_text=True)[:300]}")
        path = _path(location)
        if urlsplit(location).path == "/companies/choose":
            page = client.get(path)
            if page.status_code in (302, 303):
                response = page
                continue
            html = page.get_data(as_text=True)
            values = re.findall(r'name="company_id"[^>]*value="([^"]+)"', html) or \
                re.findall(r'value="([^"]+)"[^>]*name="company_id"', html)
            interaction = parse_qs(urlsplit(location).query)["interaction"][0]
            response = client.post(path, data={"csrf_token": csrf(html), "company_id": values[0],
                                               "interaction": interaction})
            continue
        response = client.get(path)
    raise RuntimeError("too many redirects")


def picker_path(client: Any) -> str:
    """The address of the company picker of a new sign-in (for a person with several companies)."""
    response = _authorize(client)
    for _ in range(10):
        location = response.headers.get("Location", "")
        if urlsplit(location).path == "/companies/choose":
            return _path(location)
        response = client.get(_path(location))
    raise RuntimeError("no picker")
