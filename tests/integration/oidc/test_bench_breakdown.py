"""The benchmark's breakdown (bench.breakdown) on a test provider: real grants and sign-ins, parts that add up."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bench import breakdown
from tests.factories import PASSWORD
from tests.integration.oidc.conftest import CLIENTS, WEB_REDIRECT, WEB_SECRET


def _alone(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run in a thread of its own, as a server's request thread is: outside the test's application
    context, which every request would otherwise share (and its `g` with it)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args, **kwargs).result()


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    # Without the consent flow, a client that requires consent is a configuration error.
    return {"clients": [c for c in CLIENTS if not c.get("require_consent")], "flows": ["login"]}


def test_the_refresh_breakdown_measures_real_grants(app, user):
    parts = _alone(breakdown.refresh_parts, app, "web", WEB_SECRET, user.email, count=5)
    assert parts["grant_ms"] > 0 and parts["signatures_ms"] > 0 and parts["storage_ms"] > 0
    assert parts["rest_ms"] == pytest.approx(parts["grant_ms"] - parts["signatures_ms"] - parts["storage_ms"],
                                             abs=0.01)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        assert parts["storage_floor_ms"] > 0 and parts["storage_floor_synchronous"] == "FULL"


def test_the_signin_breakdown_follows_a_complete_sign_in(app, user):
    parts = _alone(breakdown.signin_parts, app, user.email, PASSWORD, "web", WEB_SECRET, WEB_REDIRECT, count=2)
    assert set(parts["exchanges_ms"]) == {"authorize", "login page", "login post", "resume", "token"}
    assert parts["argon2id_ms"] > 0
    assert parts["non_argon2id_ms"] == pytest.approx(sum(parts["exchanges_ms"].values()), abs=0.01)
    assert parts["non_argon2id_budget_for_85pct_ms"] == pytest.approx(parts["argon2id_ms"] * 0.15 / 0.85, rel=0.01)


def test_a_wrong_password_stops_the_signin_breakdown(app, user):
    with pytest.raises(RuntimeError, match="no code"):
        _alone(breakdown.signin_parts, app, user.email, "not-the-password", "web", WEB_SECRET, WEB_REDIRECT, count=1)
