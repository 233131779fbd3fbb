"""The authorization endpoint's error pages say what is wrong in the person's language, never in Authlib's English.

Review finding (issue 12, item 3): `/authorize?client_id=bogus…` in French showed "The client does
not exist on this server." after the French sentence. Each case below is an error that cannot go
back to the client, so a person reads it; every OAuth error the endpoint met on the way is
recorded, and none of their descriptions may be on the page.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from idp.oidc import authorize as authorize_module
from idp.oidc.clients import Client, client_table
from tests.factories import PASSWORD
from tests.integration.oidc.conftest import CLIENTS, WEB_REDIRECT, authorize_params, query

FRENCH = [{"headers": {"Accept-Language": "fr"}}, {"ui_locales": "fr"}]


def _query(params, pairs=()):
    return "/authorize?" + urlencode(list(params.items()) + list(pairs))


CASES = {
    "unknown-client": _query(authorize_params(client_id="bogus")),
    "no-client": _query({k: v for k, v in authorize_params().items() if k != "client_id"}),
    "no-redirect-uri": _query({k: v for k, v in authorize_params().items() if k != "redirect_uri"}),
    "unregistered-redirect-uri": _query(authorize_params(redirect_uri="https://evil.example.com/cb")),
    "redirect-uri-with-a-user": _query(authorize_params(redirect_uri="https://x@web.example.com/callback")),
    "loopback-port-of-a-web-client": _query(authorize_params(client_id="mobile-web",
                                                             redirect_uri="http://127.0.0.1:9/cb")),
    "repeated-client-id": _query(authorize_params(), [("client_id", "web")]),
    "repeated-redirect-uri": _query(authorize_params(), [("redirect_uri", WEB_REDIRECT)]),
    "repeated-state": _query(authorize_params(), [("state", "again")]),
    "unsupported-response-type-unverified": _query(authorize_params(response_type="token",
                                                                    redirect_uri="https://evil.example.com/cb")),
    "too-large-unverified": _query(authorize_params(client_id="bogus", junk="j" * 20000)),
}


@pytest.fixture
def config_overrides():
    return {"clients": [*CLIENTS, {"client_id": "mobile-web", "secret": "web-secret-0123456789abcdef",
                                   "redirect_uris": ["http://127.0.0.1:8/cb"]}],
            "flows": ["login", "consent"]}


@pytest.fixture
def met(monkeypatch):
    """The OAuth errors the endpoint turned into an answer during the request."""
    errors = []
    original = authorize_module._to_client

    def recording(error):
        errors.append(error)
        return original(error)

    monkeypatch.setattr(authorize_module, "_to_client", recording)
    return errors


def _message(response):
    html = response.get_data(as_text=True)
    match = re.search(r'<p class="error" role="alert">(.*?)</p>', html, re.S)
    assert match, html[-800:]
    return html, match.group(1)


def _assert_french_without_authlib(response, met):
    assert response.status_code == 400 and "Location" not in response.headers
    html, message = _message(response)
    assert 'lang="fr"' in html and "Désolé" in html
    assert met, "no OAuth error was met: the case does not test what it says"
    for error in met:
        assert error.redirect_uri is None
        assert f"({error.error})" in message
        if error.description:
            assert str(error.description) not in message, error.description
    # Whatever the error: no English sentence of Authlib's (they end with a full stop).
    assert not re.search(r"\b(is not supported|does not exist|Missing|Multiple|Invalid|in request)\b", message)


@pytest.mark.parametrize("how", FRENCH, ids=["accept-language", "ui-locales"])
@pytest.mark.parametrize("path", CASES.values(), ids=CASES.keys())
def test_an_error_page_shows_no_untranslated_protocol_text(client, met, path, how):
    if "ui_locales" in how:
        path += "&" + urlencode(how)
    response = client.get(path, headers=how.get("headers", {}))
    _assert_french_without_authlib(response, met)


def test_a_request_that_no_longer_checks_out_on_resume_gets_a_french_page(app, flow, user, met):
    """The stored request is validated again when the code is issued: the configuration may have
    changed meanwhile (here the client's redirect URI is gone), and the page is still ours."""
    response = flow.client.get(_query(authorize_params(ui_locales="fr")), headers={"Accept-Language": "fr"})
    login = response.headers["Location"]
    assert login.startswith("/login?")
    changed = [c.config.model_copy(update={"redirect_uris": ["https://web.example.com/elsewhere"]})
               if c.client_id == "web" else c.config for c in app.extensions["idp.clients"].values()]
    app.extensions["idp.clients"] = client_table(changed)
    assert isinstance(app.extensions["idp.clients"]["web"], Client)
    resumed = flow.actions.submit("/login", {"login": "ada", "password": PASSWORD,
                                             "interaction": query(login)["interaction"]}, form_path=login,
                                  headers={"Accept-Language": "fr"})
    page = flow.client.get(resumed.headers["Location"], headers={"Accept-Language": "fr"})
    _assert_french_without_authlib(page, met)
