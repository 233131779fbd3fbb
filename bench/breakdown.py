"""Where a refresh and a sign-in spend the server core: CPU per part, measured in one process.

Run by `make bench` in a child process pinned to the server core, against a database of its own
(`python -m bench.breakdown`, its configuration and credentials as JSON on stdin, its figures as
JSON on stdout).
Requests are handed to the provider's WSGI application directly, one at a time, so the figures
are CPU-seconds of the application alone, without HTTP, granian or a competing request; the
served figures of the scenarios minus these are what serving costs.

- refresh: the whole grant; its two RS256 signatures; its storage as the provider does it
  (claim the old token, read the user, store the new one, commit); and, on SQLite, the same SQL
  through the sqlite3 module alone: what durable storage costs with nothing above it.
- sign-in: each exchange of a complete sign-in (argon2id counted apart) and the argon2id
  verification itself; beside them, what the non-argon2id part may cost for the sign-ins to
  reach 85 % of argon2id alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from werkzeug.test import EnvironBuilder

from bench.signin import _FormParser, pkce_pair

WARMUP = 30
REFRESHES = 600
SIGNINS = 60
SIGNIN_SHARE_TARGET = 0.85


def _ms(seconds: float, count: int) -> float:
    return round(seconds / count * 1000, 3)


class Browser:
    """A cookie jar in front of the WSGI application; CPU per labelled exchange."""

    def __init__(self, app: Any, cpu: Counter[str]) -> None:
        self.app = app
        self.cpu = cpu
        self.cookies: dict[str, str] = {}

    def call(self, label: str, method: str, url: str, data: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(url)
        all_headers = dict(headers or {})
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        environ = EnvironBuilder(path=parts.path, query_string=parts.query, method=method, data=data,
                                 headers=all_headers, base_url=self.app.config["IDP"].issuer).get_environ()
        captured: list[Any] = []
        started = time.process_time()
        body = b"".join(self.app(environ, lambda status, response_headers, *_: captured.extend(
            (status, response_headers))))
        self.cpu[label] += time.process_time() - started
        status, response_headers = captured
        for name, value in response_headers:
            if name.lower() == "set-cookie":
                cookie: SimpleCookie = SimpleCookie()
                cookie.load(value)
                self.cookies.update({key: morsel.value for key, morsel in cookie.items()})
        return int(status.split()[0]), {k.lower(): v for k, v in response_headers}, body.decode()


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def sign_in(app: Any, cpu: Counter[str], login: str, password: str, client_id: str, secret: str,
            redirect_uri: str) -> None:
    browser = Browser(app, cpu)
    verifier, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid",
             "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"}
    status, headers, _ = browser.call("authorize", "GET", "/authorize?" + urlencode(query))
    location = headers.get("location", "")
    status, headers, page = browser.call("login page", "GET", location)
    parser = _FormParser()
    parser.feed(page)
    found = parser.login_form()
    if status != 200 or found is None:
        raise RuntimeError(f"no login form: {status}")
    action, fields = found
    status, headers, _ = browser.call("login post", "POST", action or location,
                                      {**fields, "login": login, "password": password})
    location = headers.get("location", "")
    for _hop in range(5):
        if status not in (302, 303) or location.startswith(redirect_uri):
            break
        status, headers, _ = browser.call("resume", "GET", location)
        location = headers.get("location", "")
    code = parse_qs(urlsplit(location).query).get("code", [""])[0]
    if not code:
        raise RuntimeError(f"no code: {status} {location[:200]}")
    browser.cookies.clear()
    status, _, body = browser.call("token", "POST", "/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier,
    }, {"Authorization": _basic(client_id, secret)})
    if status != 200 or "id_token" not in body:
        raise RuntimeError(f"token: {status} {body[:200]}")


def _timed(function: Callable[[], Any], count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        function()
    return time.process_time() - started


def refresh_parts(app: Any, client_id: str, secret: str, login: str, count: int = REFRESHES) -> dict[str, Any]:
    from idp.extensions import db
    from idp.models import User
    from idp.oidc import tokens

    with app.app_context():
        user_id = db.session.execute(db.select(User.id).where(User.email == login)).scalar_one()

    def mint(count: int) -> list[str]:
        raws = [secrets.token_urlsafe(32) for _ in range(count)]
        with app.app_context():
            user = db.session.get(User, user_id)
            for raw in raws:
                tokens.save_refresh_token(raw, client_id, tokens.Principal(user=user, auth_time=int(time.time()),
                                                                           amr=["pwd"], sid="bench"),
                                          "openid offline_access")
            db.session.commit()
        return raws

    cpu: Counter[str] = Counter()
    browser = Browser(app, cpu)
    authorization = {"Authorization": _basic(client_id, secret)}
    warmup = min(WARMUP, count)
    raws = mint(warmup + count)
    for raw in raws[:warmup]:
        browser.call("warm-up", "POST", "/token", {"grant_type": "refresh_token", "refresh_token": raw}, authorization)
    for raw in raws[warmup:]:
        status, _, body = browser.call("grant", "POST", "/token",
                                       {"grant_type": "refresh_token", "refresh_token": raw}, authorization)
        if status != 200:
            raise RuntimeError(f"refresh: {status} {body[:200]}")
    grant = cpu["grant"] / count

    with app.app_context():
        claims = {"iss": app.config["IDP"].issuer, "sub": secrets.token_urlsafe(18), "aud": client_id,
                  "client_id": client_id, "scope": "openid offline_access", "iat": 1, "exp": 2, "auth_time": 1,
                  "amr": ["pwd"], "acr": "urn:portail:acr:pwd", "sid": "bench", "jti": secrets.token_urlsafe(18)}
        signatures = 2 * _timed(lambda: tokens.sign(claims, "RS256", "at+jwt"), count) / count

    storage_raws = iter(mint(count))

    def storage() -> None:
        with app.app_context():
            credential = tokens.claim_refresh_token(next(storage_raws), client_id)
            user = tokens.grant_user(credential.row.user_id)
            tokens.save_refresh_token(secrets.token_urlsafe(32), client_id, credential.principal(user),
                                      "openid offline_access")
            db.session.commit()

    stored = _timed(storage, count) / count
    out: dict[str, Any] = {
        "grant_ms": round(grant * 1000, 3),
        "signatures_ms": round(signatures * 1000, 3),
        "storage_ms": round(stored * 1000, 3),
        "rest_ms": round((grant - signatures - stored) * 1000, 3),
        "what_rest_is": "client authentication, Authlib's grant, the claims, JSON, the app context, headers",
    }
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite:///"):
        out.update(_sqlite_floor(url.removeprefix("sqlite:///"), mint(count), client_id, user_id))
    return out


def _sqlite_floor(path: str, raws: list[str], client_id: str, user_id: int) -> dict[str, Any]:
    """The refresh's SQL through the sqlite3 module alone, committed as durably (synchronous=FULL)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    synchronous = connection.execute("PRAGMA synchronous").fetchone()[0]
    hashes = [hashlib.sha256(raw.encode()).hexdigest() for raw in raws]
    now = "2026-01-01 00:00:00.000000"

    def one(token_hash: str) -> None:
        connection.execute("BEGIN")
        row = connection.execute(
            "UPDATE refresh_tokens SET rotated_at = ? WHERE token_hash = ? AND client_id = ? AND rotated_at IS NULL "
            "AND revoked_at IS NULL RETURNING id, family_id, client_id, user_id, scope, context, expires_at",
            (now, token_hash, client_id)).fetchone()
        connection.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        connection.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, scope, context, access_jti, "
            "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (secrets.token_hex(32), row[1], client_id, user_id, row[4], row[5], secrets.token_urlsafe(18), now, now))
        connection.execute("COMMIT")

    started_wall = time.perf_counter()
    cpu = _timed(lambda: one(hashes.pop()), len(raws)) / len(raws)
    wall = (time.perf_counter() - started_wall) / len(raws)
    connection.close()
    return {"storage_floor_ms": round(cpu * 1000, 3), "storage_floor_wall_ms": round(wall * 1000, 3),
            "storage_floor_synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(synchronous)}


def signin_parts(app: Any, login: str, password: str, client_id: str, secret: str, redirect_uri: str,
                 count: int = SIGNINS) -> dict[str, Any]:
    hasher = app.extensions["idp.hasher"]
    argon2 = [0.0]
    verify = hasher.verify

    def timed_verify(*args: Any) -> bool:
        started = time.process_time()
        try:
            return verify(*args)
        finally:
            argon2[0] += time.process_time() - started

    object.__setattr__(hasher, "verify", timed_verify)  # the Hasher is a frozen dataclass
    cpu: Counter[str] = Counter()
    for _ in range(max(3, WARMUP // 10)):
        sign_in(app, cpu, login, password, client_id, secret, redirect_uri)
    cpu.clear()
    argon2[0] = 0.0
    for _ in range(count):
        sign_in(app, cpu, login, password, client_id, secret, redirect_uri)
    cpu["login post"] -= argon2[0]
    object.__setattr__(hasher, "verify", verify)
    exchanges = {label: _ms(seconds, count) for label, seconds in cpu.items()}
    argon2_ms = _ms(argon2[0], count)
    rest = round(sum(exchanges.values()), 3)
    return {"exchanges_ms": exchanges, "argon2id_ms": argon2_ms, "non_argon2id_ms": rest,
            "share_of_argon2id_alone": round(argon2_ms / (argon2_ms + rest), 3),
            "non_argon2id_budget_for_85pct_ms": round(argon2_ms / SIGNIN_SHARE_TARGET - argon2_ms, 3)}


def main() -> int:
    # The credentials come on stdin, never on the command line, where every process could read them.
    given = json.loads(sys.stdin.read())
    config_path, login, password = given["config"], given["login"], given["password"]
    client_id, secret, redirect_uri = given["client_id"], given["secret"], given["redirect_uri"]
    from idp import create_app
    from idp.config import load_config

    app = create_app(load_config(config_path), start_workers=False)
    result = {"refresh": refresh_parts(app, client_id, secret, login),
              "signin": signin_parts(app, login, password, client_id, secret, redirect_uri)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
