"""Complete sign-ins as a browser and an app do them: authorize (PKCE S256), the login form, code, token.

Each sign-in is a new browser (a new cookie jar): GET /authorize, follow the redirects to the
login page, fill its form (every hidden field it carries, such as csrf_token and interaction,
plus login and password), post it, follow the redirects to the redirect URI, check state and
take the code, and redeem it at the token endpoint with the code verifier. Used both for the
sign-in scenario and to obtain the refresh tokens the refresh scenario starts from.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

MAX_REDIRECTS = 10


class SignInError(Exception):
    pass


@dataclass(frozen=True)
class Client:
    client_id: str
    redirect_uri: str
    secret: str | None = None  # None: a public client


@dataclass(frozen=True)
class Target:
    """A server to sign in to: where its endpoints are and what the authorization request carries."""

    base_url: str
    authorize_path: str
    token_path: str
    login: str
    password: str
    extra_params: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    """The page's post forms; `login_form()` is the one with a password field (a page also has others,
    such as a language switcher)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str], bool]] = []
        self._current: tuple[str, dict[str, str], list[bool]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and values.get("method", "get").lower() == "post":
            self._current = (values.get("action", ""), {}, [False])
        elif tag in ("input", "button") and self._current is not None and values.get("name"):
            kind = values.get("type", "text").lower()
            if kind == "password":
                self._current[2][0] = True
            if tag == "input" and kind in ("checkbox", "radio") and "checked" not in values:
                return
            self._current[1].setdefault(values["name"], values.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._current is not None:
            action, fields, has_password = self._current
            self.forms.append((action, fields, has_password[0]))
            self._current = None

    def login_form(self) -> tuple[str, dict[str, str]] | None:
        for action, fields, has_password in self.forms:
            if has_password:
                return action, fields
        return None


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _follow(session: requests.Session, response: requests.Response, redirect_uri: str) -> tuple[
        requests.Response | None, str | None]:
    """Follow redirects; stop at the redirect URI (returned) or at a page (returned)."""
    for _ in range(MAX_REDIRECTS):
        if response.status_code not in (301, 302, 303, 307, 308):
            return response, None
        location = urljoin(response.url, response.headers["Location"])
        if location.startswith(redirect_uri):
            return None, location
        response = session.get(location, allow_redirects=False, timeout=30)
    raise SignInError("too many redirects")


def sign_in(target: Target, client: Client, scope: str = "openid",
            on_response: Callable[..., Any] | None = None) -> dict[str, Any]:
    """One complete sign-in; returns the token response. Raises SignInError on any deviation.

    on_response(response) is called with every HTTP answer (a requests hook), for counting them."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri,
              "scope": scope, "state": state, "nonce": secrets.token_urlsafe(16), "code_challenge": challenge,
              "code_challenge_method": "S256", **target.extra_params}
    with requests.Session() as session:
        if on_response is not None:
            session.hooks["response"].append(on_response)
        response = session.get(target.base_url + target.authorize_path, params=params, allow_redirects=False,
                               timeout=30)
        page, arrived = _follow(session, response, client.redirect_uri)
        if arrived is None:
            if page is None or page.status_code != 200:
                raise SignInError(f"no login page: {page.status_code if page is not None else '-'} "
                                  f"{page.text[:200] if page is not None else ''}")
            parser = _FormParser()
            parser.feed(page.text)
            found = parser.login_form()
            if found is None:
                raise SignInError(f"no login form on {page.url}")
            action, fields = found
            fields = {**fields, "login": target.login, "password": target.password}
            posted = session.post(urljoin(page.url, action or page.url), data=fields, allow_redirects=False,
                                  timeout=60)
            page, arrived = _follow(session, posted, client.redirect_uri)
            if arrived is None:
                raise SignInError(f"sign-in did not come back: {page.status_code if page is not None else '-'} "
                                  f"{page.text[:300] if page is not None else ''}")
        query = parse_qs(urlsplit(arrived).query)
        if query.get("state", [None])[0] != state:
            raise SignInError(f"state mismatch or error: {arrived[:300]}")
        issuer = query.get("iss", [None])[0]
        if issuer is not None and issuer != target.base_url:
            raise SignInError(f"the authorization response names another issuer: {issuer}")  # RFC 9207
        code = query.get("code", [None])[0]
        if not code:
            raise SignInError(f"no code: {arrived[:300]}")
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri,
                "code_verifier": verifier}
        auth = None
        if client.secret is None:
            data["client_id"] = client.client_id
        else:
            auth = (client.client_id, client.secret)
        token = session.post(target.base_url + target.token_path, data=data, auth=auth, timeout=30)
        if token.status_code != 200:
            raise SignInError(f"token endpoint: {token.status_code} {token.text[:300]}")
        body = token.json()
        if "access_token" not in body or "id_token" not in body:
            raise SignInError(f"token response without access_token or id_token: {sorted(body)}")
        return body


def run_load(target: Target, client: Client, *, scope: str, concurrency: int, duration: float,
             max_signins: int) -> dict[str, Any]:
    """`concurrency` clients signing in back to back for `duration` seconds (or max_signins in all).

    A sign-in takes long (argon2id, under load up to seconds), so the first fifth of the time (at
    most 3 s) is a warm-up: the rate and the latencies count the sign-ins that end in the window
    after it, which then holds the steady state rather than the ramp of 32 simultaneous starts.
    """
    completions: list[tuple[float, float]] = []  # (end, latency)
    errors: list[str] = []
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + duration
    window_start = started + min(3.0, duration / 5)
    budget = [max_signins]

    def worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            begin = time.monotonic()
            try:
                sign_in(target, client, scope)
            except (SignInError, requests.RequestException, ValueError) as exc:
                with lock:
                    errors.append(str(exc)[:300])
                time.sleep(0.05)  # a failing server must not turn this into a busy loop
                continue
            end = time.monotonic()
            with lock:
                completions.append((end, end - begin))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration + 120)
    in_window = [latency for end, latency in completions if window_start <= end <= deadline]
    return {"latencies": in_window, "errors": errors, "duration_s": deadline - window_start,
            "warmup_s": round(window_start - started, 2), "completed_in_all": len(completions)}


def mint_refresh_tokens(target: Target, client: Client, *, scope: str, count: int, concurrency: int,
                        timeout: float = 300) -> tuple[list[str], list[str]]:
    """`count` refresh tokens, one per sign-in (each starts its own family), none used yet."""
    tokens: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + timeout
    remaining = [count]

    def worker() -> None:
        while time.monotonic() < deadline and len(errors) < count:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            try:
                body = sign_in(target, client, scope)
            except (SignInError, requests.RequestException, ValueError) as exc:
                with lock:
                    errors.append(str(exc)[:300])
                    remaining[0] += 1
                time.sleep(0.05)
                continue
            refresh = body.get("refresh_token")
            with lock:
                if refresh:
                    tokens.append(refresh)
                else:
                    errors.append("no refresh_token in the token response")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(concurrency, count)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout + 60)
    return tokens, errors
