"""REST API keys: issuing, listing and revoking a member's keys, and judging one presented at /token.

A key is `idpk_` and 256 random bits (base64url): the prefix lets secret scanners and people
recognise a leaked one. It is shown once; only its SHA-256 is stored, and a presented key is
found by that hash (a 256-bit secret has no dictionary to fear, so no salt or slow hash; and the
index look-up compares hashes, not the secret, so its timing tells nothing usable). A key belongs
to one user in one company: it works while the key is live, the user active, the membership and
the company active, and the address in the member's `allowed_ips`. The protocol's grant
(idp.oidc.server.TokenExchangeGrant) asks `refusal()` and then records the use.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select, update

from idp import audit
from idp.extensions import db
from idp.models import ApiKey, Company, Membership, User
from idp.models.base import utcnow
from idp.models.companies import MembershipStatus
from idp.security.restrictions import address_allowed
from idp.security.throttling import FailureLimit
from idp.text import has_control_characters

KEY_PREFIX = "idpk_"
TOKEN_TYPE = "urn:portail:params:oauth:token-type:api_key"  # noqa: S105 - the RFC 8693 subject_token_type of a key
SHOWN_PREFIX = len(KEY_PREFIX) + 6  # what lists show of a key: enough to tell keys apart, not to guess one
NAME_MAX = 100
MAX_KEY_LENGTH = 100  # longer is no key of ours: refused before hashing
API_KEY_USE = "api-key-use"  # the throttle's scope


class ApiKeyError(Exception):
    """A key that cannot be issued or revoked as asked; the message is safe to show."""


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def active_membership(user: User, company: Company) -> Membership | None:
    """The user's membership of `company` when it, the user and the company are all active."""
    if not user.is_active or not company.active:
        return None
    membership = db.session.execute(
        select(Membership).where(Membership.user_id == user.id, Membership.company_id == company.id)
    ).scalar_one_or_none()
    return membership if membership is not None and membership.status == MembershipStatus.ACTIVE else None


def check_scope(scope: list[str] | str | None) -> list[str]:
    """The scopes asked for, in the configuration's order; ApiKeyError unless a non-empty subset."""
    asked = scope.split() if isinstance(scope, str) else list(scope or [])
    offered = current_app.config["IDP"].api_keys.scopes
    if not asked or any(item not in offered for item in asked):
        raise ApiKeyError(_("Choose at least one of the scopes offered."))
    return [item for item in offered if item in asked]


def check_ttl_days(ttl_days: int | str | None) -> int:
    config = current_app.config["IDP"].api_keys
    if ttl_days in (None, ""):
        return config.default_ttl_days
    try:
        days = int(str(ttl_days).strip())
    except ValueError:
        days = 0
    if not 1 <= days <= config.max_ttl_days:
        raise ApiKeyError(ngettext("The validity is from 1 to %(num)d day.", "The validity is from 1 to %(num)d days.",
                                   config.max_ttl_days))
    return days


def check_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise ApiKeyError(_("Give the key a name, such as the program that will use it."))
    if len(name) > NAME_MAX or has_control_characters(name):
        raise ApiKeyError(_("The name may have at most 100 characters, without line breaks or tabs."))
    return name


def issue(user: User, company: Company, actor: User, name: str | None, scope: list[str] | str | None,
          ttl_days: int | str | None) -> tuple[ApiKey, str]:
    """A new key for `user` in `company`, and its secret (to show once); committed and audited."""
    if active_membership(user, company) is None:
        raise ApiKeyError(_("Keys are issued only to active members."))
    name, scopes, days = check_name(name), check_scope(scope), check_ttl_days(ttl_days)
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(user_id=user.id, company_id=company.id, name=name, scope=" ".join(scopes),
                 prefix=raw[:SHOWN_PREFIX], key_hash=hash_key(raw), created_by_id=actor.id,
                 expires_at=utcnow() + timedelta(days=days))
    db.session.add(key)
    db.session.flush()
    audit.record("api_key.issued", user=user, actor=actor, company=company, key=key.public_id, name=name,
                 scope=key.scope, ttl_days=days)
    db.session.commit()
    return key, raw


def keys_of(user: User, company: Company | None = None) -> list[ApiKey]:
    """The user's keys (in one company, if given), newest first; revoked and expired ones too."""
    query = select(ApiKey).where(ApiKey.user_id == user.id)
    if company is not None:
        query = query.where(ApiKey.company_id == company.id)
    return list(db.session.scalars(query.order_by(ApiKey.created_at.desc(), ApiKey.id.desc())))


def find_key(user: User, key_id: str, company: Company | None = None) -> ApiKey | None:
    """The key `key_id` of `user` (in `company`, if given): what the pages resolve a path through."""
    query = select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.public_id == key_id[:64])
    if company is not None:
        query = query.where(ApiKey.company_id == company.id)
    return db.session.execute(query).scalar_one_or_none()


def revoke(key: ApiKey, actor: User) -> None:
    """The key stops working now (its next exchange is refused); committed and audited."""
    if key.revoked_at is not None:
        raise ApiKeyError(_("This key was already revoked."))
    key.revoked_at = utcnow()
    audit.record("api_key.revoked", user=key.user, actor=actor, company=key.company, key=key.public_id)
    db.session.commit()


def void_keys(user: User, company: Company, actor: User | None, reason: str) -> int:
    """Revoke every live key of `user` in `company` (a deactivated or removed membership); in the
    caller's transaction."""
    now = utcnow()
    voided = list(db.session.scalars(
        select(ApiKey.public_id).where(ApiKey.user_id == user.id, ApiKey.company_id == company.id,
                                       ApiKey.revoked_at.is_(None), ApiKey.expires_at > now)))
    if voided:
        db.session.execute(update(ApiKey).where(ApiKey.public_id.in_(voided)).values(revoked_at=now)
                           .execution_options(synchronize_session=False))
        audit.record("api_key.voided", user=user, actor=actor, company=company, keys=voided, reason=reason)
    return len(voided)


def find_presented(raw: str | None) -> ApiKey | None:
    """The key a REST client presented, by its hash; None for anything that is not one of ours."""
    if not raw or not raw.startswith(KEY_PREFIX) or len(raw) > MAX_KEY_LENGTH:
        return None
    return db.session.execute(select(ApiKey).where(ApiKey.key_hash == hash_key(raw))).scalar_one_or_none()


@dataclass(frozen=True)
class Usable:
    """A presented key that may be exchanged now, with the membership whose claims it carries."""

    key: ApiKey
    user: User
    membership: Membership


def refusal(key: ApiKey | None, address: str | None) -> str | Usable:
    """Why the presented key may not be exchanged from `address` (a reason, logged and audited,
    never shown), or what it may be exchanged for."""
    if key is None:
        return "unknown_key"
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at <= utcnow():
        return "expired"
    user, company = key.user, key.company
    if not user.is_active:
        return "user_disabled"
    membership = active_membership(user, company)
    if membership is None:
        return "membership_inactive"
    if not address_allowed(address, membership.allowed_networks):
        return "address_not_allowed"
    return Usable(key, user, membership)


def still_usable(key_id: str | None) -> bool:
    """Whether the key of an access token (its `api_key` claim) could still be exchanged, the
    address aside: what introspection answers, so a revoked key's tokens die with it there."""
    key = db.session.execute(select(ApiKey).where(ApiKey.public_id == str(key_id)[:64])).scalar_one_or_none()
    if key is None:
        return False
    reason = refusal(key, None)
    return not isinstance(reason, str) or reason == "address_not_allowed"


def use_limit(key: ApiKey) -> FailureLimit:
    """Every exchange of one key counts (throttling.api_key_per_key)."""
    return FailureLimit(API_KEY_USE, current_app.config["IDP"].throttling.api_key_per_key, "key:" + key.public_id)


def record_use(key: ApiKey, address: str | None) -> None:
    """When and from where the key was last used (shown in the lists); the caller commits."""
    key.last_used_at = utcnow()
    key.last_used_ip = (address or "")[:64] or None
