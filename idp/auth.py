"""Who is signed in: the SSO session's contents, sign-in and sign-out."""

from __future__ import annotations

import secrets
import time

from flask import g, session

from idp import audit
from idp.companies import SESSION_COMPANY
from idp.extensions import db
from idp.models import User
from idp.pipeline import SessionFacts

# Survive sign-in and sign-out: the language, and the browser binding of pending authorizations.
KEPT_KEYS = ("lang", "browser")


def _clear_session() -> None:
    kept = {key: session[key] for key in KEPT_KEYS if session.get(key)}
    session.clear()
    session.update(kept)


def sign_in(user: User, amr: list[str]) -> None:
    """Open a fresh SSO session for `user` (a new session id: no fixation)."""
    _clear_session()
    session.regenerate()  # type: ignore[attr-defined]
    session["uid"] = user.id
    session["epoch"] = user.session_epoch
    session["auth_time"] = int(time.time())
    session["amr"] = sorted(set(amr))
    session["sid"] = secrets.token_urlsafe(16)
    g.pop("current_user", None)
    audit.record("user.signed_in", user=user, amr=session["amr"])


def add_amr(methods: list[str]) -> None:
    """A further factor was proven in this session."""
    session["amr"] = sorted(set(session.get("amr", [])) | set(methods))


def sign_out() -> None:
    """End the SSO session; the language choice survives."""
    user = current_user()
    _clear_session()
    g.pop("current_user", None)
    if user is not None:
        audit.record("user.signed_out", user=user)


def current_user() -> User | None:
    """The signed-in user, if the session is still valid for them."""
    if "current_user" in g:
        return g.current_user
    user = None
    uid = session.get("uid")
    if uid is not None:
        user = db.session.get(User, uid)
        # A disabled user, or one whose sessions were all ended (epoch bumped), is signed out.
        if user is None or not user.is_active or user.session_epoch != session.get("epoch"):
            user = None
            language = session.get("lang")
            session.clear()
            if language:
                session["lang"] = language
    g.current_user = user
    return user


def session_facts() -> SessionFacts:
    user = current_user()
    if user is None:
        return SessionFacts()
    return SessionFacts(
        user_id=user.id,
        auth_time=session.get("auth_time"),
        amr=tuple(session.get("amr", ())),
        sid=session.get("sid"),
        company=session.get(SESSION_COMPANY),
    )


def end_all_sessions(user: User) -> None:
    """Invalidate every SSO session of `user` at once (each is checked against the epoch)."""
    user.session_epoch += 1
    db.session.flush()
