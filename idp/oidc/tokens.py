"""Tokens: the signed JWTs (access, ID, logout), refresh-token families in SQL, and revocation.

Access tokens are RFC 9068 JWTs that resource servers verify offline; this provider denies a
revoked one at /userinfo and /introspect through a short-lived `revoked-jti:` marker in the store.
Refresh tokens are stored as SHA-256 hashes; each use rotates them (one atomic UPDATE claims the
old one) and a second use of a rotated token revokes its whole family (RFC 9700 section 4.14.2).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from flask import current_app
from joserfc import jws, jwt
from joserfc.errors import JoseError
from sqlalchemy import bindparam, insert, select, update

from idp.accounts.links import hash_token
from idp.companies import active_memberships
from idp.extensions import db
from idp.models import Membership, User
from idp.models.oidc import RefreshToken
from idp.oidc.claims import acr_for, company_claims
from idp.oidc.keys import keyring
from idp.store import get_store

REVOKED_JTI_KEY = "revoked-jti:"  # TTL: tokens.access_token_ttl_seconds
USERINFO_CLAIMS = "userinfo_claims"  # access-token claim: names requested under `claims.userinfo`
ID_TOKEN_TYP = "jwt"  # noqa: S105 - the `typ` of our ID tokens (lower case); access tokens are at+jwt


def new_id() -> str:
    return secrets.token_urlsafe(18)


@dataclass
class Principal:
    """The user of a grant and the sign-in it comes from (carried by a code or a refresh family)."""

    user: User
    auth_time: int | None = None
    amr: list[str] = field(default_factory=list)
    sid: str | None = None
    company_id: str | None = None  # Company.public_id chosen at sign-in
    family_id: str = field(default_factory=new_id)
    jti: str = field(default_factory=new_id)
    nonce: str | None = None
    claims_request: dict[str, Any] | None = None
    userinfo_claims: list[str] = field(default_factory=list)  # asked for under `claims.userinfo`, filtered
    # The member's allowed_ips in company_id when the family began (None: not known, read from SQL).
    # Any change to them revokes the member's refresh tokens, so the family's copy stays true
    # and a refresh checks it without reading the membership.
    allowed_ips: list[str] | None = None

    def get_user_id(self) -> str:
        return self.user.public_id

    @cached_property
    def memberships(self) -> list[Membership]:
        """Read at most once per grant (the access token and the ID token may both carry them), and
        only when a token carries a company claim."""
        return active_memberships(self.user)

    @property
    def acr(self) -> str:
        return acr_for(self.amr)

    def context(self) -> dict[str, Any]:
        """What a refresh family remembers of the sign-in."""
        context: dict[str, Any] = {"auth_time": self.auth_time, "amr": self.amr, "sid": self.sid,
                                   "company_id": self.company_id}
        if self.userinfo_claims:
            context["userinfo_claims"] = self.userinfo_claims
        if self.allowed_ips is not None:
            context["allowed_ips"] = self.allowed_ips
        return context


def _config() -> Any:
    return current_app.config["IDP"]


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@lru_cache(maxsize=64)
def _protected_header(alg: str, kid: str, typ: str) -> bytes:
    return _b64(json.dumps({"alg": alg, "kid": kid, "typ": typ}, separators=(",", ":")).encode())


def sign(claims: dict[str, Any], alg: str = "RS256", typ: str = "JWT") -> str:
    """A compact JWS (RFC 7515) of the claims, signed with the current key of `alg`.

    Serialised here rather than by joserfc's jwt.encode, which checks and encodes its header
    anew for every token: a tenth of a client_credentials grant. The signature is cryptography's;
    every token is verified by joserfc here and by PyJWT in the tests.
    """
    key = keyring().signing_key(alg)
    signing_input = _protected_header(alg, key.kid, typ) + b"." + _b64(
        json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode())
    private_key = key.private_key
    if alg == "RS256":
        signature = private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # RFC 7518 section 3.4
    else:
        raise ValueError(f"unsupported signing algorithm {alg}")
    return (signing_input + b"." + _b64(signature)).decode()


def verify(token: str, *, typ: str | None = None) -> dict[str, Any] | None:
    """The claims of a JWT this provider signed and that has not expired, or None."""
    try:
        header = jws.extract_compact(token.encode()).protected
    except (JoseError, ValueError, UnicodeError):
        return None
    if typ is not None and str(header.get("typ", "")).lower() != typ:
        return None
    key = keyring().find(header.get("kid"))
    if key is None or header.get("alg") not in ("RS256", "ES256"):
        return None
    try:
        decoded = jwt.decode(token, key, algorithms=[header["alg"]])
    except (JoseError, ValueError):
        return None
    claims = decoded.claims
    now = int(time.time())
    if claims.get("iss") != _config().issuer:
        return None
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp < now:
        return None
    return claims


def verify_id_token_hint(token: str) -> dict[str, Any] | None:
    """An ID token we issued, expired or not (OIDC Core 3.1.2.1 id_token_hint; RP-initiated logout).

    Only an ID token: our signature and issuer, `typ` JWT, and an audience that is one of our
    clients. Access tokens (`at+jwt`) and logout tokens (`logout+jwt`) are signed with the same
    keys; a bearer of one must not pass it for proof of a sign-in (a hint signs out at once).
    """
    try:
        header = jws.extract_compact(token.encode()).protected
        if str(header.get("typ", "")).lower() != ID_TOKEN_TYP:
            return None
        key = keyring().find(header.get("kid"))
        if key is None or header.get("alg") not in ("RS256", "ES256"):
            return None
        claims = jwt.decode(token, key, algorithms=[header["alg"]]).claims
    except (JoseError, ValueError, UnicodeError):
        return None
    if claims.get("iss") != _config().issuer or not isinstance(claims.get("sub"), str):
        return None
    # An access token carries its scope and client_id, a logout token its events; an ID token neither.
    if {"scope", "client_id", "events"} & set(claims):
        return None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not audiences or not all(isinstance(aud, str) and _config().client(aud) is not None for aud in audiences):
        return None
    return claims


def access_token_claims(client_id: str, scope: str, principal: Principal | None, ttl: int) -> dict[str, Any]:
    """The RFC 9068 claims of an access token."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": _config().issuer,
        "exp": now + ttl,
        "iat": now,
        "aud": client_id,
        "client_id": client_id,
        "scope": scope,
    }
    if principal is None:
        claims["sub"] = client_id
        claims["jti"] = new_id()
        return claims
    claims["sub"] = principal.user.public_id
    claims["jti"] = principal.jti
    if principal.auth_time:
        claims["auth_time"] = principal.auth_time
    if principal.amr:
        claims["amr"] = principal.amr
        claims["acr"] = principal.acr
    if principal.sid:
        claims["sid"] = principal.sid
    if "companies" in scope.split():
        claims.update(company_claims(principal.user, principal.company_id, principal.memberships))
    if principal.userinfo_claims:
        # Private claim: what /userinfo releases beyond the scopes (the `claims` request parameter).
        claims[USERINFO_CLAIMS] = sorted(principal.userinfo_claims)
    return claims


def generate_token(grant_type: str, client: Any, user: Principal | None = None, scope: str | None = None,
                   expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
    """Authlib's token generator: a JWT access token and, where allowed, an opaque refresh token."""
    ttl = expires_in or _config().tokens.access_token_ttl_seconds
    scope = scope or ""
    claims = access_token_claims(client.get_client_id(), scope, user, ttl)
    token: dict[str, Any] = {
        "token_type": "Bearer",
        "access_token": sign(claims, "RS256", "at+jwt"),
        "expires_in": ttl,
        "scope": scope,
    }
    if include_refresh_token and user is not None:
        token["refresh_token"] = secrets.token_urlsafe(32)
    return token


# The token endpoint's statements, built once: building a statement costs more Python than
# running it (a refresh grant took half again as long with them built per request).
_USER_BY_ID = select(User).where(User.id == bindparam("id"))
_REFRESH = RefreshToken.__table__
_CLAIM = (
    update(_REFRESH)
    .where(_REFRESH.c.token_hash == bindparam("hash"), _REFRESH.c.client_id == bindparam("client"),
           _REFRESH.c.rotated_at.is_(None), _REFRESH.c.revoked_at.is_(None), _REFRESH.c.expires_at > bindparam("now"))
    .values(rotated_at=bindparam("now"))
    .returning(_REFRESH.c.id, _REFRESH.c.family_id, _REFRESH.c.client_id, _REFRESH.c.user_id, _REFRESH.c.scope,
               _REFRESH.c.context, _REFRESH.c.expires_at)
)
_STORE = insert(_REFRESH)


def grant_user(user_id: int) -> User | None:
    """The active user a code or refresh token was issued to."""
    user = db.session.execute(_USER_BY_ID, {"id": user_id}).scalar_one_or_none()
    return user if user is not None and user.is_active else None


def save_refresh_token(raw: str, client_id: str, principal: Principal, scope: str) -> None:
    now = datetime.now(UTC)
    # A plain INSERT rather than the ORM's unit of work: nothing reads the row back in this request.
    db.session.execute(_STORE, {
        "token_hash": hash_token(raw), "family_id": principal.family_id, "client_id": client_id,
        "user_id": principal.user.id, "scope": scope, "context": json.dumps(principal.context()),
        "access_jti": principal.jti, "created_at": now,
        "expires_at": now + timedelta(days=_config().tokens.refresh_token_ttl_days),
    })
    # Not committed here: the token endpoint commits once the whole answer is built, so that a
    # rotation (claim the old token, store the new one) is one transaction.


class RefreshCredential:
    """A stored refresh token, as Authlib's grants and endpoints see it: a model row, or the
    columns a rotation claimed."""

    def __init__(self, row: Any) -> None:
        self.row = row

    def get_scope(self) -> str:
        return self.row.scope

    def get_client_id(self) -> str:
        return self.row.client_id

    def check_client(self, client: Any) -> bool:
        return self.row.client_id == client.get_client_id()

    def is_expired(self) -> bool:
        return self.row.expires_at <= datetime.now(UTC)

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or self.row.rotated_at is not None

    def principal(self, user: User) -> Principal:
        context = json.loads(self.row.context or "{}")
        return Principal(user=user, auth_time=context.get("auth_time"), amr=list(context.get("amr") or []),
                         sid=context.get("sid"), company_id=context.get("company_id"), family_id=self.row.family_id,
                         userinfo_claims=[str(name) for name in context.get("userinfo_claims") or []],
                         allowed_ips=context.get("allowed_ips"))


def find_refresh_token(raw: str) -> RefreshToken | None:
    return db.session.execute(
        db.select(RefreshToken).where(RefreshToken.token_hash == hash_token(raw))
    ).scalar_one_or_none()


def claim_refresh_token(raw: str, client_id: str) -> RefreshCredential | None:
    """Rotate a refresh token: one UPDATE claims it, the atomic single-use gate.

    Of two racing uses only one updates the row; the other finds it rotated, which is a reuse:
    the whole family is revoked (and that is committed at once). The claim itself stays in the
    request's transaction: the token endpoint commits it together with the new token, and an
    answer that fails later (a scope not granted, an account disabled) leaves the token unused.
    """
    now = datetime.now(UTC)
    claimed = db.session.execute(_CLAIM, {"hash": hash_token(raw), "client": client_id, "now": now}).first()
    if claimed is not None:
        return RefreshCredential(claimed)
    stored = find_refresh_token(raw)
    if (stored is not None and stored.client_id == client_id and stored.rotated_at is not None
            and stored.revoked_at is None and stored.expires_at > now):
        # Reuse of a rotated token: someone else holds the family; revoke all of it.
        revoke_family(stored.family_id)
    return None


def deny_access_token(jti: str | None) -> None:
    if jti:
        get_store().put(REVOKED_JTI_KEY + jti, "1", _config().tokens.access_token_ttl_seconds)


def is_access_token_denied(jti: str | None) -> bool:
    return bool(jti) and get_store().get(REVOKED_JTI_KEY + str(jti)) is not None


def _revoke(rows: list[RefreshToken]) -> None:
    """Revoke these refresh tokens and deny the access tokens issued with them."""
    now = datetime.now(UTC)
    for row in rows:
        if row.revoked_at is None:
            row.revoked_at = now
        if row.expires_at > now:
            deny_access_token(row.access_jti)


def revoke_family(family_id: str) -> int:
    """Revoke every refresh token of a family (committed at once: a reuse was detected)."""
    rows = list(db.session.execute(db.select(RefreshToken).where(RefreshToken.family_id == family_id)).scalars())
    _revoke(rows)
    db.session.commit()
    return len(rows)


def revoke_user_tokens(user: User) -> None:
    """Revoke every family with a live refresh token of a user (disabled, or every session ended);
    flushed into the caller's transaction."""
    live_families = (db.select(RefreshToken.family_id)
                     .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None)))
    _revoke(list(db.session.execute(
        db.select(RefreshToken).where(RefreshToken.family_id.in_(live_families))).scalars()))
    db.session.flush()
