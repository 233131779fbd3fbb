"""Single-use links (confirm an email, set a password, accept an invitation...).

The raw token (256 random bits) exists only in the emailed URL; SQL keeps its SHA-256. A link
is redeemed by one UPDATE that marks it used only if it is still unused and unexpired, so two
clicks racing each other cannot both succeed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from idp.extensions import db
from idp.models.base import utcnow
from idp.models.links import Link
from idp.models.users import User


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue(purpose: str, user_id: int | None, ttl: timedelta, **data: Any) -> str:
    """Create a link for `purpose`; returns the raw token to put in the URL (never stored)."""
    raw = secrets.token_urlsafe(32)
    db.session.add(Link(token_hash=hash_token(raw), purpose=purpose, user_id=user_id,
                        expires_at=utcnow() + ttl, data=data))
    return raw


def peek(raw: str, purpose: str) -> Link | None:
    """The link if it is valid now, without using it (for the page a GET shows)."""
    if not raw or len(raw) > 128:
        return None
    link = db.session.execute(
        db.select(Link).where(Link.token_hash == hash_token(raw), Link.purpose == purpose)
    ).scalar_one_or_none()
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        return None
    return link


def peek_with_user(raw: str, purpose: str) -> tuple[Link, User] | None:
    """The valid link and the account it was issued for, or None when either is missing."""
    link = peek(raw, purpose)
    user = db.session.get(User, link.user_id) if link is not None and link.user_id is not None else None
    return None if link is None or user is None else (link, user)


def redeem(raw: str, purpose: str) -> Link | None:
    """Use the link once: the conditional UPDATE is the single-use gate."""
    link = peek(raw, purpose)
    if link is None:
        return None
    result = db.session.execute(
        update(Link)
        .where(Link.id == link.id, Link.used_at.is_(None), Link.expires_at > utcnow())
        .values(used_at=utcnow())
    )
    if result.rowcount != 1:
        return None
    db.session.refresh(link)
    return link


def revoke_all(purpose: str, user_id: int) -> None:
    """Expire the user's outstanding links of one purpose (e.g. after a password was set)."""
    db.session.execute(
        update(Link).where(Link.purpose == purpose, Link.user_id == user_id, Link.used_at.is_(None))
        .values(used_at=utcnow())
    )
