"""The two demo portals of `make run`: signing in to one signs in to the other; signing out of one, out of both."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from werkzeug.serving import make_server

from demo.portal import PORTALS, create_portal
from tests.e2e.oidc_support import hidden_fields, start_provider, stop_provider
from tests.factories import PASSWORD
from tests.smtp import free_port

pytestmark = pytest.mark.e2e


class PortalServer:
    def __init__(self, app, port: int) -> None:
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def demo(backend, tmp_path):
    ports = {"shop": free_port(), "pricing": free_port()}
    clients = []
    for name, settings in PORTALS.items():
        base = f"http://127.0.0.1:{ports[name]}"
        clients.append({"client_id": name, "secret": settings["secret"], "redirect_uris": [base + "/callback"],
                        "post_logout_redirect_uris": [base + "/"], "backchannel_logout_uri": base + "/backchannel"})
    provider = start_provider(backend, tmp_path, clients=clients, flows=["login", "consent"])
    portals = []
    try:
        created = provider.idp("users", "create", "--email", "lea@example.com", "--given-name", "Léa",
                               "--password-stdin", input=PASSWORD + "\n")
        assert created.returncode == 0, created.stderr
        for name in PORTALS:
            portals.append(PortalServer(create_portal(name, provider.url, ports), ports[name]))
        yield provider, {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    finally:
        for portal in portals:
            portal.stop()
        stop_provider(provider, backend, tmp_path)


def _poll(check, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_sso_and_single_logout(demo):
    provider, urls = demo
    browser = requests.Session()
    # Not signed in anywhere: prompt=none comes back with login_required, the portal offers to sign in.
    page = browser.get(urls["shop"] + "/", timeout=10)
    assert "You are not signed in" in page.text

    login = browser.get(urls["shop"] + "/login", timeout=10)
    assert login.url.startswith(provider.url + "/login")
    data = hidden_fields(login.text, "/login")
    data.update({"login": "lea@example.com", "password": PASSWORD})
    shop = browser.post(provider.url + "/login", data=data, timeout=10)
    assert shop.url == urls["shop"] + "/"
    assert "Signed in as <strong>Léa" in shop.text
    assert "lea@example.com" in shop.text

    # The pricing portal signs in by SSO, with no sign-in page.
    pricing = browser.get(urls["pricing"] + "/", timeout=10)
    assert pricing.url == urls["pricing"] + "/"
    assert "Signed in as <strong>Léa" in pricing.text
    assert all("/login" not in r.url for r in pricing.history)

    # Signing out of the shop signs out at the provider, and (back-channel) of the pricing portal.
    out = browser.post(urls["shop"] + "/logout", timeout=10)
    assert out.url.startswith(urls["shop"] + "/")
    assert "You are not signed in" in out.text
    assert _poll(lambda: "You are not signed in" in browser.get(urls["pricing"] + "/", timeout=10).text)
