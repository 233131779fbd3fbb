"""Helpers for the account-lifecycle tests: deliver the outbox to the real SMTP sink, follow links."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt as pyjwt
from sqlalchemy import select

from idp.extensions import db
from idp.mail import deliver_due
from idp.models import AuditEvent
from tests.conftest import smtp_mail_config
from tests.smtp import SmtpSink

ISSUER = "http://127.0.0.1:5000"
LIFECYCLE_FLOWS = ["login", "set_password", "forgot_password", "confirm_email", "register", "invitation", "account"]


PORTAL_SECRET = "portal-secret-0123456789"
PORTAL_REDIRECT = "https://portal.example.com/callback"
PORTAL = {"client_id": "portal", "secret": PORTAL_SECRET, "redirect_uris": [PORTAL_REDIRECT],
          "grant_types": ["authorization_code", "refresh_token"]}


def lifecycle_config(smtp: SmtpSink, **overrides: Any) -> dict[str, Any]:
    return {"mail": smtp_mail_config(smtp), "flows": LIFECYCLE_FLOWS, "clients": [PORTAL], **overrides}


def deliver(smtp: SmtpSink) -> list[EmailMessage]:
    """Send what the outbox holds through SMTP and return every message the sink has received."""
    count = len(smtp.messages) + deliver_due()
    return smtp.wait_for(count, timeout=10)


def mail_to(smtp: SmtpSink, address: str) -> list[EmailMessage]:
    deliver(smtp)
    return smtp.to(address)


def link_in(smtp: SmtpSink, message: EmailMessage, prefix: str) -> str:
    """The path of the one link in the message that starts with `prefix` (absolute, on the issuer)."""
    found = [link for link in smtp.links(message) if link.startswith(ISSUER + prefix)]
    assert len(found) == 1, f"links to {prefix} in {smtp.links(message)}"
    assert found[0] in smtp.html(message), "the HTML part carries the same link"
    return found[0][len(ISSUER):]


def events(*names: str) -> list[str]:
    db.session.expire_all()
    return [e.event for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if not names or e.event in names]


TOKEN_RE = re.compile(r"/([A-Za-z0-9_-]{43,})")


def token_of(path: str) -> str:
    match = TOKEN_RE.search(path)
    assert match, path
    return match.group(1)


CSRF_VALUE_RE = re.compile(r'name="csrf_token"( type="hidden")? value="[^"]+"')


def same_page(response: Any, address: str) -> str:
    """A page with the address typed and the (time-stamped) CSRF tokens blanked, for comparison."""
    return CSRF_VALUE_RE.sub("csrf", response.get_data(as_text=True).replace(address, "ADDRESS"))


class Portal:
    """A relying party doing the authorization code flow with PKCE through the test client.

    The ID token is checked with PyJWT against /jwks, not with our own code.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.verifier = secrets.token_urlsafe(48)
        self.state = secrets.token_urlsafe(8)
        self.nonce = secrets.token_urlsafe(8)
        self.tokens: dict[str, Any] = {}

    def start(self, scope: str = "openid profile email") -> str:
        """GET /authorize; returns the path of the first page the person is shown (e.g. /login?interaction=...)."""
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        params = {"response_type": "code", "client_id": "portal", "redirect_uri": PORTAL_REDIRECT, "scope": scope,
                  "state": self.state, "nonce": self.nonce, "code_challenge": challenge,
                  "code_challenge_method": "S256"}
        response = self.client.get("/authorize?" + urlencode(params))
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        return self.path(response.headers["Location"])

    @staticmethod
    def path(location: str) -> str:
        parts = urlsplit(location)
        return parts.path + ("?" + parts.query if parts.query else "")

    @staticmethod
    def interaction(path: str) -> str:
        return parse_qs(urlsplit(path).query)["interaction"][0]

    def follow(self, response: Any, limit: int = 6) -> str:
        """Follow the provider's own redirects; the first address that is a page, or the portal's callback."""
        for _ in range(limit):
            if response.status_code not in (302, 303):
                text = response.get_data(as_text=True)[:300]
                raise AssertionError(f"stopped at a page: {response.status_code} {text}")
            location = response.headers["Location"]
            if location.startswith(PORTAL_REDIRECT):
                return location
            path = self.path(location)
            if not path.startswith("/authorize"):
                return path
            response = self.client.get(path)
        raise AssertionError("too many redirects")

    def refresh(self) -> Any:
        """Use the refresh token obtained by `claims()`; the /token response."""
        basic = base64.b64encode(f"portal:{PORTAL_SECRET}".encode()).decode()
        return self.client.post("/token", data={"grant_type": "refresh_token",
                                                "refresh_token": self.tokens["refresh_token"]},
                                headers={"Authorization": f"Basic {basic}"})

    def claims(self, callback: str) -> dict[str, Any]:
        """Redeem the code the portal received and return the verified ID token's claims."""
        assert callback.startswith(PORTAL_REDIRECT), callback
        result = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
        assert result.get("state") == self.state and "code" in result, callback
        basic = base64.b64encode(f"portal:{PORTAL_SECRET}".encode()).decode()
        tokens = self.client.post("/token", data={"grant_type": "authorization_code", "code": result["code"],
                                                  "redirect_uri": PORTAL_REDIRECT, "code_verifier": self.verifier},
                                  headers={"Authorization": f"Basic {basic}"})
        assert tokens.status_code == 200, tokens.get_data(as_text=True)
        self.tokens = tokens.get_json()
        id_token = self.tokens["id_token"]
        header = pyjwt.get_unverified_header(id_token)
        keys = {k["kid"]: k for k in self.client.get("/jwks").get_json()["keys"]}
        key = pyjwt.PyJWK.from_json(json.dumps(keys[header["kid"]]))
        claims = pyjwt.decode(id_token, key.key, algorithms=[header["alg"]], audience="portal", issuer=ISSUER)
        assert claims["nonce"] == self.nonce
        return claims


def interleaved_durations(first: Any, second: Any, rounds: int = 30) -> tuple[list[float], list[float]]:
    """Call `first` and `second` alternately; the wall time of each call, per function."""
    import time

    times: tuple[list[float], list[float]] = ([], [])
    for index in range(rounds):
        for which, call in enumerate((first, second)):
            started = time.perf_counter()
            call(index)
            times[which].append(time.perf_counter() - started)
    return times
