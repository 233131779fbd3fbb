"""Relying parties as Authlib clients: a ClientMixin adapter over the static ClientConfig."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit, urlunsplit

from authlib.oauth2.rfc6749 import ClientMixin
from flask import current_app

from idp.config import ClientConfig

_LOOPBACK = ("127.0.0.1", "::1", "[::1]", "localhost")


def _without_port(uri: str) -> str:
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def redirect_uri_matches(registered: list[str], uri: str) -> bool:
    """Exact match, except that a loopback http redirect may use any port (RFC 8252 section 7.3)."""
    if uri in registered:
        return True
    try:
        parts = urlsplit(uri)
        _ = parts.port  # a malformed port raises
    except ValueError:
        return False
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK:
        return False
    candidate = _without_port(uri)
    for item in registered:
        item_parts = urlsplit(item)
        if item_parts.scheme == "http" and item_parts.hostname == parts.hostname and _without_port(item) == candidate:
            return True
    return False


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
        return redirect_uri_matches(self.config.redirect_uris, redirect_uri)

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
