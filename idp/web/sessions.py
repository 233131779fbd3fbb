"""Server-side sessions in the store; the cookie carries only a random id.

Flask-Session would do this for Redis, but the sessions must follow the provider's one Store
(memory or Redis, 503 when Redis is down) and the id must be renewable at sign-in, so this is
a small SessionInterface over that store. Store keys are hashes of the cookie value, so a copy
of the store gives no usable session id.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from idp.store import StoreUnavailableError

SESSION_KEY = "session:"  # TTL: session.lifetime_hours


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
    def __init__(self, cookie_name: str, lifetime_seconds: int) -> None:
        self.cookie_name = cookie_name
        self.lifetime_seconds = lifetime_seconds

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
        if session.sid is None:
            session.sid = secrets.token_urlsafe(32)
        store.put(_key(session.sid), json.dumps(dict(session), separators=(",", ":")), self.lifetime_seconds)
        response.set_cookie(self.cookie_name, session.sid, max_age=self.lifetime_seconds, **cookie)
        response.vary.add("Cookie")


def refuse_without_store() -> None:
    """before_request: a request whose session could not be read is answered 503."""
    from flask import session

    if getattr(session, "unavailable", False):
        raise StoreUnavailableError("session store unreachable")
