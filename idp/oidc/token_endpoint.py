"""POST /token answered in front of Flask's request dispatch.

The token endpoint is a provider's busiest: every service account's client_credentials grant,
every app's refresh. Flask's per-request machinery (request context, session, hooks, routing,
finalising) cost about a fifth of a client_credentials grant, and none of it serves a token
request: no session, no cookie, no page, no CSRF. So this WSGI layer answers a well-formed token
request (an urlencoded body of known length, no query string) within an application context
only: Authlib's server, grants and client authentication run as they do in the Flask view,
and the response gets the same security headers. Any other request to /token, and every other
path, goes on to Flask. Errors other than OAuth ones are answered by Flask's own error handlers,
so their pages and codes are those of every other endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response
from werkzeug.datastructures import EnvironHeaders, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES

from idp import metrics
from idp.oidc.backchannel import ensure_sender
from idp.oidc.endpoints import finish_grant
from idp.oidc.token_request import TOKEN_PATH, TokenRequest, token_uri
from idp.web.headers import add_missing, security_headers

URLENCODED = "application/x-www-form-urlencoded"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _is_plain_length(value: Any) -> bool:
    """A Content-Length int() reads as written: ASCII digits ("²" is a digit to str.isdigit()),
    and not so many that int() refuses them. Any other goes on to Flask, whose parser judges it."""
    text = str(value or "")
    return text.isascii() and text.isdigit() and len(text) <= 18


class TokenEndpoint:
    """WSGI middleware: POST /token here, everything else to `wsgi_app` (Flask's)."""

    def __init__(self, app: Flask, wsgi_app: WSGIApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.uri = token_uri(app.config["IDP"].issuer)
        self.max_length: int | None = app.config.get("MAX_CONTENT_LENGTH")
        self.headers = security_headers(app)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self._takes(environ):
            return self.wsgi_app(environ, start_response)
        with self.app.app_context():
            # The one before-request hook a token request needs (see idp.oidc.init_app).
            ensure_sender(self.app)
            try:
                status, headers, body = self._answer(environ)
            except Exception as exc:  # noqa: BLE001 - answered by Flask's error handlers below
                return self._error(environ, exc)(environ, start_response)
        start_response(status, headers)
        return [body]

    def _takes(self, environ: dict[str, Any]) -> bool:
        return (environ.get("PATH_INFO") == TOKEN_PATH and environ.get("REQUEST_METHOD") == "POST"
                and not environ.get("QUERY_STRING") and _is_plain_length(environ.get("CONTENT_LENGTH"))
                and environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() == URLENCODED)

    def _answer(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """The status line, headers and body: what the Flask view's response would carry, written
        out here (a werkzeug Response and its Headers cost more than the rest of a small answer)."""
        length = int(environ["CONTENT_LENGTH"])
        if self.max_length is not None and length > self.max_length:
            raise RequestEntityTooLarge()
        body = environ["wsgi.input"].read(length).decode("utf-8", "replace")
        form = MultiDict(parse_qsl(body, keep_blank_values=True))
        request = TokenRequest(self.uri, EnvironHeaders(environ), MultiDict(), form, environ.get("REMOTE_ADDR"))
        status, payload, headers = self.app.extensions["idp.server"].token_answer(request)
        finish_grant(status)
        metrics.count_token(status, form.get("grant_type"))
        # Authlib's answers are JSON, with Cache-Control: no-store and Pragma: no-cache already.
        data = (json.dumps(payload) if isinstance(payload, dict) else str(payload)).encode()
        headers = list(headers)
        add_missing(headers, self.headers)
        headers.append(("Content-Length", str(len(data))))
        return f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN')}", headers, data

    def _error(self, environ: dict[str, Any], exc: Exception) -> Response:
        # Rare (a store or database outage, a bug): worth a request context, so that the answer
        # is the one Flask's handlers give everywhere else (JSON here, translated, no traceback).
        with self.app.request_context(environ):
            try:
                response = self.app.finalize_request(self.app.handle_user_exception(exc))
            except Exception as unhandled:  # noqa: BLE001
                response = self.app.handle_exception(unhandled)
        return response
