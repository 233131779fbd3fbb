"""GET /jwks and the discovery document, answered in front of Flask's dispatch.

Relying parties and resource servers fetch both often (at start, on every cache expiry, on an
unknown key id), and neither depends on who asks: the JWKS changes only with the keys, the
discovery document never while the process lives. So they are served as prepared bytes, with
the headers the Flask views give them, at a fraction of a dispatch's cost. Any other request,
and these two should preparing them fail (the database down when the keys are reloaded), goes
on to Flask, whose views answer the same documents and whose handlers answer the errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from idp.oidc.endpoints import DISCOVERY_HEADERS, PUBLIC_DOCUMENT_HEADERS, discovery_document
from idp.oidc.keys import keyring
from idp.oidc.token_endpoint import WSGIApp
from idp.web.headers import security_headers

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks"


class PublicDocuments:
    def __init__(self, app: Flask, wsgi_app: WSGIApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.headers = [*security_headers(app), ("Content-Type", "application/json"),
                        *PUBLIC_DOCUMENT_HEADERS.items()]
        self._discovery: dict[str, bytes] = {}  # by SCRIPT_NAME, which the URLs in it carry

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if environ.get("REQUEST_METHOD") != "GET" or path not in (JWKS_PATH, DISCOVERY_PATH):
            return self.wsgi_app(environ, start_response)
        try:
            with self.app.app_context():
                if path == JWKS_PATH:
                    body, extra = keyring().public_jwks_json(), []
                else:
                    body, extra = self._discovery_document(environ), list(DISCOVERY_HEADERS.items())
        except Exception:  # noqa: BLE001 - Flask's view and error handlers answer instead
            return self.wsgi_app(environ, start_response)
        start_response("200 OK", [*self.headers, *extra, ("Content-Length", str(len(body)))])
        return [body]

    def _discovery_document(self, environ: dict[str, Any]) -> bytes:
        prefix = environ.get("SCRIPT_NAME", "")
        body = self._discovery.get(prefix)
        if body is None:
            with self.app.request_context(environ):
                body = json.dumps(discovery_document(), separators=(",", ":")).encode()
            self._discovery[prefix] = body
        return body
