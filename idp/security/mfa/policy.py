"""Who must prove a second factor: the security team's `mfa.required_for`, and what a client asks.

Pure functions of the configuration and what the caller passes: the memberships come from the
companies domain (which sits above this one), so the caller reads them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from idp.config import IdpConfig
from idp.models import Membership, User

ACR_MFA = "urn:portail:acr:mfa"  # the acr value a client asks for, and that a second factor earns
SECOND_FACTOR_AMR = frozenset({"otp", "hwk", "swk", "mfa"})


def has_second_factor(amr: Sequence[str]) -> bool:
    """Whether a sign-in's methods (amr) include a second factor: a password with one more, or a
    passkey whose authenticator verified the person (amr `mfa` on its own)."""
    methods = set(amr)
    return "mfa" in methods or (bool(methods & SECOND_FACTOR_AMR) and len(methods) >= 2)


def required_by_policy(config: IdpConfig, user: User, memberships: Sequence[Membership],
                       company_public_id: str | None, client_id: str | None) -> bool:
    """Whether `required_for` covers this sign-in: `user` signing in to `client_id`, acting for
    the company `company_public_id` among `memberships` (the user's active memberships)."""
    chosen = next((m for m in memberships if m.company.public_id == company_public_id), None)
    for selector in config.mfa.required_for:
        kind, _colon, name = selector.partition(":")
        if selector == "operators" and user.is_operator:
            return True
        if selector == "company_admins" and any(m.is_admin for m in memberships):
            return True
        if kind == "client" and name == client_id:
            return True
        if chosen is not None and ((kind == "role" and chosen.role == name)
                                   or (kind == "company" and chosen.company.external_id == name)):
            return True
    return False


def covered_by_policy(config: IdpConfig, user: User, memberships: Sequence[Membership]) -> bool:
    """Whether some sign-in of `user` could fall under `required_for` (then their last factor
    cannot be removed): through any of their companies or roles, or a portal that admits them."""
    for selector in config.mfa.required_for:
        kind, _colon, name = selector.partition(":")
        if kind == "client":
            client = config.client(name)
            if client is not None and (client.roles is None or any(m.role in client.roles for m in memberships)):
                return True
        elif (selector == "operators" and user.is_operator) or (
                selector == "company_admins" and any(m.is_admin for m in memberships)) or (
                kind == "role" and any(m.role == name for m in memberships)) or (
                kind == "company" and any(m.company.external_id == name for m in memberships)):
            return True
    return False


def requested_by_client(params: dict[str, Any]) -> bool:
    """Whether the authorization request asks for a second factor: `acr_values` naming ours, or an
    essential `acr` claim whose value(s) name it (OIDC Core 5.5.1.1)."""
    if ACR_MFA in (params.get("acr_values") or "").split():
        return True
    raw = params.get("claims")
    if not raw:
        return False
    try:
        claims = json.loads(raw)
    except ValueError:
        return False
    for target in ("id_token", "userinfo"):
        acr = (claims.get(target) or {}).get("acr") if isinstance(claims, dict) else None
        if isinstance(acr, dict) and acr.get("essential") is True:
            values = acr.get("values") or ([acr["value"]] if "value" in acr else [])
            if ACR_MFA in values:
                return True
    return False
