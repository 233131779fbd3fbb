"""Server-side sessions in the store; the cookie carries only a random id.

Flask-Session would do this for Redis, but the sessions must follow the provider's one Store
(memory or Redis, 503 when Redis is down) and the id must be renewable at sign-in, so this is
a small SessionInterface over that store. Store keys are hashes of the cookie value, so a copy
of the store gives no usable session id.

Anyone can make the store hold a session (every form's CSRF token lives in one): a session without
a signed-in user lives only `session.anonymous_lifetime_minutes`, and a response that could not
carry a form (HEAD, a redirect) stores none for a visitor who had none.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from flask import Flask, Request, Response, request
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from idp.store import StoreUnavailableError

SESSION_KEY = "session:"  # TTL: session.lifetime_hours signed in, session.anonymous_lifetime_minutes otherwise
# Where idp.accounts.auth.sign_in keeps the signed-in user: a session without it is anonymous.
SIGNED_IN_KEY = "uid"


def _key(sid: str) -> str:
    return SESSION_KEY + hashlib.sha256(sid.encode()).hexdigest()


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.new = sid is None
        self.modified = False
        self.old_sid: str | None = None
        self.unavailable = False

    def regenerate(self) -> None:
        """Give the session a new id (at sign-in), so an id planted before it is worthless."""
        if self.sid is not None:
            self.old_sid = self.old_sid or self.sid
        self.sid = None
        self.modified = True


class StoreSessionInterface(SessionInterface):
    def __init__(self, cookie_name: str, lifetime_seconds: int, anonymous_lifetime_seconds: int) -> None:
        self.cookie_name = cookie_name
        self.lifetime_seconds = lifetime_seconds
        self.anonymous_lifetime_seconds = anonymous_lifetime_seconds

    def lifetime(self, session: ServerSession) -> int:
        """The full lifetime once someone signed in; until then a short one, so that a flood of
        anonymous visits cannot fill the store for hours."""
        return self.lifetime_seconds if session.get(SIGNED_IN_KEY) is not None else self.anonymous_lifetime_seconds

    def _store(self, app: Flask) -> Any:
        return app.extensions["idp.store"]

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self.cookie_name)
        if not sid or len(sid) > 64:
            return ServerSession()
        try:
            raw = self._store(app).get(_key(sid))
        except StoreUnavailableError:
            # Opening a session runs before Flask's error handlers apply: remember the outage
            # and let `refuse_without_store` raise it where it becomes a 503 page.
            session = ServerSession()
            session.unavailable = True
            return session
        if raw is None:
            return ServerSession()
        return ServerSession(json.loads(raw), sid=sid)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        if session.unavailable:
            return
        store = self._store(app)
        cookie = {
            "domain": None,
            "path": "/",
            "secure": self.get_cookie_secure(app),
            "httponly": True,
            "samesite": self.get_cookie_samesite(app),
        }
        if session.old_sid:
            store.delete(_key(session.old_sid))
        if not session:
            if session.sid is not None or session.old_sid:
                store.delete(_key(session.sid)) if session.sid else None
                response.delete_cookie(self.cookie_name, **cookie)
            return
        if not session.modified and not session.new:
            return
        if session.sid is None and not session.old_sid and _only_a_form_token(app, session, response):
            return
        if session.sid is None:
            session.sid = secrets.token_urlsafe(32)
        lifetime = self.lifetime(session)
        store.put(_key(session.sid), json.dumps(dict(session), separators=(",", ":")), lifetime)
        response.set_cookie(self.cookie_name, session.sid, max_age=lifetime, **cookie)
        response.vary.add("Cookie")


def _only_a_form_token(app: Flask, session: ServerSession, response: Response) -> bool:
    """Whether a new session holds nothing but a CSRF token that the response cannot carry.

    Building a form writes its token into the session, shown or not: a HEAD has no body, a redirect
    (the sign-out page of a visitor not signed in) no form. Storing those would be store space for nothing.
    """
    carries_no_page = request.method == "HEAD" or 300 <= response.status_code < 400
    return carries_no_page and set(session) <= {app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")}


def refuse_without_store() -> None:
    """before_request: a request whose session could not be read is answered 503."""
    from flask import session

    if getattr(session, "unavailable", False):
        raise StoreUnavailableError("session store unreachable")
