"""Helpers for the second-factor tests: factors made as enrollment makes them, codes computed by pyotp."""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

import pyotp
from flask import current_app

from idp.extensions import db
from idp.models import MfaFactor, User
from idp.models.mfa import FactorKind
from idp.security import mfa
from idp.security.sealing import seal
from tests.conftest import csrf_from
from tests.integration.companies.helpers import COMPANY_FLOWS, PORTALS
from tests.webauthn_authenticator import SoftAuthenticator, b64url

MFA_FLOWS = [*COMPANY_FLOWS, "mfa", "account"]
RP_ID, ORIGIN = "127.0.0.1", "http://127.0.0.1:5000"


def mfa_config(required_for: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"flows": MFA_FLOWS, "clients": PORTALS,
                                "mfa": {"required_for": required_for or []}}
    document.update(overrides)
    return document


def add_totp(user: User, name: str = "Phone") -> str:
    """A confirmed TOTP factor of `user`; its base32 secret."""
    secret = pyotp.random_base32(32)
    factor = MfaFactor(user_id=user.id, kind=FactorKind.TOTP, name=name, public_id=secrets.token_urlsafe(16))
    factor.totp_secret = seal(current_app.config["SECRET_KEY"], mfa.TOTP_PURPOSE, secret.encode(),
                              factor.public_id.encode())
    db.session.add(factor)
    db.session.commit()
    return secret


def add_key(user: User, authenticator: SoftAuthenticator, *, discoverable: bool = True) -> MfaFactor:
    """A WebAuthn factor of `user` made by `authenticator` (as registration stores it)."""
    options = {"rp": {"id": RP_ID, "name": "Portail"}, "challenge": b64url(secrets.token_bytes(32)),
               "user": {"id": b64url(user.public_id.encode()), "name": user.email, "displayName": user.email},
               "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
               "authenticatorSelection": {"residentKey": "required" if discoverable else "discouraged"}}
    answer = authenticator.create(options, discoverable=discoverable)
    credential = next(c for c in authenticator.credentials.values() if b64url(c.id) == answer["id"])
    factor = MfaFactor(user_id=user.id, kind=FactorKind.WEBAUTHN, name="Key", credential_id=answer["id"],
                       public_key=b64url(credential.public_key), sign_count=0, discoverable=discoverable,
                       backup_eligible=False)
    db.session.add(factor)
    db.session.commit()
    return factor


def code_at(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


def interaction_of(location: str) -> str:
    return re.search(r"interaction=([^&]+)", location).group(1)


def post_code(client: Any, path: str, **data: str) -> Any:
    """Post a code on the /mfa page at `path` (its CSRF token and hidden fields taken from the page)."""
    page = client.get(path)
    html = page.get_data(as_text=True)
    fields = dict(re.findall(r'name="(interaction|next)"[^>]*value="([^"]*)"', html))
    return client.post("/mfa", data={"csrf_token": csrf_from(html), **fields, **data})


def webauthn_assert(client: Any, path: str, authenticator: SoftAuthenticator, **kwargs: Any) -> Any:
    """Answer the /mfa page's security-key form with `authenticator`."""
    html = client.get(path).get_data(as_text=True)
    token = csrf_from(html)
    fields = dict(re.findall(r'name="(interaction|next)"[^>]*value="([^"]*)"', html))
    options = client.post("/mfa/webauthn/options", data={"interaction": fields.get("interaction", "")},
                          headers={"X-CSRFToken": token}).get_json()
    answer = authenticator.get(options, **kwargs)
    return client.post("/mfa/webauthn", data={"csrf_token": token, "credential": json.dumps(answer), **fields})
