"""Malformed protocol requests get a clear page or a JSON error, never a 500."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("get", "/authorize", {}),
    ("get", "/authorize?client_id=web", {}),
    ("get", "/authorize?response_type=code&client_id=web&redirect_uri=%%%", {}),
    ("post", "/authorize", {"data": {"response_type": "code", "client_id": "web"}}),
    ("get", "/authorize/resume/" + "x" * 100, {}),
    ("get", "/token", {}),
    ("post", "/token", {}),
    ("post", "/token", {"data": {"grant_type": "authorization_code"}, "headers": {"Authorization": "Basic %%%"}}),
    ("post", "/token", {"data": {"grant_type": "authorization_code"}, "headers": {"Authorization": "Basic ZGQ="}}),
    ("post", "/token", {"data": "{not json", "content_type": "application/json"}),
    ("post", "/token", {"data": {"grant_type": "refresh_token", "client_id": "mobile"}}),
    ("get", "/userinfo", {"headers": {"Authorization": "Bearer a.b.c"}}),
    ("get", "/userinfo", {"headers": {"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}}),
    ("post", "/userinfo", {"data": "x", "content_type": "text/plain"}),
    ("post", "/revoke", {"data": {"token": "a.b.c", "client_id": "mobile"}}),
    ("post", "/introspect", {}),
    ("get", "/logout?id_token_hint=a.b.c", {}),
    ("get", "/logout?post_logout_redirect_uri=https://web.example.com/", {}),
    ("post", "/logout", {"data": {"id_token_hint": "x"}}),
    ("get", "/consent", {}),
    ("get", "/consent?interaction=nope", {}),
], ids=lambda value: value if isinstance(value, str) else None)
def test_never_a_server_error(client, method, path, kwargs):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if path.startswith(("/token", "/userinfo", "/revoke", "/introspect")):
        assert response.is_json
