"""In Chromium, from a portal's /authorize: create an account, confirm it by the emailed link, get the code.

The portal is Authlib's OAuth 2 client (not our code); mail goes from the live server's own
sender to a real SMTP server (aiosmtpd), and the test follows the link it contains.
"""

from __future__ import annotations

import secrets

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from tests.conftest import smtp_mail_config
from tests.e2e.oidc_support import verify

SECRET = "portal-secret-0123456789abcdef"
CALLBACK = "http://127.0.0.1:9/callback"
PASSWORD = "Chromium-Sign-Up-42"
FLOWS = ["login", "set_password", "forgot_password", "confirm_email", "register"]


@pytest.fixture
def server(live_server_factory, smtp):
    return live_server_factory(
        mail={**smtp_mail_config(smtp), "worker": True}, flows=FLOWS,
        clients=[{"client_id": "portal", "secret": SECRET, "redirect_uris": [CALLBACK]}],
    )


def test_sign_up_to_signed_in(server, page, smtp):
    metadata = requests.get(server.url + "/.well-known/openid-configuration", timeout=10).json()
    portal = OAuth2Session("portal", SECRET, scope="openid profile email", redirect_uri=CALLBACK,
                           token_endpoint_auth_method="client_secret_basic")
    nonce = secrets.token_urlsafe(8)
    url, state = portal.create_authorization_url(metadata["authorization_endpoint"], nonce=nonce)
    # The portal's callback is not served by anyone: the browser's request to it is answered here.
    page.route(CALLBACK + "**", lambda route: route.fulfill(status=200, body="portal"))

    page.goto(url)
    page.wait_for_url("**/login?interaction=*")
    page.click("text=Create an account")
    page.fill("#email", "zoe@example.com")
    page.fill("#email_confirm", "zoe@example.com")
    page.fill("#password", "weak")
    page.fill("#password_confirm", "weak")
    page.fill("#given_name", "Zoé")
    page.fill("#family_name", "Martin")
    page.click("button.primary")
    assert "The password is too short: it needs at least 8 characters." in page.locator("[role=alert]").inner_text()

    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    page.click("button.primary")
    page.get_by_text("A message has been sent to zoe@example.com.").wait_for()

    message = smtp.wait_for(1, timeout=20)[-1]
    assert message["To"] == "zoe@example.com" and message["Subject"] == "Confirm your account"
    link = next(link for link in smtp.links(message) if link.startswith(server.url + "/confirm/"))
    page.goto(link)
    with page.expect_request(lambda request: request.url.startswith(CALLBACK)) as callback:
        page.click("text=Confirm my account")
    token = portal.fetch_token(metadata["token_endpoint"], authorization_response=callback.value.url, state=state)
    claims = verify(server.url, token["id_token"], audience="portal")
    assert claims["nonce"] == nonce
    assert claims["email"] == "zoe@example.com" and claims["email_verified"] is True
    assert claims["given_name"] == "Zoé" and claims["amr"] == ["pwd"]

    # Signed in at the provider too: its home page knows the person.
    page.goto(server.url + "/")
    page.get_by_text("zoe@example.com").first.wait_for()
