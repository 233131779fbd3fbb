"""Every error becomes a clear page, or a JSON error for API clients; never a traceback."""

from __future__ import annotations

import logging
import sys

from flask import Flask, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from idp.extensions import db
from idp.security.sealing import UnsealError
from idp.store import StoreUnavailableError

log = logging.getLogger("idp.web.errors")

API_PREFIXES = ("/token", "/userinfo", "/revoke", "/introspect", "/jwks", "/.well-known", "/healthz", "/readyz")


def wants_json() -> bool:
    if request.path.startswith(API_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _messages() -> dict[int, str]:
    return {
        400: _("The request was not understood."),
        403: _("You are not allowed to do this."),
        404: _("This page does not exist."),
        405: _("This page cannot be used this way."),
        413: _("The request is too large."),
        429: _("Too many attempts. Please wait a few minutes and try again."),
        503: _("The service is temporarily unavailable. Please try again in a moment."),
        500: _("Something went wrong on our side. Please try again."),
    }


def error_response(status: int, message: str | None = None, code: str | None = None) -> ResponseReturnValue:
    text = message or _messages().get(status) or _messages()[400 if status < 500 else 500]
    if wants_json():
        body = {"error": code or ("temporarily_unavailable" if status == 503 else "invalid_request"
                                  if status < 500 else "server_error"), "error_description": text}
        response = jsonify(body)
        response.status_code = status
    else:
        response = render_template("error.html", status=status, message=text), status
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> ResponseReturnValue:
        return error_response(400, _("This form has expired or was not sent from this site. "
                                     "Please go back, reload the page and try again."), "invalid_request")

    @app.errorhandler(StoreUnavailableError)
    def store_down(exc: StoreUnavailableError) -> ResponseReturnValue:
        log.error("store unavailable: %s", exc)
        return _retry_later(error_response(503))

    @app.errorhandler(UnsealError)
    def unsealable(exc: UnsealError) -> ResponseReturnValue:
        # A configuration fault, not the person's: the secret was replaced without its predecessor
        # in secret_key_fallbacks. Service returns once the operator restores it (README, "Rotating
        # the secret key"); the person is told to come back, and nothing is half done.
        db.session.rollback()
        log.error("cannot open a sealed value: %s", exc)
        return _retry_later(error_response(503))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        # An outage met while finishing a response (saving the session) arrives as a 500.
        original = getattr(exc, "original_exception", None)
        if original is not None and _is_store_outage(original):
            return store_down(StoreUnavailableError(str(original)))
        if original is not None and _is_database_outage(original):
            return unexpected(original)
        # Some errors carry their own page (e.g. the sign-in form under throttling).
        if exc.response is not None:
            return exc.response
        response = error_response(exc.code or 500)
        return _retry_later(response) if exc.code == 503 else response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        if _is_store_outage(exc):
            return store_down(StoreUnavailableError(str(exc)))
        if _is_database_outage(exc):
            # A restart or failover of PostgreSQL: the transaction was rolled back whole, nothing
            # was half written; the pool's pre-ping replaces the dead connections once it is back.
            try:
                db.session.rollback()
            except Exception:  # the connection is gone; the pool drops it
                log.debug("rollback after a database outage failed", exc_info=True)
            log.error("database unavailable: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            # The page is drawn as for someone signed out: reading the signed-in user (the header, the
            # language) would meet the same outage and turn this 503 into a 500.
            g.current_user = None
            return _retry_later(error_response(503))
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(InternalServerError.code)


def _retry_later(response: ResponseReturnValue) -> ResponseReturnValue:
    """A 503 says when to come back (RFC 9110 section 10.2.3)."""
    if isinstance(response, tuple):
        return response[0], 503, {"Retry-After": "5"}
    response.headers["Retry-After"] = "5"
    return response


def _is_store_outage(exc: BaseException) -> bool:
    # A process that never loaded the Redis client cannot have met a Redis error.
    redis = sys.modules.get("redis")
    outages: tuple[type[BaseException], ...] = (StoreUnavailableError,)
    if redis is not None:
        outages += (redis.ConnectionError, redis.TimeoutError)
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, outages):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return False


def _is_database_outage(exc: BaseException) -> bool:
    """The database cannot be reached (not a bug in a statement): the request is answered 503."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (OperationalError, InterfaceError))
