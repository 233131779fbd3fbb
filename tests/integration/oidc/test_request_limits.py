"""What an unauthenticated authorization request may make the provider keep: known parameters only,
bounded in size, and a limit per IP on the requests that leave a sign-in in progress.

Review finding: 150 `POST /authorize` with a 1 MB `junk` parameter and no cookie grew a worker
from 134 to 299 MB for the interactions' TTL (Redis would fill alike).
"""

from __future__ import annotations

import pytest

from idp import pipeline
from idp.config import ConfigError, parse_config
from tests.integration.oidc.conftest import CLIENTS, ISSUER, WEB_REDIRECT, authorize_params, query

LIMITS = {"max_parameter_length": 1024, "max_request_length": 4096}


@pytest.fixture
def config_overrides():
    return {"clients": CLIENTS, "flows": ["login", "consent"], "authorize": LIMITS,
            "throttling": {"authorize_per_ip": "3 per 10 minutes"}}


def _interaction_of(response):
    location = response.headers["Location"]
    assert location.startswith("/login?"), location
    return pipeline.load(query(location)["interaction"])


def test_only_the_known_parameters_are_kept(flow):
    params = authorize_params(frobnicate="x" * 500, login_hint="ada", ui_locales="fr", _browser="forged")
    interaction = _interaction_of(flow.authorize(**params))
    kept = set(interaction.params)
    assert "frobnicate" not in kept
    assert {"login_hint", "ui_locales", "state", "nonce", "redirect_uri"} <= kept
    # What the protocol adds itself cannot be sent in: the browser binding is the provider's.
    assert interaction.params["_browser"] != "forged"


@pytest.mark.parametrize(("method", "extra"), [
    ("post", {"junk": "j" * 1000 * 1000}),
    ("get", {"junk": "j" * 5000}),
    ("get", {f"p{i}": "v" * 50 for i in range(100)}),
], ids=["1MB-junk-posted", "junk-in-the-query", "many-small-unknown"])
def test_an_oversized_request_is_refused_back_to_the_client(flow, method, extra):
    params = authorize_params()
    if method == "post":
        response = flow.client.post("/authorize", data={**params, **extra})
    else:
        response = flow.authorize(**params, **extra)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(WEB_REDIRECT + "?")
    assert query(location) == {"error": "invalid_request", "error_description": "The request is too large.",
                               "state": params["state"], "iss": ISSUER}


@pytest.mark.parametrize("name", ["state", "nonce", "login_hint", "claims", "id_token_hint", "ui_locales"])
def test_a_known_parameter_over_its_limit_is_refused(flow, name):
    params = authorize_params(**{name: "a" * (LIMITS["max_parameter_length"] + 1)})
    response = flow.authorize(**params)
    result = query(response.headers["Location"])
    assert result["error"] == "invalid_request"
    assert result["error_description"] == f"Parameter '{name}' is too long."
    # Nothing oversized goes back: a long state is left out.
    assert result.get("state") == (None if name == "state" else params["state"])


@pytest.mark.parametrize("params", [
    authorize_params(redirect_uri="https://evil.example.com/cb", junk="j" * 5000),
    authorize_params(client_id="nobody", junk="j" * 5000),
    authorize_params(redirect_uri=WEB_REDIRECT + "x" * 1100),
], ids=["unregistered-redirect", "unknown-client", "long-redirect-uri"])
def test_an_oversized_request_without_a_verified_redirect_gets_a_page(flow, params):
    response = flow.authorize(**params)
    assert response.status_code == 400 and "Location" not in response.headers
    html = response.get_data(as_text=True)
    assert "(invalid_request)" in html and "The request is too large." in html


def test_sign_ins_left_in_progress_are_limited_per_ip(flow, client):
    # Answered at once (prompt=none without a session), a request keeps nothing: not counted.
    for _ in range(5):
        silent = flow.authorize(**authorize_params(prompt="none"))
        assert query(silent.headers["Location"])["error"] == "login_required"
    for _ in range(3):
        assert _interaction_of(flow.authorize(**authorize_params())) is not None
    refused = flow.authorize(**authorize_params())
    assert refused.status_code == 429 and "Location" not in refused.headers
    assert "Too many sign-in requests came from your network." in refused.get_data(as_text=True)
    # Another address is not held back.
    other = client.get("/authorize", query_string=authorize_params(), environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.headers["Location"].startswith("/login?")


def _error(document):
    with pytest.raises(ConfigError) as caught:
        parse_config({"issuer": ISSUER, "demo": True, **document})
    return caught.value.errors


@pytest.mark.parametrize(("document", "line"), [
    ({"throttling": {"authorize_per_ip": "many"}},
     "throttling.authorize_per_ip: not a rate limit: 'many' (write it like '10 per 15 minutes')"),
    ({"authorize": {"max_parameter_length": 100}},
     "authorize.max_parameter_length: Input should be greater than or equal to 512"),
    ({"authorize": {"max_parameter_length": 9000, "max_request_length": 8192}},
     "authorize: max_request_length must be at least max_parameter_length"),
    ({"authorize": {"max_fields": 3}}, "authorize.max_fields: unknown key"),
], ids=["bad-rate", "parameter-too-small", "whole-below-a-part", "unknown-key"])
def test_the_limits_are_checked_in_the_configuration(document, line):
    assert line in _error(document)


def test_the_limits_have_defaults():
    config = parse_config({"issuer": ISSUER, "demo": True})
    assert (config.authorize.max_parameter_length, config.authorize.max_request_length) == (8192, 16384)
    assert config.throttling.authorize_per_ip == "200 per 10 minutes"


def test_a_request_answered_at_once_leaves_no_session_behind(app):
    """Nothing is stored for a stranger whose request is answered at once; one that is kept
    binds the browser with the session's cookie."""
    stranger = app.test_client()
    silent = stranger.get("/authorize", query_string=authorize_params(prompt="none"))
    assert query(silent.headers["Location"])["error"] == "login_required"
    assert "Set-Cookie" not in silent.headers
    kept = stranger.get("/authorize", query_string=authorize_params())
    assert kept.headers["Location"].startswith("/login?") and "Set-Cookie" in kept.headers
