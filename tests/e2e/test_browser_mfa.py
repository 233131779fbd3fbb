"""Second factors in Chromium: a security key, a passkey and an authenticator app enrolled through the
pages, then used where a portal's policy asks for one; the portal's ID token is checked with PyJWT.

WebAuthn runs against Chromium's virtual authenticators (DevTools protocol). Its RP ID is the
issuer's host, and Chromium refuses an IP address there: the server is named localhost. One
server serves the module (it is the slow part); each test signs in as a person of its own.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from tests.conftest import Backend, base_config, build_app, close_app
from tests.e2e.conftest import LiveServer, write_config
from tests.e2e.oidc_support import query, verify
from tests.factories import PASSWORD, make_user
from tests.smtp import free_port

try:
    import pyotp
except ImportError:  # pragma: no cover - a broken environment
    pytest.fail("pyotp is missing (a dependency of the provider): .venv/bin/pip install -r requirements.lock",
                pytrace=False)

pytestmark = pytest.mark.e2e

CLIENT_ID = "portal"
SECRET = "portal-secret-0123456789abcdef"
ACR_MFA = "urn:portail:acr:mfa"
TIMEOUT_MS = 15000
# A roaming key plugged in over USB, and a platform authenticator (this device's passkeys); both
# verify the person (a PIN or biometrics) and answer without a touch.
SECURITY_KEY = {"protocol": "ctap2", "transport": "usb", "hasResidentKey": True, "hasUserVerification": True,
                "isUserVerified": True, "automaticPresenceSimulation": True}
PLATFORM = {**SECURITY_KEY, "transport": "internal"}
PEOPLE = {test: f"nora-{test}@example.com" for test in ("key", "passkey", "app")}


class _Callback(BaseHTTPRequestHandler):
    """The portal's redirect URI: answers anything (the code is read from the browser's URL)."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>Portal</title><p>Signed in."
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Provider:
    server: LiveServer
    callback: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def provider(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """One `idp serve` for the module, named localhost, whose portal requires a second factor; each
    test signs in as a person of its own (PEOPLE), made directly in the database."""
    from idp.extensions import db

    directory = tmp_path_factory.mktemp("mfa")
    portal = ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    threading.Thread(target=portal.serve_forever, daemon=True).start()
    callback = f"http://127.0.0.1:{portal.server_address[1]}/callback"
    port = free_port()
    overrides: dict[str, Any] = {
        "flows": ["login", "mfa", "account"],
        "clients": [{"client_id": CLIENT_ID, "secret": SECRET, "redirect_uris": [callback]}],
        "mfa": {"required_for": [f"client:{CLIENT_ID}"]},
    }
    # Migrates the database when this session has not yet, and seeds it; emptied by close_app.
    seeder = build_app(backend, directory / "seed", **overrides)
    server = None
    try:
        with seeder.app_context():
            for email in PEOPLE.values():
                make_user(email, given_name="Nora")
            db.session.remove()
            db.engine.dispose()
        document = base_config(backend, directory, issuer=f"http://localhost:{port}", **overrides)
        document["mail"] = {**document["mail"], "worker": True}
        server = LiveServer(write_config(directory / "idp.yaml", document), port, directory / "server.log",
                            host="localhost")
        server.start()
        yield Provider(server, callback)
    finally:
        if server is not None:
            server.stop()
        close_app(seeder)
        portal.shutdown()
        portal.server_close()


def _new_page(browser: Any, locale: str) -> tuple[Any, Any]:
    context = browser.new_context(locale=locale)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.set_default_navigation_timeout(TIMEOUT_MS)
    return context, page


def _authenticator(page: Any, options: dict[str, Any]) -> tuple[Any, str]:
    """A virtual authenticator attached to `page`: the CDP session and its id."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    return cdp, added["authenticatorId"]


def _credentials(cdp: Any, authenticator_id: str) -> list[dict[str, Any]]:
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]


def _sign_in_with_password(page: Any, email: str) -> None:
    page.fill("#login", email)
    page.fill("#password", PASSWORD)
    page.click("button.primary")


def _sign_out(page: Any, provider: Provider) -> None:
    page.goto(provider.url + "/logout")
    page.click("button.primary")
    page.wait_for_load_state()


class Portal:
    """The portal's side of an authorization code sign-in with PKCE: the code read from the callback's
    URL in the browser, and exchanged at /token with `requests`."""

    def __init__(self, provider: Provider, page: Any, email: str) -> None:
        self.server = provider.server
        self.callback = provider.callback
        self.page = page
        self.email = email
        self.state = secrets.token_urlsafe(12)
        self.nonce = secrets.token_urlsafe(12)
        self.verifier = secrets.token_urlsafe(48)

    def start(self) -> None:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        self.page.goto(self.server.url + "/authorize?" + urlencode({
            "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": self.callback, "scope": "openid email",
            "state": self.state, "nonce": self.nonce, "code_challenge": challenge, "code_challenge_method": "S256",
        }))

    def finish(self) -> dict[str, Any]:
        """Wait for the callback; the verified ID token's claims."""
        self.page.wait_for_url(lambda url: url.startswith(self.callback + "?"))
        answer = query(self.page.url)
        assert answer.get("state") == self.state, answer
        token = requests.post(self.server.url + "/token", auth=(CLIENT_ID, SECRET), timeout=10, data={
            "grant_type": "authorization_code", "code": answer["code"], "redirect_uri": self.callback,
            "code_verifier": self.verifier,
        })
        assert token.status_code == 200, token.text
        claims = verify(self.server.url, token.json()["id_token"], audience=CLIENT_ID)
        assert claims["nonce"] == self.nonce and claims["email"] == self.email
        return claims


def _add_key(page: Any, provider: Provider, name: str) -> list[str]:
    """At /account/mfa, through the page's form and button: the key's recovery codes (a first factor)."""
    page.fill("#key_name", name)
    page.click("form[data-webauthn=create] button[type=submit]")
    page.wait_for_url(provider.url + "/account/mfa/webauthn")
    codes = page.locator("#recovery-code-list code").all_inner_texts()
    page.click("#recovery-codes-continue")
    page.wait_for_url(provider.url + "/account/mfa")
    return codes


def test_security_key_enrolled_then_asked_by_the_portal(provider, page):
    email = PEOPLE["key"]
    cdp, authenticator = _authenticator(page, SECURITY_KEY)

    page.goto(provider.url + "/account/mfa")
    assert page.url.startswith(provider.url + "/login")
    _sign_in_with_password(page, email)
    page.wait_for_url(provider.url + "/account/mfa")
    assert "You have not set up a second factor yet." in page.content()
    codes = _add_key(page, provider, "Blue key")
    assert len(codes) == 10 and len(set(codes)) == 10
    assert page.locator(".mfa-factors tbody th").all_inner_texts() == ["Blue key"]
    stored = _credentials(cdp, authenticator)
    assert len(stored) == 1

    # A later sign-in to the portal: the password, then the key at the sign-in step.
    _sign_out(page, provider)
    portal = Portal(provider, page, email)
    portal.start()
    assert page.url.startswith(provider.url + "/login")
    _sign_in_with_password(page, email)
    page.wait_for_url(provider.url + "/mfa?*")
    assert page.locator("h1").inner_text() == "Two-step verification"
    page.click("#use-security-key")
    claims = portal.finish()
    assert claims["acr"] == ACR_MFA
    assert {"pwd", "mfa"} <= set(claims["amr"]) and {"hwk", "swk"} & set(claims["amr"]), claims["amr"]
    assert _credentials(cdp, authenticator)[0]["signCount"] > stored[0]["signCount"]


def test_passkey_signs_in_without_a_password(provider, page):
    email = PEOPLE["passkey"]
    cdp, authenticator = _authenticator(page, PLATFORM)

    page.goto(provider.url + "/account/mfa")
    _sign_in_with_password(page, email)
    page.wait_for_url(provider.url + "/account/mfa")
    _add_key(page, provider, "This laptop")
    assert page.locator(".mfa-factors tbody td").first.inner_text().startswith("Passkey")
    assert [c["isResidentCredential"] for c in _credentials(cdp, authenticator)] == [True]

    # The portal's sign-in: "Sign in with a passkey" on the login page, no password typed.
    _sign_out(page, provider)
    portal = Portal(provider, page, email)
    portal.start()
    assert page.url.startswith(provider.url + "/login")
    page.click("#passkey-sign-in")
    claims = portal.finish()
    assert claims["acr"] == ACR_MFA
    assert "mfa" in claims["amr"] and {"hwk", "swk"} & set(claims["amr"]), claims["amr"]
    assert "pwd" not in claims["amr"]


def test_authenticator_app_enrolled_during_sign_in_then_a_recovery_code(provider, browser):
    email = PEOPLE["app"]

    # In French: the portal requires a factor, and this person has none: the step sends them
    # through enrollment, inside the same sign-in.
    context, page = _new_page(browser, "fr-FR")
    try:
        portal = Portal(provider, page, email)
        portal.start()
        assert page.locator("html").get_attribute("lang") == "fr"
        assert page.locator("h1").inner_text() == "Se connecter"
        _sign_in_with_password(page, email)
        page.wait_for_url(provider.url + "/mfa?*")
        assert page.locator("html").get_attribute("lang") == "fr"
        assert page.locator("main a[href='/logout']").inner_text() == "Se déconnecter"
        page.click("main a[href^='/account/mfa/totp']")
        page.wait_for_url(provider.url + "/account/mfa/totp?*")
        totp = pyotp.parse_uri(page.inner_text("#otpauth-uri"))
        assert isinstance(totp, pyotp.TOTP)
        page.fill("#code", totp.now())
        page.click("main button.primary")
        page.wait_for_url(provider.url + "/account/mfa/totp")
        assert page.locator("html").get_attribute("lang") == "fr"
        codes = page.locator("#recovery-code-list code").all_inner_texts()
        assert len(codes) == 10 and len(set(codes)) == 10
        page.click("#recovery-codes-continue")
        claims = portal.finish()
        assert claims["acr"] == ACR_MFA and {"pwd", "otp", "mfa"} <= set(claims["amr"]), claims
    finally:
        context.close()

    # Later, in English, in another browser: the phone is lost, a recovery code instead.
    context, page = _new_page(browser, "en-GB")
    try:
        portal = Portal(provider, page, email)
        portal.start()
        assert page.locator("html").get_attribute("lang") == "en"
        _sign_in_with_password(page, email)
        page.wait_for_url(provider.url + "/mfa?*")
        assert page.locator("h1").inner_text() == "Two-step verification"
        page.click("summary")
        page.fill("#recovery_code", codes[0])
        page.get_by_role("button", name="Use this recovery code").click()
        claims = portal.finish()
        assert claims["acr"] == ACR_MFA and {"otp", "mfa"} <= set(claims["amr"]), claims

        # The codes were shown once: neither the factors page nor the renewal page shows them again.
        page.goto(provider.url + "/account/mfa")
        assert page.locator("#recovery-codes-left").inner_text() == "You have 9 unused recovery codes."
        page.goto(provider.url + "/account/mfa/recovery-codes")
        assert page.locator("h1").inner_text() == "Get new recovery codes?"
        assert page.locator("#recovery-code-list").count() == 0
        content = page.content()
        assert not any(code in content for code in codes)
    finally:
        context.close()
