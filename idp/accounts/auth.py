"""Who is signed in: the SSO session's contents, sign-in and sign-out."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import quote

from flask import g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from idp import audit, pipeline
from idp.extensions import db
from idp.models import User
from idp.pipeline import SessionFacts

SESSION_COMPANY = "company"  # the SSO session's active company (a Company.public_id), set by picker and /tools

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
    # The language this browser chose with the switch becomes the account's, which its emails
    # follow (the precedence is in idp.web.i18n).
    chosen = session.get("lang")
    if chosen and user.locale != chosen:
        user.locale = chosen
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
            _clear_session()
    g.current_user = user
    return user


def login_proof() -> dict[str, Any]:
    """What the pipeline's `login` step records of this session's sign-in."""
    return {"sid": session["sid"], "amr": list(session["amr"])}


def resume_after_sign_in(uid: str) -> str:
    """Record the sign-in just made as interaction `uid`'s `login` step; the address to resume it."""
    return pipeline.complete(uid, "login", **login_proof())


def sign_in_redirect(fallback_endpoint: str) -> Response:
    """To the sign-in page, coming back here afterwards.

    Sign-in ends with a GET of its `next`: after a POST it returns to `fallback_endpoint`
    instead, as a POST-only address would refuse that GET.
    """
    # Percent-encoded again: Werkzeug hands the path over decoded, control characters and all.
    # The sign-in page checks `next` (idp.web.redirects.safe_next) before following it.
    target = quote(request.path, safe="/:@!$&'()*+,;=~") if request.method == "GET" else url_for(fallback_endpoint)
    return redirect(url_for("login.login", next=target))


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
