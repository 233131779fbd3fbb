"""Claims: the standard OpenID Connect claims of a user, and the `companies`/`company` claims of DESIGN.

Pure apart from reading the user's memberships; no request, no `g`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from idp.companies import active_memberships
from idp.models import Membership, User
from idp.security.mfa.policy import ACR_MFA, has_second_factor

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "given_name", "family_name", "preferred_username", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "companies": ("companies", "company", "company_id", "company_name", "company_role", "company_admin",
                  "company_branch"),
}
COMPANY_CLAIMS = frozenset(SCOPE_CLAIMS["companies"])
SCOPES_SUPPORTED = ("openid", "profile", "email", "phone", "offline_access", "companies")
CLAIMS_SUPPORTED = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "sid",
                    *(claim for claims in SCOPE_CLAIMS.values() for claim in claims))

ACR_PASSWORD = "urn:portail:acr:pwd"  # noqa: S105 - one factor, not a secret
ACR_VALUES = (ACR_PASSWORD, ACR_MFA)


def acr_for(amr: list[str] | tuple[str, ...]) -> str:
    """The acr a sign-in earned, from its methods (amr): truthful, never what was asked."""
    return ACR_MFA if has_second_factor(amr) else ACR_PASSWORD


def _standard(user: User, names: set[str]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": user.name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "preferred_username": user.username or user.email,
        "locale": user.locale,
        "updated_at": int(user.updated_at.timestamp()) if user.updated_at else None,
        "email": user.email,
        "email_verified": bool(user.email_verified),
        "phone_number": user.phone or user.mobile_phone,
        "phone_number_verified": False,
    }
    return {name: values[name] for name in names if name in values and values[name] not in (None, "")}


def _company_object(membership: Membership) -> dict[str, Any]:
    return {
        "id": membership.company.external_id,
        "name": membership.company.name,
        "role": membership.role,
        "admin": bool(membership.is_admin),
        "branch": membership.branch,
    }


def chosen_membership(memberships: list[Membership], company_public_id: str | None) -> Membership | None:
    """The company of this sign-in: the one chosen, else the only one, else none."""
    if company_public_id:
        for membership in memberships:
            if membership.company.public_id == company_public_id:
                return membership
        return None
    return memberships[0] if len(memberships) == 1 else None


def company_claims(user: User, company_public_id: str | None,
                   memberships: list[Membership] | None = None) -> dict[str, Any]:
    """`memberships`: the user's active ones, when the caller has read them already."""
    if memberships is None:
        memberships = active_memberships(user)
    claims: dict[str, Any] = {"companies": [_company_object(m) for m in memberships]}
    chosen = chosen_membership(memberships, company_public_id)
    if chosen is not None:
        company = _company_object(chosen)
        claims["company"] = company
        # Flat strings for relying parties that cannot read objects (mod_auth_openidc, header proxies).
        claims.update({
            "company_id": company["id"],
            "company_name": company["name"],
            "company_role": company["role"],
            "company_admin": "true" if company["admin"] else "false",
            "company_branch": company["branch"] or "",
        })
    return claims


CLAIMS_TARGETS = ("id_token", "userinfo")
MAX_REQUESTED_CLAIMS = 64  # per target: more than every claim this provider knows


def parse_claims_request(raw: str) -> dict[str, dict[str, Any]]:
    """The `claims` request parameter (OIDC Core 5.5), reduced to what this provider reads.

    Raises ValueError when it is not a JSON object, or its `id_token`/`userinfo` members are not
    objects. What is kept is bounded whatever was sent: the two targets, claim names as short
    strings, and of each member only `essential`, `value` and `values` with plain values; so
    the stored interaction and code never hold a deeply nested document.
    """
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        # RecursionError: a document nested a thousand levels deep, e.g. "[[[[...".
        raise ValueError("not JSON") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    parsed: dict[str, dict[str, Any]] = {}
    for target in CLAIMS_TARGETS:
        part = value.get(target)
        if part is None:
            continue
        if not isinstance(part, dict):
            raise ValueError(f"{target} is not a JSON object")
        members = {}
        for name, member in list(part.items())[:MAX_REQUESTED_CLAIMS]:
            if len(name) <= 64:
                members[name] = _plain_member(member)
        parsed[target] = members
    return parsed


def _plain_member(member: Any) -> dict[str, Any] | None:
    if not isinstance(member, dict):
        return None
    plain: dict[str, Any] = {}
    if isinstance(member.get("essential"), bool):
        plain["essential"] = member["essential"]
    if _is_plain(member.get("value")):
        plain["value"] = member["value"]
    values = member.get("values")
    if isinstance(values, list) and all(_is_plain(item) for item in values):
        plain["values"] = values[:MAX_REQUESTED_CLAIMS]
    return plain or None


def _is_plain(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and not (isinstance(value, str) and len(value) > 256)


def scopes_of_claims(names: set[str], client_scopes: list[str] | tuple[str, ...]) -> set[str]:
    """The scopes (among those the client may use) that carry any of the claims `names`.

    A claim asked for by name is released only as part of its scope: a person who allows it
    allows that scope, and the consent step shows and remembers it so (OIDC Core 5.5).
    """
    return {scope for scope in client_scopes if set(SCOPE_CLAIMS.get(scope, ())) & names}


def requested_claim_names(claims_request: dict[str, Any] | None, target: str) -> set[str]:
    """The names asked for in the `claims` request parameter for `id_token` or `userinfo`."""
    if not isinstance(claims_request, dict):
        return set()
    part = claims_request.get(target)
    return {str(name) for name in part} if isinstance(part, dict) else set()


def releasable_claim_names(names: set[str], client_scopes: list[str] | tuple[str, ...]) -> set[str]:
    """Of individually requested `names`, the user claims this provider supports under a scope the client may use.

    Unknown names are dropped (OIDC Core 5.5), and so are claims of scopes outside the client's configuration.
    """
    allowed: set[str] = set()
    for scope in client_scopes:
        allowed.update(SCOPE_CLAIMS.get(scope, ()))
    return set(names) & allowed


def user_claims(user: User, scopes: list[str] | set[str], company_public_id: str | None = None,
                extra: set[str] | None = None,
                memberships: Callable[[], list[Membership]] | None = None) -> dict[str, Any]:
    """The claims about `user` released for `scopes`, plus individually requested ones (`extra`).

    `memberships` reads the user's active memberships when the caller may have them already; it
    is called only when a company claim is released, so a token without one reads none.
    """
    names: set[str] = set(extra or ())
    for scope in scopes:
        names.update(SCOPE_CLAIMS.get(scope, ()))
    claims: dict[str, Any] = {"sub": user.public_id}
    claims.update(_standard(user, names))
    if names & COMPANY_CLAIMS:
        everything = company_claims(user, company_public_id, memberships() if memberships is not None else None)
        claims.update({k: v for k, v in everything.items() if k in names})
    return claims
