"""Server-side sessions in the store: short-lived until someone signs in, the full lifetime after, and
none at all for a visitor's response that could not carry a form (read from the store itself)."""

from __future__ import annotations

import time

import pytest

from idp.config import ConfigError, parse_config
from idp.store import RedisStore
from idp.web.sessions import _key
from tests.factories import PASSWORD, make_user

HOUR = 3600


@pytest.fixture
def config_overrides():
    return {"session": {"lifetime_hours": 12, "anonymous_lifetime_minutes": 30}}


def session_ttl(app, client) -> float:
    """Seconds the store keeps this browser's session: Redis's own TTL, or the memory store's expiry."""
    cookie = client.get_cookie(app.session_interface.cookie_name)
    assert cookie is not None, "no session cookie"
    store = app.extensions["idp.store"]
    key = store._prefix + _key(cookie.value)
    if isinstance(store, RedisStore):
        return store._redis.pttl(key) / 1000
    return store._data[key][1] - time.monotonic()


def max_age(response) -> int:
    [cookie] = [value for value in response.headers.getlist("Set-Cookie") if "Max-Age=" in value]
    return int(cookie.split("Max-Age=")[1].split(";")[0])


def stored_sessions(app) -> int:
    store = app.extensions["idp.store"]
    if isinstance(store, RedisStore):
        return sum(1 for _ in store._redis.scan_iter(match=f"{store._prefix}session:*"))
    return sum(1 for key in store._data if key.startswith(f"{store._prefix}session:"))


def test_an_anonymous_session_is_short_lived_until_sign_in(app, client, actions):
    make_user("ada@example.com")
    page = client.get("/login")
    assert max_age(page) == 30 * 60
    assert 29 * 60 < session_ttl(app, client) <= 30 * 60
    signed_in = actions.login("ada@example.com", PASSWORD)
    assert signed_in.status_code == 302
    assert max_age(signed_in) == 12 * HOUR
    assert 12 * HOUR - 60 < session_ttl(app, client) <= 12 * HOUR
    # Signed out, the browser keeps its language choice in a session that is anonymous again.
    client.post("/language", data={"language": "fr", "csrf_token": actions.get_form("/account")[1]})
    actions.logout()
    assert 29 * 60 < session_ttl(app, client) <= 30 * 60


@pytest.mark.parametrize(("method", "path"), [("HEAD", "/login"), ("GET", "/logout")],
                         ids=["head-of-a-form", "redirect-that-built-a-form"])
def test_no_session_for_a_response_that_cannot_carry_a_form(app, client, method, path):
    response = client.open(path, method=method)
    assert response.status_code in (200, 302)
    assert "Set-Cookie" not in response.headers
    assert stored_sessions(app) == 0
    assert client.get("/login").headers.get("Set-Cookie")  # a form shown: its session is stored
    assert stored_sessions(app) == 1


@pytest.mark.parametrize(
    ("session", "expected"),
    [({"anonymous_lifetime_minutes": 0},
      "session.anonymous_lifetime_minutes: Input should be greater than or equal to 1"),
     ({"lifetime_hours": 0.25, "anonymous_lifetime_minutes": 30},
      "session: anonymous_lifetime_minutes must not exceed lifetime_hours")],
    ids=["zero", "longer-than-signed-in"],
)
def test_the_anonymous_lifetime_is_validated(session, expected):
    with pytest.raises(ConfigError) as caught:
        parse_config({"issuer": "https://login.example.com", "secret_key": "s" * 40, "session": session}, {})
    assert expected in caught.value.errors
