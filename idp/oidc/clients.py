"""Relying parties as Authlib clients: a ClientMixin adapter over the static ClientConfig."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError
from flask import current_app

from idp.config import ClientConfig

_LOOPBACK = ("127.0.0.1", "[::1]", "localhost")
_PORT = re.compile(r"[1-9][0-9]{0,4}")  # a port as a browser writes it: no sign, no leading zero


def has_userinfo(uri: str) -> bool:
    """True when `uri` names a user (or a password) before its host: `https://evil@host/`.

    Refused in every redirect URI: it makes an address read as another (RFC 3986 section 7.6).
    """
    try:
        return "@" in urlsplit(uri).netloc
    except ValueError:  # a malformed authority ("http://[::1"): judged by its text
        return "@" in uri


def _loopback_parts(uri: str) -> tuple[str, str, str] | None:
    """(host, path, query) of an http loopback URI whose port, if any, is written plainly;
    None for anything else. Read from the text itself: urlsplit would lower the scheme's case,
    accept an empty or zero-padded port and let a user name through."""
    if not uri.startswith("http://"):
        return None
    rest = uri[len("http://"):]
    authority, slash, tail = rest.partition("/")
    if "@" in authority or "#" in tail or "?" in authority:
        return None
    host, colon, port = authority.rpartition(":") if not authority.endswith("]") else (authority, "", "")
    if not colon:
        host, port = authority, ""
    elif not _PORT.fullmatch(port) or int(port) > 65535:
        return None
    if host not in _LOOPBACK:
        return None
    path, _, query = (slash + tail).partition("?")
    return host, path, query


def redirect_uri_matches(registered: list[str], uri: str, *, any_loopback_port: bool = False) -> bool:
    """Exact match (RFC 9700 section 4.1.3), character for character, and never with a user name.

    `any_loopback_port` is for native apps (public clients): a loopback http redirect may then
    use any port (RFC 8252 section 7.3), the rest of it still exact. A web server at a loopback
    address is a fixed address like any other, so a confidential client gets no such leeway.
    """
    if has_userinfo(uri):
        return False
    if uri in registered:
        return True
    if not any_loopback_port:
        return False
    asked = _loopback_parts(uri)
    return asked is not None and any(_loopback_parts(item) == asked for item in registered)


def check_basic_authorization(headers: Any) -> None:
    """Refuse malformed `Authorization: Basic` credentials with invalid_request (RFC 6749 2.3.1).

    Not base64, not UTF-8 once decoded (a byte 0xE9 after `shop:`), or no colon between client_id and secret:
    the request is malformed, so a 400 with the JSON error, where Authlib's parser would raise
    (a 500) or quietly take it for no credentials. Another scheme is not ours to judge here.
    """
    value = headers.get("Authorization")
    if not value or " " not in value:
        return
    scheme, credentials = value.split(None, 1)
    if scheme.lower() != "basic":
        return
    try:
        # The lenient decoding Authlib applies next, so that what passes here passes there.
        decoded = base64.b64decode(credentials).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError, and a header that is not ASCII
        raise InvalidRequestError("Invalid 'Authorization' header.") from None
    if ":" not in decoded:
        raise InvalidRequestError("Invalid 'Authorization' header.")


class Client(ClientMixin):
    """One configured client, as Authlib's server sees it."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.client_id = config.client_id
        self.id_token_signed_response_alg = config.id_token_signed_response_alg

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OpenID Connect requires redirect_uri on every request: no default.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.config.scopes)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri_matches(self.config.redirect_uris, redirect_uri, any_loopback_port=self.is_public)

    def check_client_secret(self, client_secret: str) -> bool:
        secret = self.config.secret
        if secret is None or client_secret is None:
            return False
        return hmac.compare_digest(secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.config.is_public:
            return method == "none"
        # A confidential client may use either secret method unless one is configured.
        if self.config.token_endpoint_auth_method:
            return method == self.config.token_endpoint_auth_method
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.config.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.config.grant_types

    @property
    def is_public(self) -> bool:
        return self.config.is_public


def client_table(configs: list[ClientConfig]) -> dict[str, Client]:
    return {config.client_id: Client(config) for config in configs}


def query_client(client_id: str | None) -> Client | None:
    if not client_id:
        return None
    return current_app.extensions["idp.clients"].get(client_id)
