"""Pure protocol decisions: redirect URI matching (RFC 8252), acr from amr, the claims request."""

from __future__ import annotations

import pytest

from idp.oidc.claims import ACR_MFA, ACR_PASSWORD, acr_for, requested_claim_names
from idp.oidc.clients import redirect_uri_matches

REGISTERED = ["https://shop.example.com/cb", "com.example.app:/callback", "http://127.0.0.1/callback",
              "http://[::1]/callback"]


@pytest.mark.parametrize(("uri", "expected"), [
    ("https://shop.example.com/cb", True),
    ("https://shop.example.com/cb/", False),
    ("https://shop.example.com/cb?x=1", False),
    ("https://shop.example.com:444/cb", False),
    ("HTTPS://shop.example.com/cb", False),
    ("com.example.app:/callback", True),
    ("com.example.app:/other", False),
    ("http://127.0.0.1/callback", True),
    ("http://127.0.0.1:51234/callback", True),
    ("http://[::1]:8080/callback", True),
    ("http://127.0.0.1:51234/other", False),
    ("http://localhost:51234/callback", False),
    ("https://127.0.0.1:51234/callback", False),
    ("http://127.0.0.1:99999999/callback", False),
], ids=lambda value: value if isinstance(value, str) else None)
def test_redirect_uri_matching(uri, expected):
    """As for a native (public) client: any port on a loopback redirect (RFC 8252 section 7.3)."""
    assert redirect_uri_matches(REGISTERED, uri, any_loopback_port=True) is expected


@pytest.mark.parametrize(("uri", "expected"), [
    ("http://127.0.0.1/callback", True),
    ("http://127.0.0.1:51234/callback", False),
    ("http://[::1]:8080/callback", False),
    ("https://shop.example.com/cb", True),
    ("https://user@shop.example.com/cb", False),
], ids=lambda value: value if isinstance(value, str) else None)
def test_redirect_uri_matching_of_other_clients_is_exact(uri, expected):
    assert redirect_uri_matches(REGISTERED, uri) is expected


@pytest.mark.parametrize(("amr", "acr"), [
    (["pwd"], ACR_PASSWORD),
    (["pwd", "otp"], ACR_MFA),
    (["hwk", "pwd"], ACR_MFA),
    (["mfa"], ACR_MFA),
    ([], ACR_PASSWORD),
])
def test_acr_is_earned(amr, acr):
    assert acr_for(amr) == acr


def test_claims_request_names():
    request = {"id_token": {"email": {"essential": True}, "acr": None}, "userinfo": {"name": None}}
    assert requested_claim_names(request, "id_token") == {"email", "acr"}
    assert requested_claim_names(request, "userinfo") == {"name"}
    assert requested_claim_names({"id_token": ["email"]}, "id_token") == set()
    assert requested_claim_names(None, "id_token") == set()
