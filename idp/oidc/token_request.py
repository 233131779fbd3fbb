"""The token endpoint's request as Authlib's grants see it, without Authlib's Flask wrapper.

Authlib's wrapper builds the request from `flask.request` (the full URL re-encoded for display,
query and form merged): on the token endpoint, the busiest of a provider, that was a sixth of a
client_credentials grant. The early path (idp.oidc.token_endpoint) builds a TokenRequest from
the WSGI environment; the Flask view builds one from `flask.request`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from flask import Request, current_app
from werkzeug.datastructures import CombinedMultiDict, MultiDict

TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret


def token_uri(issuer: str) -> str:
    """The token endpoint's URL as Authlib sees it. From the configured issuer, not the request's
    Host and scheme: behind a proxy that ends TLS they say http and an internal name, which
    Authlib would refuse as insecure transport."""
    return issuer + TOKEN_PATH


class FormPayload(OAuth2Payload):
    """The parameters: `data` answers with the first value of a name, `datalist` with all of them
    (the server refuses a parameter sent twice, RFC 6749 section 3.2)."""

    def __init__(self, values: MultiDict) -> None:
        self._values = values

    @property
    def data(self) -> MultiDict:
        return self._values

    @cached_property
    def datalist(self) -> dict[str, list[str]]:
        return {name: self._values.getlist(name) for name in self._values}


class TokenRequest(OAuth2Request):
    def __init__(self, uri: str, headers: Any, args: MultiDict, form: MultiDict,
                 remote_addr: str | None = None) -> None:
        super().__init__("POST", uri, headers=headers)
        self._args = args
        self._form = form
        # The client's address (REMOTE_ADDR, already the one behind trusted proxies), for the
        # throttles and the audit log of client authentication.
        self.remote_addr = remote_addr
        # As Authlib's Flask request: the query string's parameters, then the body's.
        self.payload = FormPayload(CombinedMultiDict([args, form]) if args else form)

    @property
    def args(self) -> MultiDict:
        return self._args

    @property
    def form(self) -> MultiDict:
        return self._form


def token_request(request: Request) -> TokenRequest:
    """The current Flask request, for the token requests the early path passes on (a query
    string, a multipart or chunked body): werkzeug's parser reads every kind of body."""
    return TokenRequest(token_uri(current_app.config["IDP"].issuer), request.headers, request.args, request.form,
                        request.remote_addr)
