"""Redirect URIs match exactly; only a native (public) client's loopback redirect may change its port.

Review finding: a confidential client registered with `http://127.0.0.1:5601/callback` got codes
at another port, with an empty or zero-padded port, with a user name before the host and with
the scheme in capitals.
"""

from __future__ import annotations

import pytest

from idp.config import ConfigError, parse_config
from tests.factories import PASSWORD
from tests.integration.oidc.conftest import ISSUER, WEB_SECRET, authorize_params, pkce, query

LOOPBACK_WEB = "http://127.0.0.1:5601/callback"
CLIENTS = [
    {"client_id": "kibana", "secret": WEB_SECRET, "redirect_uris": [LOOPBACK_WEB],
     "post_logout_redirect_uris": ["http://127.0.0.1:5601/"]},
    {"client_id": "native", "redirect_uris": ["http://127.0.0.1/callback", "http://[::1]/callback",
                                              "com.example.app:/callback"],
     "post_logout_redirect_uris": ["http://127.0.0.1/bye"]},
]


@pytest.fixture
def config_overrides():
    return {"clients": CLIENTS, "flows": ["login"]}


def _native(redirect_uri, **extra):
    return authorize_params(client_id="native", redirect_uri=redirect_uri, code_challenge=pkce()[1],
                            code_challenge_method="S256", **extra)


def _refused_with_a_page(flow, params):
    response = flow.authorize(**params)
    assert response.status_code == 400, response.headers.get("Location")
    assert "Location" not in response.headers
    assert "(invalid_request)" in response.get_data(as_text=True)


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:9999/callback",
    "http://127.0.0.1:/callback",
    "http://127.0.0.1/callback",
    "http://evil@127.0.0.1:5601/callback",
    "http://127.0.0.1:5601@evil.example/callback",
    "HTTP://127.0.0.1:5601/callback",
    "http://127.0.0.1:00005601/callback",
    "http://127.0.0.1:5601/callback/",
    "http://127.0.0.1:5601/callback?x=1",
    "http://localhost:5601/callback",
], ids=["other-port", "empty-port", "no-port", "userinfo", "userinfo-before-another-host", "capital-scheme",
        "zero-padded-port", "trailing-slash", "query", "other-loopback-name"])
def test_a_confidential_client_at_a_loopback_address_matches_exactly(flow, uri):
    _refused_with_a_page(flow, authorize_params(client_id="kibana", redirect_uri=uri))


def test_the_exact_loopback_redirect_of_a_confidential_client_works(flow, user):
    code, _ = flow.code_for("ada", client_id="kibana", redirect_uri=LOOPBACK_WEB)
    response = flow.exchange(code, client_id="kibana", redirect_uri=LOOPBACK_WEB)
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize("uri", ["http://127.0.0.1:51004/callback", "http://127.0.0.1/callback",
                                 "http://[::1]:8080/callback", "http://127.0.0.1:65535/callback"],
                         ids=["port", "no-port", "ipv6-port", "highest-port"])
def test_a_native_client_may_use_any_loopback_port(flow, user, uri):
    response = flow.follow_to_client(flow.authorize(**_native(uri)), login="ada", password=PASSWORD)
    assert response.startswith(uri + "?") and "code" in query(response)


@pytest.mark.parametrize("uri", [
    "http://evil@127.0.0.1:51004/callback",
    "http://127.0.0.1:51004@evil.example/callback",
    "HTTP://127.0.0.1:51004/callback",
    "http://127.0.0.1:/callback",
    "http://127.0.0.1:051004/callback",
    "http://127.0.0.1:65536/callback",
    "http://127.0.0.1:+80/callback",
    "http://127.0.0.1:51004/other",
    "http://127.0.0.1:51004/callback?x=1",
    "http://localhost:51004/callback",
    "http://[::1]:8080@evil.example/callback",
    "https://127.0.0.1:51004/callback",
], ids=["userinfo", "userinfo-before-another-host", "capital-scheme", "empty-port", "zero-padded-port",
        "port-out-of-range", "signed-port", "other-path", "query", "other-loopback-name", "ipv6-userinfo",
        "https"])
def test_a_native_client_keeps_the_rest_of_its_loopback_redirect_exact(flow, uri):
    _refused_with_a_page(flow, _native(uri))


@pytest.mark.parametrize(("client_id", "target", "allowed"), [
    ("kibana", "http://127.0.0.1:5601/", True),
    ("kibana", "http://127.0.0.1:9999/", False),
    ("kibana", "http://evil@127.0.0.1:5601/", False),
    ("kibana", "HTTP://127.0.0.1:5601/", False),
    ("native", "http://127.0.0.1:40000/bye", True),
    ("native", "http://evil@127.0.0.1:40000/bye", False),
    ("native", "http://127.0.0.1:40000/other", False),
], ids=["exact", "other-port", "userinfo", "capital-scheme", "native-port", "native-userinfo", "native-path"])
def test_post_logout_redirects_follow_the_same_rules(flow, client_id, target, allowed):
    response = flow.client.get("/logout", query_string={"client_id": client_id, "post_logout_redirect_uri": target})
    if allowed:
        assert response.status_code == 302 and response.headers["Location"] == target
    else:
        assert response.status_code == 400
        assert "The sign-out request is not valid (post_logout_redirect_uri)." in response.get_data(as_text=True)


@pytest.mark.parametrize("key", ["redirect_uris", "post_logout_redirect_uris"])
@pytest.mark.parametrize("uri", ["https://shop@evil.example/callback", "http://user:pw@127.0.0.1:5601/cb",
                                 "https://shop.example.com@evil.example/"],
                         ids=["user", "user-password", "host-as-user"])
def test_check_config_refuses_a_user_name_in_a_redirect_uri(key, uri):
    client = {"client_id": "shop", "secret": WEB_SECRET, "redirect_uris": ["https://shop.example.com/cb"], key: [uri]}
    with pytest.raises(ConfigError) as caught:
        parse_config({"issuer": ISSUER, "demo": True, "clients": [client]})
    assert caught.value.errors == [f"clients[0].{key}[0]: must not contain a user name or password (user@host)"]
