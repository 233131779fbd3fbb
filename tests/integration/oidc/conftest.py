"""Helpers for protocol tests: configured clients, PKCE, driving /authorize, verifying JWTs with PyJWT."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt as pyjwt
import pytest

from tests.factories import PASSWORD, make_user

ISSUER = "http://127.0.0.1:5000"
WEB_SECRET = "web-secret-0123456789abcdef"
API_SECRET = "api-secret-0123456789abcdef"
WEB_REDIRECT = "https://web.example.com/callback"

CLIENTS = [
    {"client_id": "web", "secret": WEB_SECRET, "redirect_uris": [WEB_REDIRECT],
     "post_logout_redirect_uris": ["https://web.example.com/"],
     "grant_types": ["authorization_code", "refresh_token"],
     "backchannel_logout_uri": "http://127.0.0.1:9/backchannel"},
    {"client_id": "web-post", "secret": WEB_SECRET, "redirect_uris": [WEB_REDIRECT],
     "token_endpoint_auth_method": "client_secret_post", "id_token_signed_response_alg": "ES256"},
    {"client_id": "mobile", "redirect_uris": ["com.example.app:/callback", "http://127.0.0.1/callback"]},
    {"client_id": "third", "secret": WEB_SECRET, "redirect_uris": ["https://third.example.com/cb"],
     "require_consent": True},
    {"client_id": "api", "secret": API_SECRET, "grant_types": ["client_credentials"]},
]


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"clients": CLIENTS, "flows": ["login", "consent"]}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize_params(client_id: str = "web", redirect_uri: str = WEB_REDIRECT, **extra: Any) -> dict[str, str]:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": "openid profile email", "state": "st-" + secrets.token_hex(4),
              "nonce": "n-" + secrets.token_hex(4)}
    params.update({k: v for k, v in extra.items() if v is not None})
    return {k: v for k, v in params.items() if v != ""}


class Flow:
    """A person in a browser (the Flask test client) going through /authorize."""

    def __init__(self, client: Any, actions: Any) -> None:
        self.client = client
        self.actions = actions

    def authorize(self, **params: Any) -> Any:
        return self.client.get("/authorize?" + urlencode(params))

    def follow_to_client(self, response: Any, login: str | None = None, password: str = PASSWORD,
                         consent: bool | None = None, limit: int = 10) -> str:
        """Follow redirects inside the provider (signing in or consenting on the way); the client's URL."""
        for _ in range(limit):
            assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
            location = response.headers["Location"]
            parts = urlsplit(location)
            if not (location.startswith(("/", ISSUER, "http://localhost/"))):
                return location
            path = parts.path + ("?" + parts.query if parts.query else "")
            if parts.path == "/login":
                assert login is not None, "sign-in was asked for"
                interaction = query(location)["interaction"]
                response = self.actions.submit("/login", {"login": login, "password": password,
                                                          "interaction": interaction}, form_path=path)
                continue
            if parts.path == "/consent":
                assert consent is not None, "consent was asked for"
                page = self.client.get(path)
                from tests.conftest import csrf_from

                response = self.client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                                        "decision": "allow" if consent else "deny"})
                continue
            response = self.client.get(path)
        raise AssertionError("too many redirects")

    def code_for(self, user_login: str | None, consent: bool | None = None,
                 **params: Any) -> tuple[str, dict[str, str]]:
        params = authorize_params(**params)
        location = self.follow_to_client(self.authorize(**params), login=user_login, consent=consent)
        result = query(location)
        assert "code" in result, location
        assert result["state"] == params["state"]
        assert result["iss"] == ISSUER
        return result["code"], params

    def token(self, data: dict[str, str], headers: dict[str, str] | None = None) -> Any:
        return self.client.post("/token", data=data, headers=headers or {})

    def exchange(self, code: str, client_id: str = "web", secret: str = WEB_SECRET,
                 redirect_uri: str = WEB_REDIRECT, **extra: str) -> Any:
        return self.token({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, **extra},
                          basic(client_id, secret))


@pytest.fixture
def flow(client: Any, actions: Any) -> Flow:
    return Flow(client, actions)


@pytest.fixture
def user(app: Any) -> Any:
    return make_user(username="ada", given_name="Ada", family_name="Lovelace", phone="+33 1 23 45 67 89")


def jwks_client(client: Any) -> dict[str, Any]:
    return client.get("/jwks").get_json()


def verify_jwt(client: Any, token: str, audience: str | None = None, typ: str | None = None) -> dict[str, Any]:
    """Verify a token's signature against /jwks with PyJWT (not our code)."""
    header = pyjwt.get_unverified_header(token)
    if typ is not None:
        assert header.get("typ") == typ
    keys = {k["kid"]: k for k in jwks_client(client)["keys"]}
    jwk = pyjwt.PyJWK.from_json(json.dumps(keys[header["kid"]]))
    options = {"verify_aud": audience is not None}
    return pyjwt.decode(token, jwk.key, algorithms=[header["alg"]], audience=audience, issuer=ISSUER,
                        options=options)
